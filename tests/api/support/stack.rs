//! The real Supabase-shaped stack the tests run against: a fresh database on
//! the machine's PostgreSQL with the Supabase roles and our migrations, and a
//! real PostgREST 12 in front of it that accepts a `service_role` JWT.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// Secret PostgREST verifies JWTs with (≥ 32 bytes, as PostgREST requires).
pub const JWT_SECRET: &str = "rosetta-webhook-test-jwt-secret-0123456789";
const DB_PREFIX: &str = "rw_test_";

fn pg_host() -> String {
    std::env::var("TEST_PGHOST").unwrap_or_else(|_| "127.0.0.1".into())
}

fn pg_port() -> String {
    std::env::var("TEST_PGPORT").unwrap_or_else(|_| "5432".into())
}

fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs SQL through `psql` as the `postgres` superuser; panics with psql's
/// own message on failure.
pub fn psql(database: &str, args: &[&str]) -> String {
    let output = Command::new("psql")
        .args([
            "-h",
            &pg_host(),
            "-p",
            &pg_port(),
            "-U",
            "postgres",
            "-d",
            database,
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t"])
        .args(args)
        .output()
        .expect("psql must be installed (PostgreSQL client)");
    assert!(
        output.status.success(),
        "psql {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("psql prints UTF-8")
}

/// A database created for this test process.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    /// A database with the Supabase roles but none of our migrations.
    pub fn unmigrated(label: &str) -> Self {
        drop_abandoned_databases();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("{DB_PREFIX}{}_{label}_{nanos}", std::process::id());
        psql("postgres", &["-c", &format!("create database \"{name}\"")]);
        let db = Self { name };
        db.run_file(&project_root().join("scripts/supabase-roles.sql"));
        db
    }

    /// A database with the roles and every file of `migrations/`, in order.
    pub fn migrated(label: &str) -> Self {
        let db = Self::unmigrated(label);
        db.apply_migrations();
        db
    }

    /// Applies every file of `migrations/` in name order, as an operator would.
    pub fn apply_migrations(&self) {
        let mut migrations: Vec<PathBuf> = std::fs::read_dir(project_root().join("migrations"))
            .expect("migrations/ exists")
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        migrations.sort();
        for migration in migrations {
            self.run_file(&migration);
        }
    }

    fn run_file(&self, path: &Path) {
        psql(&self.name, &["-f", path.to_str().unwrap()]);
    }

    /// One SQL query whose single value is JSON (use `json_agg`/`row_to_json`).
    pub fn json(&self, sql: &str) -> Value {
        let text = psql(&self.name, &["-c", sql]);
        let text = text.trim();
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
        }
    }

    pub fn scalar(&self, sql: &str) -> String {
        psql(&self.name, &["-c", sql]).trim().to_owned()
    }
}

/// Databases left by test processes that no longer run (a killed run cannot
/// clean up after itself); the name carries the owner's pid.
fn drop_abandoned_databases() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let names = psql(
            "postgres",
            &[
                "-c",
                &format!("select datname from pg_database where datname like '{DB_PREFIX}%'"),
            ],
        );
        for name in names.lines() {
            let pid = name[DB_PREFIX.len()..].split('_').next().unwrap_or("");
            if !Path::new(&format!("/proc/{pid}")).exists() {
                psql(
                    "postgres",
                    &[
                        "-c",
                        &format!("drop database if exists \"{name}\" with (force)"),
                    ],
                );
            }
        }
    });
}

/// A PostgREST process serving one database on a loopback port.
pub struct Postgrest {
    pub port: u16,
    database: String,
    pool: u32,
    child: Mutex<Option<Child>>,
}

impl Postgrest {
    pub fn start(db: &TestDb) -> Self {
        Self::start_with_pool(db, 10)
    }

