-- Certificates the router serves over HTTPS, by host name: issued through
-- ACME (HTTP-01) or uploaded (`paas certs:add`). The private key is sealed
-- with the server's secret key; the chain is public. `app_id` is NULL for a
-- certificate of the base domain (a wildcard the admin uploaded).
CREATE TABLE certificates (
    hostname   TEXT PRIMARY KEY,
    app_id     BIGINT REFERENCES apps (id) ON DELETE CASCADE,
    source     TEXT NOT NULL CHECK (source IN ('acme', 'uploaded')),
    state      TEXT NOT NULL CHECK (state IN ('pending', 'issued', 'failed')),
    chain_pem  TEXT,
    key_sealed BYTEA,
    not_after  TIMESTAMPTZ,
    issuer     TEXT,
    error      TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX certificates_app ON certificates (app_id);

-- Per app: answer plain HTTP with a redirect to HTTPS, and send HSTS over HTTPS.
ALTER TABLE apps
    ADD COLUMN https_redirect BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN hsts BOOLEAN NOT NULL DEFAULT FALSE;
