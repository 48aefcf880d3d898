//! The Dockerfile, checked against the crate without a Docker engine: the
//! binary it builds and runs is the crate's, the port it exposes is the
//! service's default, the runtime is small, non-root and stopped by SIGTERM,
//! and its dependency-caching stub stage yields a manifest cargo accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use rosetta_webhook::config::Config;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
}

fn cargo_metadata(dir: &Path, extra: &[&str]) -> Result<Value, String> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&output.stdout).unwrap())
}

/// The one binary target of the crate.
fn binary_name() -> String {
    let metadata = cargo_metadata(&root(), &[]).unwrap();
    let bins: Vec<&str> = metadata["packages"][0]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"][0] == "bin")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(bins.len(), 1, "{bins:?}");
    bins[0].to_owned()
}

#[test]
fn the_dockerfile_builds_and_runs_the_crates_binary_on_the_default_port() {
    let instructions = instructions();
    let has = |wanted: &str| instructions.iter().any(|i| i == wanted);
    let binary = binary_name();
    let installed = format!("/usr/local/bin/{binary}");

    let builds: Vec<&String> = instructions
        .iter()
        .filter(|i| i.contains("cargo build"))
        .collect();
    assert_eq!(builds.len(), 2, "dependency layer, then the crate");
    for build in &builds {
        assert!(build.contains("cargo build --release --locked"), "{build}");
    }
    assert!(
        builds[1].contains(&format!("target/release/{binary} {installed}")),
        "{}",
        builds[1]
    );
    assert!(instructions
        .iter()
        .any(|i| i.starts_with("COPY --from=builder")
            && i.ends_with(&format!("{installed} {installed}"))));
    assert!(
        has(&format!(r#"ENTRYPOINT ["{installed}"]"#)),
        "{instructions:#?}"
    );

    let default_port = Config::from_lookup(|name| {
        match name {
            "WEBHOOK_SECRET" => Some("s"),
            "POSTGREST_URL" => Some("http://127.0.0.1:3000"),
            "CALLBACK_SIGNING_SECRET" => Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap()
    .port;
    assert!(
        has(&format!("ENV PORT={default_port}")),
        "{instructions:#?}"
    );
    assert!(has(&format!("EXPOSE {default_port}")), "{instructions:#?}");
    assert!(has("STOPSIGNAL SIGTERM"));
    assert!(has("USER nonroot:nonroot"));
    let runtime = instructions
        .iter()
        .rfind(|i| i.starts_with("FROM "))
        .unwrap();
    assert!(
        runtime.starts_with("FROM gcr.io/distroless/cc-debian12"),
        "glibc and CA certificates, no shell: {runtime}"
    );
}

/// The stub commands of the dependency layer, run beside a copy of the
/// manifest: cargo must accept the result (every target it names exists).
#[test]
fn the_dependency_layers_stubs_satisfy_the_manifest() {
    let instructions = instructions();
    let stub = instructions
        .iter()
        .find(|i| i.starts_with("RUN ") && i.contains("fn main() {}"))
        .expect("the stub step");
    let commands: Vec<&str> = stub["RUN ".len()..]
        .split("&&")
        .map(str::trim)
        .take_while(|c| !c.starts_with("cargo "))
        .collect();
    let dir = root().join("target/test-logs/docker-stubs");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root().join(file), dir.join(file)).unwrap();
    }
    let status = Command::new("sh")
        .args(["-c", &commands.join(" && ")])
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "{commands:?}");
    let metadata = cargo_metadata(&dir, &["--locked", "--offline"])
        .unwrap_or_else(|e| panic!("cargo refuses the stub layout: {e}"));
    assert_eq!(metadata["packages"][0]["name"], env!("CARGO_PKG_NAME"));
}

#[test]
fn the_build_context_leaves_out_local_state() {
    let ignored = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let entries: Vec<&str> = ignored.lines().map(str::trim).collect();
    for needed in ["target", ".tools", ".git", ".env"] {
        assert!(entries.contains(&needed), ".dockerignore lacks {needed}");
    }
}
