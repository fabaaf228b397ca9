//! Every payload a user sends is one the probe accepts: each file in bench-payloads/ and the
//! `payload` of each Power Tuning input in bench-payloads/power-tuning/, through the probe's own
//! parser. The Power Tuning inputs carry what the state machine needs, spelled as it reads them.

use lambda_probe::error::ErrorType;
use lambda_probe::request;
use lambda_probe::workloads::{Host, WORKLOADS};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The placeholder `make tune` replaces with the function ARN from the stack outputs.
const ARN_PLACEHOLDER: &str = "{{ProbeFunctionArn}}";

/// The memory sizes every input sweeps: both sides of each point where Lambda's CPU model changes
/// (1 vCPU at 1,769 MB; 2 → 3 → 4 → 5 → 6 visible cores at 3,009 / 5,308 / 7,077 / 8,846 MB).
const POWER_VALUES: [u64; 16] = [
    128, 256, 512, 1024, 1536, 1769, 2048, 3008, 3009, 5307, 5308, 7076, 7077, 8845, 8846, 10240,
];

/// The input keys Power Tuning 4.x reads; anything else is a typo it would silently ignore.
const POWER_TUNING_KEYS: &[&str] = &[
    "lambdaARN",
    "powerValues",
    "num",
    "payload",
    "payloadS3",
    "parallelInvocation",
    "strategy",
    "balancedWeight",
    "autoOptimize",
    "autoOptimizeAlias",
    "dryRun",
    "preProcessorARN",
    "postProcessorARN",
    "discardTopBottom",
    "sleepBetweenRunsMs",
    "disablePayloadLogs",
    "includeOutputResults",
    "onlyColdStarts",
    "allowedExceptions",
];

/// Step Functions refuses an execution input above 256 KiB.
const MAX_INPUT_BYTES: u64 = 256 * 1024;

const HOST: Host = Host { cores: 2 };

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn json_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    files.sort();
    files
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn workload_of(payload: &Value) -> String {
    payload
        .get("workload")
        .and_then(Value::as_str)
        .unwrap_or("env")
        .to_string()
}

/// The probe's verdict on a payload: Ok, or the error it would answer with.
fn parse(payload: &Value) -> Result<(), String> {
    request::parse(payload.clone(), HOST)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn every_bench_payload_is_accepted_by_the_parser() {
    let files = json_files(&repo().join("bench-payloads"));
    assert!(files.len() >= 4, "bench-payloads/ holds too few payloads");
    let mut refused = Vec::new();
    for (name, path) in &files {
        let payload = read_json(path);
        assert!(payload.is_object(), "{name}: a payload is a JSON object");
        if let Err(e) = parse(&payload) {
            refused.push(format!("{name}.json: {e}"));
        }
    }
    assert!(
        refused.is_empty(),
        "refused payloads:\n{}",
        refused.join("\n")
    );
}

fn error_type_names() -> Vec<&'static str> {
    ErrorType::ALL.iter().map(ErrorType::as_str).collect()
}

/// What is wrong with one Power Tuning input, as the state machine would see it.
fn input_problems(input: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let Some(obj) = input.as_object() else {
        return vec!["the input is not a JSON object".into()];
    };
    for key in obj.keys() {
        if !POWER_TUNING_KEYS.contains(&key.as_str()) {
            p.push(format!(
                "unknown key {key:?} (Power Tuning would ignore it)"
            ));
        }
    }
    if obj.get("lambdaARN").and_then(Value::as_str) != Some(ARN_PLACEHOLDER) {
        p.push(format!(
            "lambdaARN must be the placeholder {ARN_PLACEHOLDER:?} that make tune fills in"
        ));
    }
    match obj.get("num").and_then(Value::as_u64) {
        Some(n) if n >= 5 => {}
        other => p.push(format!(
            "num must be an integer >= 5 (Power Tuning's minimum), got {other:?}"
        )),
    }
    match obj.get("strategy").and_then(Value::as_str) {
        Some("cost" | "speed" | "balanced") => {}
        other => p.push(format!(
            "strategy must be cost, speed or balanced, got {other:?}"
        )),
    }
    if let Some(w) = obj.get("balancedWeight") {
        if !w.as_f64().is_some_and(|w| (0.0..=1.0).contains(&w)) {
            p.push(format!("balancedWeight must be within 0..=1, got {w}"));
        }
    }
    let values: Option<Vec<u64>> = obj
        .get("powerValues")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect());
    if values.as_deref() != Some(&POWER_VALUES[..]) {
        p.push(format!(
            "powerValues must be {POWER_VALUES:?} (every side of the CPU model's steps), got {:?}",
            obj.get("powerValues")
        ));
    }
    for flag in [
        "parallelInvocation",
        "includeOutputResults",
        "dryRun",
        "autoOptimize",
    ] {
        if obj.get(flag).is_some_and(|v| !v.is_boolean()) {
            p.push(format!("{flag} must be a boolean"));
        }
    }
    if obj.get("autoOptimize") == Some(&Value::Bool(true)) {
        p.push("autoOptimize would leave the function at the recommended size: not here".into());
    }
    if let Some(allowed) = obj.get("allowedExceptions") {
        let known = error_type_names();
        match allowed.as_array() {
            Some(list) if !list.is_empty() => {
                for e in list {
                    if !e.as_str().is_some_and(|s| known.contains(&s)) {
                        p.push(format!(
                            "allowedExceptions: {e} is not one of the probe's errorTypes {known:?}"
                        ));
                    }
                }
            }
            _ => p.push("allowedExceptions must be a non-empty list of errorTypes".into()),
        }
    }
    if !obj.get("payload").is_some_and(Value::is_object) {
        p.push("payload must be the bench payload object".into());
    }
    p
}

