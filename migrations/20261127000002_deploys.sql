-- Builds, releases, deployments (the rollout state machine) and formation.

CREATE TYPE build_status AS ENUM ('building', 'succeeded', 'failed');

CREATE TABLE builds (
    id          BIGSERIAL PRIMARY KEY,
    app_id      BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    commit_sha  TEXT NOT NULL,
    status      build_status NOT NULL DEFAULT 'building',
    image       TEXT,
    log         TEXT NOT NULL DEFAULT '',
    created_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
CREATE INDEX builds_app_idx ON builds (app_id, id DESC);

CREATE TYPE release_status AS ENUM ('pending', 'succeeded', 'failed');

-- A release is immutable once it left 'pending': image + config + process types.
CREATE TABLE releases (
    id            BIGSERIAL PRIMARY KEY,
    app_id        BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    build_id      BIGINT REFERENCES builds (id) ON DELETE SET NULL,
    image         TEXT NOT NULL,
    commit_sha    TEXT,
    description   TEXT NOT NULL,
    config        JSONB NOT NULL DEFAULT '{}',
    process_types JSONB NOT NULL DEFAULT '{}',
    status        release_status NOT NULL DEFAULT 'pending',
    created_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at   TIMESTAMPTZ,
    UNIQUE (app_id, version)
);

ALTER TABLE apps ADD COLUMN current_release_id BIGINT REFERENCES releases (id) ON DELETE SET NULL;

-- Each step of a rollout is written before it is taken, so a restarted
-- server can finish or undo it.
CREATE TYPE deploy_phase AS ENUM (
    'starting', 'health_checking', 'switching', 'draining', 'stopping_old', 'succeeded', 'failed'
);

CREATE TABLE deployments (
    id          BIGSERIAL PRIMARY KEY,
    app_id      BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    release_id  BIGINT NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    phase       deploy_phase NOT NULL DEFAULT 'starting',
    error       TEXT,
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
CREATE INDEX deployments_open_idx ON deployments (app_id) WHERE finished_at IS NULL;

CREATE TABLE formation (
    app_id       BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    process_type TEXT NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity >= 0),
    memory_mb    INTEGER,
    cpus         DOUBLE PRECISION,
    PRIMARY KEY (app_id, process_type)
);
