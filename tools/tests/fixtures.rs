//! The result fixtures every reader is tested on (tests/fixtures/results/ at the repository's
//! root), and the test that keeps them honest: produced by real runs of every workload, not
//! written by hand.
//!
//! `make fixtures` regenerates them (as root: the emulate part creates cgroups; io runs against
//! a local moto endpoint through scripts/local_dynamodb.py). The regeneration is an ignored
//! test here, so it runs only when asked.

mod common;
use lambda_probe::response::{Answer, Response};
use lambda_probe::workloads::WORKLOADS;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One bench payload per workload (its quick version runs): adding a workload means adding its
/// payload here, or `every_workload_has_a_fixture_payload` fails.
const FIXTURE_PAYLOADS: &[&str] = &[
    "env",
    "pbkdf2-multi",
    "alloc-reuse",
    "memset",
    "io-concurrent",
    "cpu-timeline",
];
/// The memory sizes of the fixture runs (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE` for run, the
/// emulated size for emulate).
const RUN_SIZES_MB: [u32; 3] = [128, 1769, 3538];
const EMULATE_SIZES_MB: &str = "128,1769";

fn dir() -> PathBuf {
    common::repo().join("tests/fixtures/results")
}

fn payload(name: &str) -> Value {
    let path = common::repo().join(format!("bench-payloads/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn workload_of(payload: &Value) -> &str {
    payload["workload"].as_str().unwrap_or("env")
}

#[test]
fn every_workload_has_a_fixture_payload() {
    for w in WORKLOADS {
        assert!(
            FIXTURE_PAYLOADS.iter().any(|p| workload_of(&payload(p)) == *w),
            "no fixture payload for workload {w}: add one of its bench payloads to FIXTURE_PAYLOADS and run `make fixtures`"
        );
    }
}

#[test]
fn the_fixtures_are_current_and_cover_every_workload() {
    let mut workloads_seen = std::collections::BTreeSet::new();
    for file in ["responses.jsonl", "emulate.jsonl"] {
        let text = std::fs::read_to_string(dir().join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}: run `make fixtures`"));
        let mut here = std::collections::BTreeSet::new();
        for (i, line) in text.lines().enumerate() {
            let v: Value = serde_json::from_str(line).unwrap();
            match Answer::from_value(v) {
                Ok(Answer::Response(r)) => {
                    here.insert(r.workload());
                }
                Ok(Answer::Error(_)) => {}
                Err(e) => panic!("{file}:{}: {e}: run `make fixtures`", i + 1),
            }
        }
        for w in WORKLOADS {
            assert!(
                here.contains(w),
                "{file} has no {w} run: run `make fixtures`"
            );
        }
        workloads_seen.extend(here);
    }
    assert_eq!(workloads_seen.len(), WORKLOADS.len());
}

/// The probe and tools binaries of this build.
fn binaries() -> (PathBuf, PathBuf) {
    (common::probe(), PathBuf::from(common::TOOLS))
}

/// GNU time: runs a command, passes its status on, and prints the command's peak resident set
/// (`%M`, KiB, from `wait4`), the figure the REPORT lines give as Max Memory Used. Not Python's
/// `getrusage(RUSAGE_CHILDREN)`: a child forked from a large process starts with the parent's
/// resident set as its peak (~11 MB for Python, ~1 MB for time).
const GNU_TIME: &str = "/usr/bin/time";

/// `command`, with the program's peak resident set measured (`GNU_TIME`).
fn measured(program: &Path, args: &[&str], io: bool) -> Command {
    assert!(
        Path::new(GNU_TIME).exists(),
        "{GNU_TIME} is missing: install GNU time (apt-get install time; scripts/setup.sh does)"
    );
    let mut all = vec!["-f", "peak_rss_kib %M", program.to_str().unwrap()];
    all.extend(args);
    command(Path::new(GNU_TIME), &all, io)
}

/// The peak resident set `measured` printed, in MiB rounded up.
fn peak_mib(out: &std::process::Output) -> u32 {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kib: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak_rss_kib "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak_rss_kib line:\n{stderr}"));
    kib.div_ceil(1024) as u32
}

