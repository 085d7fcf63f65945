-- Add-ons: managed services (PostgreSQL first) that run beside an app as
-- processes of the platform, each with its own network, a volume named by
-- its id and a generated password (sealed like config values). An add-on
-- belongs to the app it was created for and may be attached to other apps
-- of that app's team; each attachment sets NAME_URL in its app's config.
CREATE TABLE addons (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    app_id BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    password BYTEA NOT NULL,
    memory_mb INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE addon_attachments (
    addon_id BIGINT NOT NULL REFERENCES addons (id) ON DELETE CASCADE,
    app_id BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    -- DATABASE: the app's config var is DATABASE_URL.
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (addon_id, app_id),
    UNIQUE (app_id, name)
);

-- Backups of an add-on's data, kept encrypted in files named by their id.
CREATE TABLE addon_backups (
    id BIGSERIAL PRIMARY KEY,
    addon_id BIGINT NOT NULL REFERENCES addons (id) ON DELETE CASCADE,
    -- running | completed | failed
    status TEXT NOT NULL DEFAULT 'running',
    size_bytes BIGINT,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
