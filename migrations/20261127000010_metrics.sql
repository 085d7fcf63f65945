-- The history the dashboard's Metrics tab and GET /apps/{app}/metrics draw
-- from, sampled by the server itself (no Prometheus needed) and kept two
-- days. Traffic: the requests in the sample's interval, how many were 5xx,
-- and latency percentiles estimated from the router's histogram.
CREATE TABLE app_metrics (
    app_id   BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    at       TIMESTAMPTZ NOT NULL,
    seconds  REAL NOT NULL,
    requests BIGINT NOT NULL,
    errors   BIGINT NOT NULL,
    p50_ms   REAL,
    p95_ms   REAL,
    p99_ms   REAL,
    PRIMARY KEY (app_id, at)
);

-- Per process type: how many processes ran, their CPU (percent of one core,
-- summed) and memory (summed, with the sum of their limits).
CREATE TABLE process_metrics (
    app_id          BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    at              TIMESTAMPTZ NOT NULL,
    process_type    TEXT NOT NULL,
    processes       INT NOT NULL,
    cpu_percent     REAL NOT NULL,
    memory_mb       REAL NOT NULL,
    memory_limit_mb REAL,
    PRIMARY KEY (app_id, at, process_type)
);
CREATE INDEX app_metrics_at ON app_metrics (at);
CREATE INDEX process_metrics_at ON process_metrics (at);
