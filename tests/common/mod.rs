//! Shared harness for the end-to-end tests: the real Lambda Runtime API emulator
//! (`cargo lambda watch`) on 127.0.0.1, tools from the project's .venv, payload shrinking.
#![allow(dead_code)]

pub mod moto;
pub mod power_tuning;
pub mod proxy;

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from the project's .venv (installed by scripts/setup.sh), else from PATH.
pub fn tool(name: &str) -> PathBuf {
    let local = repo().join(".venv/bin").join(name);
    if local.exists() {
        local
    } else {
        PathBuf::from(name)
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port` (no HTTP request: the
/// emulator starts a function for any path it does not know).
pub fn wait_for_port(port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
            .is_ok()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

// ---- the local door: `lambda-probe run -` with the payload on stdin

/// How long one `lambda-probe run` may take before the test calls it hung and kills it.
pub const PROBE_LIMIT: Duration = Duration::from_secs(300);

/// What one `lambda-probe run` process gave back.
#[derive(Debug)]
pub struct ProbeRun {
    /// Exit status 0.
    pub ok: bool,
    pub code: Option<i32>,
    /// stdout, parsed: the response or the error body.
    pub body: Value,
    pub stderr: String,
    /// From spawn to exit, start-up and teardown included.
    pub took: Duration,
}

/// `lambda-probe run -` followed by `extra_args` (e.g. `--timeout-ms 800`), stdin/stdout/stderr
/// piped; set its environment on the returned command before [`run_probe_cmd`].
pub fn probe_cmd(extra_args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lambda-probe"));
    cmd.args(["run", "-"])
        .args(extra_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `cmd` (from [`probe_cmd`]) with `stdin` as its input and parses what it prints. Killed,
/// and the test failed, past `limit`; stdout that is not JSON fails the test with both streams.
pub fn run_probe_cmd(cmd: Command, stdin: &[u8], limit: Duration) -> ProbeRun {
    parsed(run_raw(cmd, stdin, limit))
}

/// One process's output, its stdout parsed as one JSON value.
fn parsed(raw: RawRun) -> ProbeRun {
    let body = serde_json::from_str(&raw.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", raw.stdout, raw.stderr));
    ProbeRun {
        ok: raw.status.success(),
        code: raw.status.code(),
        body,
        stderr: raw.stderr,
        took: raw.took,
    }
}

/// What one `lambda-probe run` printing one JSON line per invocation (`--repeat`,
/// `--concurrency`) gave back.
#[derive(Debug)]
pub struct ProbeLines {
    pub ok: bool,
    /// Every line of stdout, parsed, in the order printed.
    pub lines: Vec<Value>,
    pub stderr: String,
}

/// As [`run_probe_cmd`], for a run that prints one JSON value per line.
pub fn run_probe_cmd_lines(cmd: Command, stdin: &[u8], limit: Duration) -> ProbeLines {
    let raw = run_raw(cmd, stdin, limit);
    let lines = raw
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a line is not JSON ({e}): {l}\nstderr: {}", raw.stderr))
        })
        .collect();
    ProbeLines {
        ok: raw.status.success(),
        lines,
        stderr: raw.stderr,
    }
}

struct RawRun {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn run_raw(mut cmd: Command, stdin: &[u8], limit: Duration) -> RawRun {
    let started = Instant::now();
    let child = cmd.spawn().expect("start lambda-probe");
    finish_raw(child, started, stdin, limit)
}

/// Gives a started `lambda-probe run -` (from [`probe_cmd`]) its input and reads what it prints:
/// for a test that must do something to the process (put it in a cgroup) before it reads its
/// payload. `started` is when it was spawned. As [`run_probe_cmd`] otherwise.
pub fn finish_probe(child: Child, started: Instant, stdin: &[u8], limit: Duration) -> ProbeRun {
    parsed(finish_raw(child, started, stdin, limit))
}

fn finish_raw(mut child: Child, started: Instant, stdin: &[u8], limit: Duration) -> RawRun {
    // Every stream on its own thread: a large input or output never blocks the other side.
    let mut input = child.stdin.take().expect("stdin piped");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let mut stdout = child.stdout.take().expect("stdout piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let mut stderr = child.stderr.take().expect("stderr piped");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for lambda-probe") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lambda-probe ran over {limit:?}: it hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    // The probe may exit on a bad payload before reading all of it: a broken pipe is no failure.
    let _ = writer.join();
    let stdout = out_reader.join().unwrap().expect("read stdout");
    let stderr = err_reader.join().unwrap();
    RawRun {
        status,
        stdout,
        stderr,
        took,
    }
}

/// `lambda-probe run - <extra_args>` with `payload` on stdin, in this test's environment.
pub fn run_probe(payload: &Value, extra_args: &[&str]) -> ProbeRun {
    run_probe_cmd(
        probe_cmd(extra_args),
        payload.to_string().as_bytes(),
        PROBE_LIMIT,
    )
}

/// A child process (and its process group) that is killed when dropped.
pub struct Guard {
    pub child: Child,
    pub log: PathBuf,
}

impl Guard {
    pub fn spawn(mut cmd: Command, log_name: &str) -> Guard {
        use std::os::unix::process::CommandExt;
        let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(log_name);
        let out = std::fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log");
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e} (run scripts/setup.sh first)"));
        Guard { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: kill only sends a signal to the process group this guard started.
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above; SIGKILL for whatever ignored SIGTERM.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `cargo lambda watch` serving this crate's function on 127.0.0.1 at a free port.
pub struct Watch {
    pub port: u16,
    pub guard: Guard,
}

/// What the emulator answered: HTTP status and the JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// A function error, as the emulator reports it (HTTP 500; real Lambda: 200 + a header).
    pub fn error_type(&self) -> Option<&str> {
        self.body.get("errorType").and_then(Value::as_str)
    }
}

impl Watch {
    pub fn start(env: &[(&str, &str)]) -> Watch {
        Watch::start_with(&[], env)
    }

    /// As [`Watch::start`], with more arguments for `cargo lambda watch` (e.g. `--concurrency`).
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Watch {
        let port = free_port();
        let mut cmd = Command::new(tool("cargo-lambda"));
        cmd.current_dir(repo()).args([
            "lambda",
            "watch",
            "--ignore-changes",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ]);
        cmd.args(args);
        for (k, v) in env {
            cmd.arg("--env-var").arg(format!("{k}={v}"));
        }
        let guard = Guard::spawn(cmd, &format!("watch-{port}.log"));
        assert!(
            wait_for_port(port, Duration::from_secs(120)),
            "cargo lambda watch did not listen on {port}:\n{}",
            std::fs::read_to_string(&guard.log).unwrap_or_default()
        );
        Watch { port, guard }
    }

    pub fn invoke_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/2015-03-31/functions/lambda-probe/invocations",
            self.port
        )
    }

    /// Posts a raw body to the function and returns the status and JSON answer.
    pub fn invoke_raw(&self, body: &str) -> Answer {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(300))
            .build();
        let resp = match agent
            .post(&self.invoke_url())
            .set("content-type", "application/json")
            .send_string(body)
        {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("invoke failed: {e}\n{}", self.guard.log_text()),
        };
        let status = resp.status();
        let text = resp.into_string().expect("read body");
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        Answer { status, body }
    }

    pub fn invoke(&self, payload: &Value) -> Answer {
        self.invoke_raw(&payload.to_string())
    }
}

/// Every payload file in bench-payloads/ (not the Power Tuning inputs), sorted by name.
pub fn bench_payloads() -> Vec<(String, Value)> {
    let dir = repo().join("bench-payloads");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("bench-payloads/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
            (file_name(&p), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The same payload, made quick enough for a test: the workload's own quick version (fewer
/// iterations, buffers, repeats or items; the same modes and shapes), as `run --quick` runs it.
pub fn shrink(payload: Value) -> Value {
    let host = lambda_probe::workloads::Host { cores: 2 };
    let request = lambda_probe::request::parse(payload.clone(), host)
        .unwrap_or_else(|e| panic!("shrink: {payload} is refused: {e}"));
    request.quick().event()
}

/// The contract every successful response keeps, whatever the workload: it reads back as the
/// typed response every reader uses, and its JSON has the documented fields.
pub fn assert_response_contract(r: &Value, workload: &str) {
    match lambda_probe::response::Answer::from_value(r.clone()) {
        Ok(lambda_probe::response::Answer::Response(typed)) => {
            assert_eq!(typed.workload(), workload, "{r}");
            assert_eq!(
                &serde_json::to_value(&typed).unwrap(),
                r,
                "typed round trip"
            );
        }
        other => panic!("not a typed response: {other:?}\n{r}"),
    }
    assert_eq!(
        r["schema_version"],
        lambda_probe::response::SCHEMA_VERSION,
        "{r}"
    );
    assert_eq!(r["workload"], workload, "{r}");
    assert!(r["params"].is_object(), "{r}");
    assert!(r["samples"].is_array(), "{r}");
    assert!(r["truncated"].is_boolean(), "{r}");
    let s = &r["summary"];
    for k in ["wall_ms", "cpu_ms", "new_pages", "major_faults"] {
        assert!(s[k].is_number(), "summary.{k} missing: {r}");
    }
    let env = &r["environment"];
    for k in [
        "arch",
        "visible_cores",
        "page_size_bytes",
        "sandbox_id",
        "invocation_index",
        "cold_start",
        "init_ms",
    ] {
        assert!(!env[k].is_null(), "environment.{k} missing: {r}");
    }
    // Every null figure carries its reason.
    for (value, reason) in [
        ("cpu_quota_vcpu", "cpu_quota_unavailable"),
        ("memory_limit_bytes", "memory_limit_unavailable"),
    ] {
        assert_eq!(
            env[value].is_null(),
            env[reason].is_string(),
            "{value}/{reason}: {env}"
        );
    }
    // Which other invocations of the process ran meanwhile, and what that shared.
    let o = &r["overlap"];
    for k in [
        "others_at_start",
        "others_max",
        "others_total",
        "began_us",
        "ended_us",
    ] {
        assert!(o[k].is_number(), "overlap.{k} missing: {r}");
    }
    let shared = o["others_total"].as_u64().unwrap() > 0;
    assert_eq!(o["figures_shared"], shared, "{o}");
    assert_eq!(
        o["shared_figures"].as_array().map(Vec::is_empty),
        Some(!shared),
        "{o}"
    );
}

/// The overlap counts that the windows (`began_us`, `ended_us`) imply for invocation `i`.
pub fn implied_overlap(windows: &[(f64, f64)], i: usize) -> (u32, u32, u32) {
    let (b, e) = windows[i];
    let others: Vec<(f64, f64)> = windows
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(_, w)| *w)
        .collect();
    let at_start = others.iter().filter(|(bj, ej)| *bj < b && b < *ej).count();
    let total = others.iter().filter(|(bj, ej)| *bj < e && *ej > b).count();
    let active = |t: f64| others.iter().filter(|(bj, ej)| *bj <= t && *ej > t).count();
    let max = std::iter::once(b)
        .chain(others.iter().map(|w| w.0).filter(|&bj| b < bj && bj < e))
        .map(active)
        .max()
        .unwrap_or(0);
    (at_start as u32, max as u32, total as u32)
}

/// `lambda-probe-tools report <inputs> --out <out>` of this build (built first; cargo's lock
/// keeps it from racing other builds): whether it succeeded, its report.md, and its stderr.
pub fn tools_report(inputs: &[PathBuf], out: &Path) -> (bool, String, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "lambda-probe-tools"])
        .current_dir(repo())
        .status()
        .expect("cargo build -p lambda-probe-tools");
    assert!(status.success(), "cannot build lambda-probe-tools");
    let tools = Path::new(env!("CARGO_BIN_EXE_lambda-probe")).with_file_name("lambda-probe-tools");
    let o = Command::new(tools)
        .arg("report")
        .args(inputs)
        .arg("--out")
        .arg(out)
        .output()
        .expect("lambda-probe-tools report");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    (
        o.status.success(),
        md,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
