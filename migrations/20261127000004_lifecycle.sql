-- Config vars (encrypted), custom domains, and the audit log.

-- The app's desired config. Values are ChaCha20-Poly1305 ciphertexts
-- (nonce || sealed value) under the server's secret key; releases keep an
-- encrypted snapshot in releases.config (base64 of the same bytes).
CREATE TABLE config_vars (
    app_id     BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, key)
);

CREATE TABLE domains (
    hostname   TEXT PRIMARY KEY,
    app_id     BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX domains_app_idx ON domains (app_id);

-- Who did what, never secret values. App and team names are copied so the
-- record outlives them.
CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    user_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    actor      TEXT NOT NULL,
    team_id    BIGINT REFERENCES teams (id) ON DELETE SET NULL,
    app        TEXT,
    action     TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL
);
CREATE INDEX audit_events_team_idx ON audit_events (team_id, id DESC);
CREATE INDEX audit_events_app_idx ON audit_events (app, id DESC);

-- Restart counts and the last exit of processes, for `ps`.
ALTER TABLE formation ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
