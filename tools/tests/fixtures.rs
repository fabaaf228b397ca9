//! The result fixtures every reader is tested on (tests/fixtures/results/ at the repository's
//! root), and the test that keeps them honest: produced by real runs of every workload, not
//! written by hand.
//!
//! `make fixtures` regenerates them (as root: the emulate part creates cgroups; io runs against
//! a local moto endpoint through scripts/local_dynamodb.py). The regeneration is an ignored
//! test here, so it runs only when asked.

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
];
/// The memory sizes of the fixture runs (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE` for run, the
/// emulated size for emulate).
const RUN_SIZES_MB: [u32; 3] = [128, 1769, 3538];
const EMULATE_SIZES_MB: &str = "128,1769";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

fn dir() -> PathBuf {
    root().join("tests/fixtures/results")
}

fn payload(name: &str) -> Value {
    let path = root().join(format!("bench-payloads/{name}.json"));
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
    let tools = PathBuf::from(env!("CARGO_BIN_EXE_lambda-probe-tools"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "lambda-probe",
            "--bin",
            "lambda-probe",
        ])
        .current_dir(root())
        .status()
        .unwrap();
    assert!(status.success());
    let probe = tools.with_file_name("lambda-probe");
    (probe, tools)
}

/// A command run with the io workload's local table when the payload needs one.
fn command(program: &Path, args: &[&str], io: bool) -> Command {
    if io {
        let mut c = Command::new(root().join(".venv/bin/python"));
        c.arg(root().join("scripts/local_dynamodb.py"))
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

/// CloudWatch Logs as the function would leave them for `responses`: the platform's START,
/// the probe's own log lines (telemetry::log_lines), END and REPORT, per invocation.
fn log_messages(responses: &[Response]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, r) in responses.iter().enumerate() {
        let id = format!("req-{i}");
        let wall = r.result.common().wall_ms;
        out.push(format!("START RequestId: {id} Version: $LATEST"));
        out.extend(lambda_probe::telemetry::log_lines(r, &id, true));
        out.push(format!("END RequestId: {id}"));
        out.push(format!(
            "REPORT RequestId: {id}\tDuration: {wall:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: 20 MB",
            wall.ceil() as u64 + 1,
            r.environment.memory_mb.unwrap_or(128)
        ));
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
    let mut emulate_lines: Vec<Value> = Vec::new();
    for name in FIXTURE_PAYLOADS {
        let p = payload(name);
        let io = workload_of(&p) == "io";
        let file = root().join(format!("bench-payloads/{name}.json"));
        let file = file.to_str().unwrap();
        for mb in RUN_SIZES_MB {
            let out = command(&probe, &["run", file, "--quick", "--repeat", "2"], io)
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mb.to_string())
                .output()
                .unwrap();
            let lines = lines_of(&out, name);
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
    let messages = log_messages(&typed);
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"logStreamName": "2026/12/04/[$LATEST]fixture", "timestamp": 1_764_806_400_000u64 + i as u64, "message": m, "ingestionTime": 1_764_806_400_500u64 + i as u64, "eventId": format!("{i}")}))
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
        .filter(|m| m.contains(lambda_probe::telemetry::RESULT_TYPE))
        .map(|m| json!([{"field": "@timestamp", "value": "2026-12-04 00:00:00.000"}, {"field": "@message", "value": m}]))
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
    let _ = std::fs::remove_dir_all(&scratch);
}
