-- Routers that run apart from the control plane (`paas router`) are fed from
-- here. The control plane publishes its whole route table (routes, custom
-- domains, apps' router settings) as one sealed document whose generation
-- only grows, and NOTIFYs `paas_routes` with it.
CREATE TABLE published_routes (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    generation bigint NOT NULL,
    sealed bytea NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);

-- Each router apart reports itself every second: the generation it serves,
-- and the processes it may still send requests to (those in its table, and
-- those it still has requests in flight to). Processes being replaced are
-- stopped only once no live router names them.
CREATE TABLE routers (
    id text PRIMARY KEY,
    name text NOT NULL,
    listen text NOT NULL,
    applied_generation bigint NOT NULL,
    busy text[] NOT NULL DEFAULT '{}',
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now()
);
