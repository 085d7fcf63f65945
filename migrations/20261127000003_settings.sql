-- Server-wide settings, such as this installation's id (labels its containers
-- so two installations can share one Docker engine).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
