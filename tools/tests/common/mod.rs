//! What the tools' integration tests share: this build's binaries, the repository, the lock that
//! keeps cgroup tests apart, and a pbkdf2 size measured on this machine. Each test crate uses a
//! part of it.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

pub const TOOLS: &str = env!("CARGO_BIN_EXE_lambda-probe-tools");

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

/// One test at a time among those that create cgroups or measure CPU time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn require_root() {
    // SAFETY: geteuid has no side effects.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test creates cgroups (emulate) and needs root (CI runs as root)"
    );
}

/// The probe the tools run by default: `lambda-probe` next to them, built in the same profile
/// (a no-op when `cargo test --workspace` already built it), once per test process.
pub fn probe() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = Path::new(TOOLS).parent().unwrap();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.args([
                "build",
                "--quiet",
                "-p",
                "lambda-probe",
                "--bin",
                "lambda-probe",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
            if dir.ends_with("release") {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("run cargo build for the probe");
            assert!(status.success(), "building the probe failed");
            let p = dir.join("lambda-probe");
            assert!(p.is_file(), "no probe at {}", p.display());
            p
        })
        .clone()
}

/// `lambda-probe run -` on `payload`, with AWS_LAMBDA_FUNCTION_MEMORY_SIZE set when a size is
/// given: its response.
pub fn run_probe_at(payload: &Value, memory_mb: Option<u32>) -> Value {
    let mut cmd = Command::new(probe());
    if let Some(m) = memory_mb {
        cmd.env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", m.to_string());
    }
    let mut child = cmd
        .args(["run", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(payload.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// pbkdf2 sha512 iterations for about `cpu_s` of CPU per password with this build here
/// (measured once per test process).
pub fn iterations_for(cpu_s: f64) -> u64 {
    static PER_ITERATION_S: OnceLock<f64> = OnceLock::new();
    let per = *PER_ITERATION_S.get_or_init(|| {
        let trial = 4000;
        let r = run_probe_at(
            &json!({"workload":"pbkdf2","hash":"sha512","iterations":trial,"passwords":2,"threads":[1]}),
            None,
        );
        let cpu_ms = r["summary"]["levels"][0]["cpu_ms"].as_f64().unwrap();
        cpu_ms / 1000.0 / (2.0 * trial as f64)
    });
    ((cpu_s / per) as u64).clamp(1000, 100_000_000)
}
