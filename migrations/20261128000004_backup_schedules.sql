-- Scheduled backups of add-ons: once a day at an hour (UTC), the newest
-- `backup_keep` scheduled ones kept; captured in the name of the member who
-- set the schedule. Backups record whether a schedule took them.
ALTER TABLE addons ADD COLUMN backup_hour SMALLINT CHECK (backup_hour BETWEEN 0 AND 23);
ALTER TABLE addons ADD COLUMN backup_keep INTEGER NOT NULL DEFAULT 7;
ALTER TABLE addons ADD COLUMN backup_scheduled_by BIGINT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE addon_backups ADD COLUMN scheduled BOOLEAN NOT NULL DEFAULT false;
