-- The stack an app builds on (`paas stack:set`); NULL: the server's default.
ALTER TABLE apps ADD COLUMN stack TEXT;
