//! The release binary under test, as a child process.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::stack;
use crate::{API_KEY, SECRET};

pub struct Service {
    child: Child,
    pub url: String,
}

impl Service {
    pub fn start(postgrest_url: &str) -> Self {
        let port = stack::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_rosetta-webhook"))
            .env_clear()
            .current_dir(std::env::temp_dir())
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("WEBHOOK_SECRET", SECRET)
            .env("API_KEYS", format!("bench:{API_KEY}"))
            .env("POSTGREST_URL", postgrest_url)
            .env("SUPABASE_SERVICE_ROLE_KEY", stack::service_role_jwt())
            .env(
                "CALLBACK_SIGNING_SECRET",
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            )
            .env("CALLBACK_ALLOW_HTTP", "true")
            .env("CALLBACK_ALLOWED_NETWORKS", "127.0.0.1/32")
            .env("LOG_FORMAT", "json")
            // The bench measures throughput from one key and one engine:
            // lift the per-key poll limit and the ingest bound above its load.
            .env("POLL_RATE_PER_SECOND", "1000000")
            .env("POLL_BURST", "1000000")
            .env("MAX_CONCURRENT_INGESTS", "1024")
            .env(
                "RUST_LOG",
                std::env::var("BENCH_SERVICE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the service");
        let service = Service {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !answers_200(&format!("{}/readyz", service.url)) {
            assert!(Instant::now() < deadline, "service did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        service
    }

    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU time (user + system) the service has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the parenthesised command name; utime and stime are
        // the 14th and 15th fields of the line, in clock ticks (100 per second).
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<u64> = after_name
            .split(' ')
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        Duration::from_millis((fields[11] + fields[12]) * 10)
    }

    /// Resets the kernel's peak-RSS mark so each scenario reports its own peak.
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking readiness probe, so start-up needs no second HTTP client.
fn answers_200(url: &str) -> bool {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let mut response = String::new();
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .is_ok()
        && stream.read_to_string(&mut response).is_ok()
        && response.starts_with("HTTP/1.1 200")
}
