-- The web health check a release was deployed with (from app.json).
ALTER TABLE releases ADD COLUMN healthcheck JSONB;
