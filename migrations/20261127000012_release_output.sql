-- The release phase's output (`paas releases:output vN`), kept with its
-- release whether the command succeeded or not; NULL when it ran none.
ALTER TABLE releases ADD COLUMN release_output TEXT;
