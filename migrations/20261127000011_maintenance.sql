-- Maintenance mode (`paas maintenance:on`): the router answers every request
-- of the app with its maintenance page (503) while its processes keep running.
ALTER TABLE apps ADD COLUMN maintenance BOOLEAN NOT NULL DEFAULT FALSE;
