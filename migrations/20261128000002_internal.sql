-- Private networking: an app that opts in joins its team's network, where
-- its web processes answer as APP.internal to the team's other opted-in apps.
ALTER TABLE apps ADD COLUMN internal BOOLEAN NOT NULL DEFAULT false;
