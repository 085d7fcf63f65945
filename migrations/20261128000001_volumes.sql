-- Persistent volumes: a named engine volume mounted into every process of
-- one process type (and into one-offs and the release phase when that type
-- is web). Its data lives in the engine, named by the app's id (a rename
-- keeps it); the row goes with the app.
CREATE TABLE volumes (
    id BIGSERIAL PRIMARY KEY,
    app_id BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    mount_path TEXT NOT NULL,
    process_type TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (app_id, name),
    UNIQUE (app_id, process_type, mount_path)
);
