//! The release binary as a child process, configured through its
//! environment exactly as Cloud Run would configure it.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::stack::{free_port, service_role_jwt};
use super::{ACME_KEY, ADMIN_KEY, CALLBACK_SECRET, GLOBEX_KEY, PRIMARY_SECRET};

pub const BINARY: &str = env!("CARGO_BIN_EXE_rosetta-webhook");

/// The binary with exactly `vars` as its environment, run in an empty
/// directory so no developer `.env` is read.
pub fn command(vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .env_clear()
        .envs(vars.iter().copied())
        .current_dir(std::env::temp_dir());
    command
}

pub struct ServiceProcess {
    child: Child,
    pub url: String,
}

impl ServiceProcess {
    /// Starts the binary against `postgrest_url` and waits until `/readyz`
    /// answers 200. `overrides` replace or add variables. Callbacks may
    /// reach 127.0.0.1 over plain http, nothing else.
    pub async fn start(postgrest_url: &str, overrides: &[(&str, &str)]) -> Self {
        let port = free_port().to_string();
        let jwt = service_role_jwt();
        let api_keys = format!("acme:{ACME_KEY},*:{ADMIN_KEY}");
        let mut vars: Vec<(&str, &str)> = vec![
            ("HOST", "127.0.0.1"),
            ("PORT", &port),
            ("WEBHOOK_SECRET", PRIMARY_SECRET),
            ("API_KEYS", &api_keys),
            ("POSTGREST_URL", postgrest_url),
            ("SUPABASE_SERVICE_ROLE_KEY", &jwt),
            ("CALLBACK_SIGNING_SECRET", CALLBACK_SECRET),
            ("CALLBACK_ALLOW_HTTP", "true"),
            ("CALLBACK_ALLOWED_NETWORKS", "127.0.0.1/32"),
            ("LOG_FORMAT", "json"),
        ];
        for (name, value) in overrides {
            vars.retain(|(n, _)| n != name);
            vars.push((name, value));
        }
        let child = command(&vars)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let service = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client.get(format!("{}/readyz", service.url)).send().await;
            if ready.map(|r| r.status().is_success()).unwrap_or(false) {
                return service;
            }
            assert!(Instant::now() < deadline, "the binary never became ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Posts webhook bytes with `signature` and any extra headers.
    pub async fn post_webhook(
        &self,
        bytes: &[u8],
        signature: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(format!(
                "{}{}",
                self.url,
                rosetta_webhook::http::WEBHOOK_PATH
            ))
            .header("x-webhook-signature", signature)
            .body(bytes.to_vec());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// Polls a job with `key` and any extra headers.
    pub async fn poll(
        &self,
        job_id: &str,
        key: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .get(format!("{}/api/v1/jobs/{job_id}", self.url))
            .header("x-api-key", key);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, as Cloud Run sends it.
    pub fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// SIGKILL: the instance dies with no chance to clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for exit; returns the status and everything printed on stdout.
    pub async fn wait(mut self) -> (ExitStatus, String) {
        tokio::task::spawn_blocking(move || {
            let status = self.child.wait().unwrap();
            let mut stdout = String::new();
            std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut stdout)
                .unwrap();
            (status, stdout)
        })
        .await
        .unwrap()
    }
}

/// A long-running child (`dev`) whose stdout and stderr are read line by
/// line as they come, so it never blocks on a full pipe and the test can
/// wait for a line.
pub struct StreamingChild {
    child: Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl StreamingChild {
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in std::io::BufRead::lines(std::io::BufReader::new(stream)) {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Self { child, lines }
    }

    /// Every line so far, stdout and stderr interleaved as they arrived.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The first line that `matches`, waiting up to `within` for it.
    pub async fn line(&self, matches: impl Fn(&str) -> bool, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| matches(l)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no such line within {within:?}; output so far:\n{}",
                self.lines().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit status.
    pub async fn terminate(mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        tokio::task::spawn_blocking(move || self.child.wait().unwrap())
            .await
            .unwrap()
    }
}

impl Drop for StreamingChild {
    fn drop(&mut self) {
        // A failing test must not leave the child running.
        let _ = self.child.kill();
    }
}

/// Asserts that no secret the tests give the binary, nor any of `more`,
/// appears in its output.
pub fn assert_no_secret(logs: &str, more: &[&str]) {
    let jwt = service_role_jwt();
    let known = [
        PRIMARY_SECRET,
        ACME_KEY,
        ADMIN_KEY,
        GLOBEX_KEY,
        jwt.as_str(),
        CALLBACK_SECRET.trim_start_matches("whsec_"),
    ];
    for secret in known.iter().chain(more) {
        assert!(
            !logs.contains(secret),
            "a secret leaked into the logs: {secret}"
        );
    }
}