#[test]
fn power_tuning_inputs_have_what_the_state_machine_needs_and_payloads_the_probe_accepts() {
    let dir = repo().join("bench-payloads/power-tuning");
    let inputs = json_files(&dir);
    let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    for required in [
        "pbkdf2-single",
        "pbkdf2-multi",
        "io-sequential",
        "io-concurrent",
        "alloc-reuse",
    ] {
        assert!(
            names.contains(&required),
            "power-tuning/{required}.json is missing"
        );
    }

    let mut problems = Vec::new();
    for (name, path) in &inputs {
        let size = std::fs::metadata(path).unwrap().len();
        if size > MAX_INPUT_BYTES {
            problems.push(format!(
                "{name}: {size} bytes, above Step Functions' 256 KiB input limit"
            ));
        }
        let input = read_json(path);
        problems.extend(
            input_problems(&input)
                .into_iter()
                .map(|e| format!("{name}: {e}")),
        );
        let Some(payload) = input.get("payload") else {
            continue;
        };

        // The input runs the bench payload of the same name, unchanged.
        let bench = repo().join("bench-payloads").join(format!("{name}.json"));
        let workload = workload_of(payload);
        let exists = WORKLOADS.contains(&workload.as_str());
        if bench.exists() {
            if &read_json(&bench) != payload {
                problems.push(format!(
                    "{name}: payload differs from bench-payloads/{name}.json"
                ));
            }
        } else {
            problems.push(format!("{name}: no bench-payloads/{name}.json to match"));
        }

        if !exists {
            problems.push(format!("{name}: unknown workload {workload:?}"));
        } else if let Err(e) = parse(payload) {
            problems.push(format!("{name}: the probe refuses the payload: {e}"));
        }
    }
    assert!(
        problems.is_empty(),
        "Power Tuning inputs:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_input_checks_catch_what_power_tuning_would_trip_on() {
    let good = read_json(&repo().join("bench-payloads/power-tuning/pbkdf2-single.json"));
    assert!(
        input_problems(&good).is_empty(),
        "{:?}",
        input_problems(&good)
    );

    let broken = |edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut v = good.clone();
        edit(v.as_object_mut().unwrap());
        input_problems(&v)
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "num",
            broken(&|o| {
                o.insert("num".into(), 4.into());
            }),
        ),
        (
            "lambdaARN",
            broken(&|o| {
                o.remove("lambdaARN");
            }),
        ),
        (
            "strategy",
            broken(&|o| {
                o.insert("strategy".into(), "cheapest".into());
            }),
        ),
        (
            "powerValues",
            broken(&|o| {
                o.insert("powerValues".into(), "ALL".into());
            }),
        ),
        (
            "allowedExceptions",
            broken(&|o| {
                o.insert(
                    "allowedExceptions".into(),
                    serde_json::json!(["OutOfMemory"]),
                );
            }),
        ),
        (
            "unknown key",
            broken(&|o| {
                o.insert("allowedException".into(), serde_json::json!(["OverBudget"]));
            }),
        ),
        (
            "payload",
            broken(&|o| {
                o.insert("payload".into(), "{}".into());
            }),
        ),
    ];
    for (needle, problems) in cases {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{needle}: {problems:?}"
        );
    }
    // The parser half can fail too.
    assert!(parse(&serde_json::json!({"workload": "pbkdf2", "iterations": 0})).is_err());
    assert!(parse(&serde_json::json!({"workload": "no-such-workload"})).is_err());
}
