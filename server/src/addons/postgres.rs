//! PostgreSQL from Debian's packages: 17 on trixie's base, 15 on
//! bookworm's. The cluster is made on first start (`addons/postgres/start.sh`):
//! the role `paas` with the generated password, the database `paas`,
//! password (SCRAM) logins over the network, trusted ones on the socket
//! inside the container (the console, facts and backups run there).

use super::{Recipe, Service};
use crate::config::Config;

const DOCKERFILE: &str = include_str!("../../../addons/postgres/Dockerfile");
const START: &str = include_str!("../../../addons/postgres/start.sh");

pub struct Postgres;

const PSQL: [&str; 5] = ["psql", "-U", "paas", "-d", "paas"];

fn command(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

impl Service for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn aliases(&self) -> &'static [&'static str] {
        &["postgresql", "heroku-postgresql", "pg"]
    }

    fn title(&self) -> &'static str {
        "PostgreSQL"
    }

    fn versions(&self) -> &'static [&'static str] {
        &["17", "15"]
    }

    fn default_attachment(&self) -> &'static str {
        "DATABASE"
    }

    fn default_memory_mb(&self) -> i32 {
        512
    }

    fn recipe(&self, config: &Config, version: &str) -> Recipe {
        let stack = if version == "15" { "bookworm" } else { "trixie" };
        Recipe {
            files: vec![("Dockerfile", DOCKERFILE.as_bytes(), 0o644), ("start.sh", START.as_bytes(), 0o755)],
            args: vec![
                ("BASE", crate::build::stacks::base(config, stack).to_string()),
                ("VERSION", version.to_string()),
            ],
        }
    }

    fn data_path(&self) -> &'static str {
        "/var/lib/postgresql/data"
    }

    fn env(&self, password: &str, memory_mb: i32) -> Vec<(String, String)> {
        vec![
            ("PAAS_ADDON_PASSWORD".into(), password.into()),
            // A quarter of its memory for shared buffers, as PostgreSQL's
            // own tuning advice has it.
            ("PAAS_SHARED_BUFFERS".into(), format!("{}MB", (memory_mb / 4).max(16))),
        ]
    }

    fn url(&self, host: &str, password: &str) -> String {
        format!("postgres://paas:{password}@{host}:5432/paas")
    }

    fn ready_command(&self) -> Vec<String> {
        command(&["pg_isready", "-q", "-h", "127.0.0.1", "-U", "paas", "-d", "paas"])
    }

    fn console_command(&self, sql: Option<&str>) -> Vec<String> {
        let mut psql = command(&PSQL);
        if let Some(sql) = sql {
            psql.extend(["-c".to_string(), sql.to_string()]);
        }
        psql
    }

    fn info_command(&self) -> Vec<String> {
        let facts = "SELECT 'Version', current_setting('server_version') \
            UNION ALL SELECT 'Data Size', pg_size_pretty(pg_database_size('paas')) \
            UNION ALL SELECT 'Tables', count(*)::text FROM information_schema.tables WHERE table_schema = 'public' \
            UNION ALL SELECT 'Connections', count(*)::text FROM pg_stat_activity WHERE datname = 'paas' \
            UNION ALL SELECT 'Max Connections', current_setting('max_connections')";
        let mut psql = command(&PSQL);
        psql.extend(command(&["-tA", "-F", "|", "-c", facts]));
        psql
    }

    fn dump_command(&self) -> Option<Vec<String>> {
        Some(command(&["pg_dump", "-U", "paas", "-d", "paas", "--format=custom", "--no-owner"]))
    }

    fn restore_command(&self) -> Option<Vec<String>> {
        Some(command(&[
            "pg_restore",
            "-U",
            "paas",
            "-d",
            "paas",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
        ]))
    }
}
