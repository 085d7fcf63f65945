-- The action layer: every change to an app (a push, config, scale, resize,
-- restart, rollback, destroy, a domain) is recorded here before anything
-- happens, runs in the background, and ends succeeded or failed with a reason.
-- A server that dies leaves 'running' rows; the next start settles them.
CREATE TYPE operation_status AS ENUM ('running', 'succeeded', 'failed');

CREATE TABLE operations (
    id          BIGSERIAL PRIMARY KEY,
    app_id      BIGINT REFERENCES apps (id) ON DELETE SET NULL,
    app         TEXT NOT NULL,
    team_id     BIGINT REFERENCES teams (id) ON DELETE SET NULL,
    -- deploy, config, formation, restart, rollback, destroy, domain.add, domain.remove
    kind        TEXT NOT NULL,
    -- What was asked, for people and the audit log; never a secret value.
    summary     TEXT NOT NULL DEFAULT '',
    status      operation_status NOT NULL DEFAULT 'running',
    error       TEXT,
    -- The progress lines the operation printed.
    output      TEXT NOT NULL DEFAULT '',
    user_id     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor       TEXT NOT NULL,
    source      TEXT NOT NULL,
    -- The release the operation made, once it made one.
    release_id  BIGINT REFERENCES releases (id) ON DELETE SET NULL,
    -- A push: the branch and the commits it moves it between.
    refname     TEXT,
    old_commit  TEXT,
    new_commit  TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
CREATE INDEX operations_app_idx ON operations (app_id, id DESC);
CREATE INDEX operations_running_idx ON operations (id) WHERE status = 'running';

-- Which operation a rollout belongs to.
ALTER TABLE deployments ADD COLUMN operation_id BIGINT REFERENCES operations (id) ON DELETE SET NULL;