/// A command run with the io workload's local table when the payload needs one.
fn command(program: &Path, args: &[&str], io: bool) -> Command {
    if io {
        let mut c = Command::new(common::repo().join(".venv/bin/python"));
        c.arg(common::repo().join("scripts/local_dynamodb.py"))
            .arg("--")
            .arg(program)
            .args(args);
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    }
}

fn lines_of(out: &std::process::Output, what: &str) -> Vec<Value> {
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{what}: {e}: {l}")))
        .collect();
    assert!(
        !lines.is_empty(),
        "{what}: no output\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

/// The REPORT line Lambda would write for a response, from what was measured here (no Lambda
/// ran; tests/fixtures/results/README.md says which field comes from what): Duration the
/// probe's summary.wall_ms, Billed Duration that plus Init Duration on a cold start rounded up
/// to 1 ms (Lambda bills INIT for this custom runtime), Memory Size the size the run was given,
/// Max Memory Used the peak resident set of the process that served it, Init Duration
/// environment.init_ms on a cold start.
fn report_line(r: &Response, id: &str, peak_mib: u32) -> String {
    let wall = r.result.common().wall_ms;
    let inv = &r.environment.invocation;
    let init = inv.cold_start.then_some(inv.init_ms);
    let billed = lambda_probe::lambda_model::billed_ms(wall + init.unwrap_or(0.0));
    format!(
        "REPORT RequestId: {id}\tDuration: {wall:.2} ms\tBilled Duration: {billed:.0} ms\tMemory Size: {} MB\tMax Memory Used: {peak_mib} MB\t{}",
        r.environment.memory_mb.expect("fixture runs have a memory size"),
        init.map(|i| format!("Init Duration: {i:.2} ms\t"))
            .unwrap_or_default()
    )
}

/// CloudWatch Logs as the function would leave them for `responses`: the platform's START,
/// the probe's own log lines (telemetry::log_lines), END and REPORT, per invocation, each in
/// the log stream of the process (execution environment) that served it.
fn log_messages(responses: &[Response], peaks_mib: &[u32]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, (r, peak)) in responses.iter().zip(peaks_mib).enumerate() {
        let id = format!("req-{i}");
        let stream = format!("2026/12/04/[$LATEST]{}", r.environment.sandbox_id);
        let mut push = |m: String| out.push((stream.clone(), m));
        push(format!("START RequestId: {id} Version: $LATEST"));
        for l in lambda_probe::telemetry::log_lines(r, &id, true) {
            push(l);
        }
        push(format!("END RequestId: {id}"));
        push(report_line(r, &id, *peak));
    }
    out
}

/// `make fixtures`: regenerates tests/fixtures/results/ from real runs (as root).
#[test]
#[ignore = "regenerates the fixtures: `make fixtures`"]
fn regenerate_fixtures() {
    let (probe, tools) = binaries();
    let out_dir = dir();
    std::fs::create_dir_all(&out_dir).unwrap();
    let scratch = std::env::temp_dir().join(format!("lp-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();

    let mut responses: Vec<Value> = Vec::new();
    // The peak resident set (MiB) of the process behind each of `responses`.
    let mut peaks_mib: Vec<u32> = Vec::new();
    let mut emulate_lines: Vec<Value> = Vec::new();
    for name in FIXTURE_PAYLOADS {
        let p = payload(name);
        let io = workload_of(&p) == "io";
        let file = common::repo().join(format!("bench-payloads/{name}.json"));
        let file = file.to_str().unwrap();
        for mb in RUN_SIZES_MB {
            let out = measured(&probe, &["run", file, "--quick", "--repeat", "2"], io)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mb.to_string())
                .output()
                .unwrap();
            let lines = lines_of(&out, name);
            let peak = peak_mib(&out);
            if mb == RUN_SIZES_MB[0] {
                // The first run of each workload as `run` or `aws lambda invoke` saves it.
                let w = workload_of(&lines[0]).to_string();
                std::fs::write(
                    out_dir.join(format!("run-{w}-{mb}.json")),
                    serde_json::to_string_pretty(&lines[0]).unwrap() + "\n",
                )
                .unwrap();
                responses.extend(lines.into_iter().skip(1));
            } else {
                responses.extend(lines);
            }
            peaks_mib.resize(responses.len(), peak);
        }
        // The quick payload, for emulate.
        let quick =
            lambda_probe::request::parse(p.clone(), lambda_probe::workloads::Host { cores: 2 })
                .unwrap()
                .quick()
                .event();
        let quick_file = scratch.join(format!("{name}.json"));
        std::fs::write(&quick_file, quick.to_string()).unwrap();
        let out = command(
            &tools,
            &[
                "emulate",
                "--memory",
                EMULATE_SIZES_MB,
                "--payload",
                quick_file.to_str().unwrap(),
                "--runs",
                "2",
                "--probe",
                probe.to_str().unwrap(),
            ],
            io,
        )
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "emulate {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        emulate_lines.extend(lines_of(&out, name));
    }
    // One run that fails: more buffers than 128 MB holds, refused as OverBudget.
    let too_big = scratch.join("too-big.json");
    std::fs::write(
        &too_big,
        json!({"workload": "alloc", "buffers": 200, "buffer_bytes": 1048576}).to_string(),
    )
    .unwrap();
    let out = command(
        &tools,
        &[
            "emulate",
            "--memory",
            "128",
            "--payload",
            too_big.to_str().unwrap(),
            "--probe",
            probe.to_str().unwrap(),
        ],
        false,
    )
    .output()
    .unwrap();
    emulate_lines.extend(lines_of(&out, "too-big"));

    let jsonl = |v: &[Value]| v.iter().map(|l| l.to_string() + "\n").collect::<String>();
    std::fs::write(out_dir.join("responses.jsonl"), jsonl(&responses)).unwrap();
    std::fs::write(out_dir.join("emulate.jsonl"), jsonl(&emulate_lines)).unwrap();

    // CloudWatch exports of every response above, in the three shapes `report` reads.
    let typed: Vec<Response> = responses
        .iter()
        .map(|v| match Answer::from_value(v.clone()).unwrap() {
            Answer::Response(r) => *r,
            Answer::Error(e) => panic!("{e:?}"),
        })
        .collect();
    let messages = log_messages(&typed, &peaks_mib);
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, (stream, m))| json!({"logStreamName": stream, "timestamp": 1_764_806_400_000u64 + i as u64, "message": m, "ingestionTime": 1_764_806_400_500u64 + i as u64, "eventId": format!("{i}")}))
        .collect();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap() + "\n";
    std::fs::write(
        out_dir.join("cloudwatch-filter-log-events.json"),
        pretty(&json!({"events": events, "searchedLogStreams": []})),
    )
    .unwrap();
    // Logs Insights: `fields @timestamp, @message | filter type = "lambda-probe.result"`.
    let rows: Vec<Value> = messages
        .iter()
        .filter(|(_, m)| m.contains(lambda_probe::telemetry::RESULT_TYPE))
        .map(|(_, m)| json!([{"field": "@timestamp", "value": "2026-12-04 00:00:00.000"}, {"field": "@message", "value": m}]))
        .collect();
    std::fs::write(
        out_dir.join("cloudwatch-insights.json"),
        pretty(&json!({"status": "Complete", "results": rows})),
    )
    .unwrap();
    std::fs::write(
        out_dir.join("cloudwatch-insights-console.json"),
        pretty(&Value::Array(rows)),
    )
    .unwrap();
    // queries/report-lines.insights: `fields @timestamp, @message, @log, @logStream | filter
    // @type = "REPORT"` (no @log here: no account or log group exists for these runs).
    let rows: Vec<Value> = messages
        .iter()
        .filter(|(_, m)| m.starts_with("REPORT "))
        .map(|(stream, m)| json!([{"field": "@timestamp", "value": "2026-12-04 00:00:00.000"}, {"field": "@message", "value": m}, {"field": "@logStream", "value": stream}]))
        .collect();
    std::fs::write(
        out_dir.join("cloudwatch-insights-report-lines.json"),
        pretty(&json!({"status": "Complete", "results": rows})),
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
}