    /// `pool` database connections: small for per-test stacks, so several
    /// of them stay well under PostgreSQL's connection limit.
    pub fn start_with_pool(db: &TestDb, pool: u32) -> Self {
        let server = Self {
            port: free_port(),
            database: db.name.clone(),
            pool,
            child: Mutex::new(None),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process (again, on the same port) and waits until it serves.
    pub fn restart(&self) {
        let mut child = self.child.lock().unwrap();
        assert!(child.is_none(), "PostgREST is already running");
        let log_dir = project_root().join("target/test-logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        let log =
            std::fs::File::create(log_dir.join(format!("postgrest-{}.log", self.port))).unwrap();
        // PostgREST runs under a tiny shell watchdog that reads our end of a
        // pipe: when this test process exits for any reason, the pipe closes
        // and the watchdog stops PostgREST, so no server outlives the tests.
        let spawned = Command::new("sh")
            .args([
                "-c",
                r#""$0" & pid=$!; cat >/dev/null; kill "$pid" 2>/dev/null; wait "$pid""#,
            ])
            .arg(postgrest_binary())
            .env(
                "PGRST_DB_URI",
                format!(
                    "postgres://authenticator@{}:{}/{}",
                    pg_host(),
                    pg_port(),
                    self.database
                ),
            )
            .env("PGRST_DB_SCHEMAS", "public")
            .env("PGRST_DB_ANON_ROLE", "anon")
            .env("PGRST_JWT_SECRET", JWT_SECRET)
            .env("PGRST_SERVER_HOST", "127.0.0.1")
            .env("PGRST_SERVER_PORT", self.port.to_string())
            .env("PGRST_DB_POOL", self.pool.to_string())
            .env("PGRST_LOG_LEVEL", "warn")
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn PostgREST");
        *child = Some(spawned);
        drop(child);
        self.wait_until_serving();
    }

    /// Stops the process and waits for it to exit.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            drop(child.stdin.take());
            child.wait().unwrap();
        }
    }

    fn wait_until_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.answers_rpc() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgREST on port {} did not become ready; see target/test-logs/postgrest-{}.log",
                self.port,
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A raw HTTP request, so the stack needs no async runtime to start.
    fn answers_rpc(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let request = format!(
            "POST /rpc/rosetta_webhook_schema_version HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\n{{}}",
            service_role_jwt()
        );
        let mut response = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut response).is_ok()
            && response.starts_with("HTTP/1.1 ")
            // 503 while PostgREST connects and loads its schema cache; after
            // that 200 (migrated) or 404 (function missing) both mean serving.
            && !response.starts_with("HTTP/1.1 503")
    }
}

impl Drop for Postgrest {
    fn drop(&mut self) {
        self.stop();
    }
}

fn postgrest_binary() -> PathBuf {
    let binary = project_root().join(".tools/postgrest/postgrest");
    if !binary.exists() {
        let status = Command::new(project_root().join("scripts/fetch-postgrest.sh"))
            .status()
            .expect("run scripts/fetch-postgrest.sh");
        assert!(status.success(), "scripts/fetch-postgrest.sh failed");
    }
    binary
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `service_role` JWT the service sends, signed as Supabase signs it.
pub fn service_role_jwt() -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims =
        URL_SAFE_NO_PAD.encode(br#"{"role":"service_role","iss":"rosetta-webhook-tests"}"#);
    let signing_input = format!("{header}.{claims}");
    let mut mac = Hmac::<Sha256>::new_from_slice(JWT_SECRET.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// A database and the PostgREST that serves it.
pub struct Stack {
    pub db: TestDb,
    pub postgrest: Postgrest,
}

impl Stack {
    /// A stack of its own, for tests whose service instances must not share
    /// the callback outbox with other tests' instances.
    pub fn isolated(label: &str) -> Arc<Self> {
        let db = TestDb::migrated(label);
        let postgrest = Postgrest::start_with_pool(&db, 3);
        Arc::new(Self { db, postgrest })
    }
}

/// The stack shared by most tests of this process: one fresh migrated
/// database and one PostgREST. Tests use their own job ids, so they can share.
pub fn shared() -> Arc<Stack> {
    static STACK: OnceLock<Arc<Stack>> = OnceLock::new();
    STACK
        .get_or_init(|| {
            let db = TestDb::migrated("shared");
            let postgrest = Postgrest::start(&db);
            Arc::new(Stack { db, postgrest })
        })
        .clone()
}
