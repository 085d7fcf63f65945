-- Audit events name their app by id as well as by name: a name can be
-- reused by another team once the app is destroyed, and its history must
-- not follow it. Events of a destroyed app keep the name and lose the id.
ALTER TABLE audit_events ADD COLUMN app_id BIGINT REFERENCES apps (id) ON DELETE SET NULL;
UPDATE audit_events e SET app_id = a.id FROM apps a WHERE e.app = a.name AND e.at >= a.created_at;
CREATE INDEX audit_events_app_id_idx ON audit_events (app_id, id DESC);
