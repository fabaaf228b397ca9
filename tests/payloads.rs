//! Every payload a user sends is one the probe accepts: each file in bench-payloads/ and the
//! `payload` of each Power Tuning input in bench-payloads/power-tuning/, through the probe's own
//! parser. The Power Tuning inputs carry what the state machine needs, spelled as it reads them;
//! none sweeps a size at which the probe refuses its payload; each runs one phase; and each
//! strategy, under Lambda's CPU model, picks one size by a clear margin instead of by noise.

mod common;

use common::bench_payloads;
use common::power_tuning::{
    inputs, refused_sizes, sweep_for, ASSUMED_FOOTPRINT_BYTES, CAPPED_SUFFIX, QUOTA_CAP_MB,
};
use lambda_probe::request;
use lambda_probe::workloads::{Host, WORKLOADS};
use serde_json::{json, Map, Value};

/// The placeholder `make tune` replaces with the function ARN from the stack outputs.
const ARN_PLACEHOLDER: &str = "{{ProbeFunctionArn}}";

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

/// Power Tuning refuses `num` below 5 and recommends 10 to 100: with its default trimmed mean
/// (the fastest and slowest 20% dropped), 10 invocations leave 6 to average, 5 only 3.
const MIN_NUM: u64 = 10;
const MAX_NUM: u64 = 100;

/// Step Functions refuses an execution input above 256 KiB.
const MAX_INPUT_BYTES: usize = 256 * 1024;

/// The field of a payload that lists its phases, for workloads that run several in one
/// invocation (pbkdf2's thread counts, io's concurrency levels). Power Tuning averages whole
/// invocations, so an input runs one phase.
fn phase_field(workload: &str) -> Option<&'static str> {
    match workload {
        "pbkdf2" => Some("threads"),
        "io" => Some("concurrency"),
        _ => None,
    }
}

const HOST: Host = Host { cores: 2 };

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
    let files = bench_payloads();
    assert!(files.len() >= 4, "bench-payloads/ holds too few payloads");
    let mut refused = Vec::new();
    for (name, payload) in &files {
        assert!(payload.is_object(), "{name}: a payload is a JSON object");
        if let Err(e) = parse(payload) {
            refused.push(format!("{name}: {e}"));
        }
    }
    assert!(
        refused.is_empty(),
        "refused payloads:\n{}",
        refused.join("\n")
    );
}

/// The bench payload an input's payload comes from: the same payload, or the same with its
/// phase list narrowed to one of the phases it lists (pbkdf2-multi's `threads: [1, 2]` gives
/// `[2]`). The comparisons stay in the bench payloads; Power Tuning gets one phase each.
fn bench_source(payload: &Value) -> Option<String> {
    let workload = workload_of(payload);
    bench_payloads().into_iter().find_map(|(name, bench)| {
        if &bench == payload {
            return Some(name);
        }
        let field = phase_field(&workload)?;
        let (mut b, mut p) = (bench.clone(), payload.clone());
        let phases = b.as_object_mut()?.remove(field)?;
        let phase = match p.as_object_mut()?.remove(field)? {
            Value::Array(one) if one.len() == 1 => one[0].clone(),
            _ => return None,
        };
        (b == p && phases.as_array()?.contains(&phase)).then_some(name)
    })
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
        Some(n) if (MIN_NUM..=MAX_NUM).contains(&n) => {}
        other => p.push(format!(
            "num must be an integer within {MIN_NUM}..={MAX_NUM} (Power Tuning recommends 10 to 100), got {other:?}"
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
        if obj.get("strategy").and_then(Value::as_str) != Some("balanced") {
            p.push("balancedWeight without strategy balanced does nothing".into());
        }
    }
    let values: Option<Vec<u64>> = obj
        .get("powerValues")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect());
    match values {
        Some(v) if !v.is_empty() && v.windows(2).all(|w| w[0] < w[1]) => {
            if v.iter().any(|m| !(128..=10_240).contains(m)) {
                p.push(format!("powerValues must lie within 128..=10240 MB, got {v:?}"));
            }
        }
        _ => p.push(format!(
            "powerValues must list sizes in MB, ascending (\"ALL\" stops at 3,008 MB and misses 1,769), got {:?}",
            obj.get("powerValues")
        )),
    }
    for flag in [
        "parallelInvocation",
        "includeOutputResults",
        "dryRun",
        "autoOptimize",
        "onlyColdStarts",
    ] {
        if obj.get(flag).is_some_and(|v| !v.is_boolean()) {
            p.push(format!("{flag} must be a boolean"));
        }
    }
    if obj.get("autoOptimize") == Some(&Value::Bool(true)) {
        p.push("autoOptimize would leave the function at the recommended size: not here".into());
    }
    if obj.contains_key("allowedExceptions") {
        p.push(
            "allowedExceptions keeps the failed invocations in Power Tuning's averages, where \
             a refusal's millisecond wins: take the sizes that fail out of powerValues instead"
                .into(),
        );
    }
    match obj.get("payload") {
        Some(payload @ Value::Object(_)) => {
            let workload = workload_of(payload);
            if let Some(field) = phase_field(&workload) {
                let n = payload.get(field).and_then(Value::as_array).map(Vec::len);
                if n != Some(1) {
                    p.push(format!(
                        "payload: one phase per input (Power Tuning averages whole invocations): \
                         `{field}` must list one entry, got {:?}",
                        payload.get(field)
                    ));
                }
            }
        }
        _ => p.push("payload must be the bench payload object".into()),
    }
    p
}

#[test]
fn power_tuning_inputs_have_what_the_state_machine_needs_and_payloads_the_probe_accepts() {
    let inputs = inputs();
    let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    for required in [
        "pbkdf2-1-thread",
        "pbkdf2-2-threads",
        "io-concurrency-1",
        "io-concurrency-10",
        "alloc-reuse",
        "env-cold-starts",
    ] {
        assert!(
            names.contains(&required),
            "power-tuning/{required}.json is missing"
        );
    }

    let mut problems = Vec::new();
    for (name, input) in &inputs {
        let size = serde_json::to_string(input).unwrap().len();
        if size > MAX_INPUT_BYTES {
            problems.push(format!(
                "{name}: {size} bytes, above Step Functions' 256 KiB input limit"
            ));
        }
        problems.extend(
            input_problems(input)
                .into_iter()
                .map(|e| format!("{name}: {e}")),
        );
        let Some(payload) = input.get("payload") else {
            continue;
        };
        let workload = workload_of(payload);
        if !WORKLOADS.contains(&workload.as_str()) {
            problems.push(format!("{name}: unknown workload {workload:?}"));
        } else if let Err(e) = parse(payload) {
            problems.push(format!("{name}: the probe refuses the payload: {e}"));
        }
        if bench_source(payload).is_none() {
            problems.push(format!(
                "{name}: its payload is no bench payload, nor one phase of one"
            ));
        }

        // Every input has a variant for accounts held to 3,008 MB, with the same payload.
        if let Some(base) = name.strip_suffix(CAPPED_SUFFIX) {
            match inputs.iter().find(|(n, _)| n == base) {
                Some((_, full)) => {
                    for key in ["payload", "num", "onlyColdStarts", "parallelInvocation"] {
                        if full.get(key) != input.get(key) {
                            problems.push(format!("{name}: {key} differs from {base}'s"));
                        }
                    }
                }
                None => problems.push(format!("{name}: no {base}.json to cap")),
            }
        } else if !names.contains(&format!("{name}{CAPPED_SUFFIX}").as_str()) {
            problems.push(format!(
                "{name}: no {name}{CAPPED_SUFFIX}.json for accounts held to {QUOTA_CAP_MB} MB"
            ));
        }
    }
    let cold: Vec<&str> = inputs
        .iter()
        .filter(|(_, i)| i["onlyColdStarts"] == true)
        .map(|(n, _)| n.as_str())
        .collect();
    if cold.is_empty() {
        problems.push("no input measures cold starts (onlyColdStarts: true)".into());
    }
    assert!(
        problems.is_empty(),
        "Power Tuning inputs:\n{}",
        problems.join("\n")
    );
}

/// Each input sweeps exactly its sizes (all of them, or those up to 3,008 MB) less those at
/// which the probe refuses its payload, computed with the probe's own budget code and an assumed
/// footprint of `ASSUMED_FOOTPRINT_BYTES`. A refused size in the sweep aborts the run, or, were
/// the refusal allowed, wins it with a millisecond's refusal.
#[test]
fn no_input_sweeps_a_size_at_which_the_probe_refuses_its_payload() {
    let mut problems = Vec::new();
    let mut report = Vec::new();
    for (name, input) in inputs() {
        let sweep = sweep_for(&name);
        let refused = match refused_sizes(&input["payload"], &sweep, ASSUMED_FOOTPRINT_BYTES) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        let refused_mb: Vec<u64> = refused.iter().map(|(m, _)| *m).collect();
        let expected: Vec<u64> = sweep
            .into_iter()
            .filter(|m| !refused_mb.contains(m))
            .collect();
        let listed: Vec<u64> = input["powerValues"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        for (m, why) in &refused {
            if listed.contains(m) {
                problems.push(format!("{name}: lists {m} MB, where the probe says: {why}"));
            }
        }
        if listed != expected {
            problems.push(format!(
                "{name}: powerValues must be {expected:?} (every size of the sweep the payload fits), got {listed:?}"
            ));
        }
        if expected.len() < 4 {
            problems.push(format!("{name}: only {expected:?} fit: too few to tune"));
        }
        report.push(format!("{name}: refused at {refused_mb:?}"));
    }
    eprintln!("{}", report.join("\n"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn refusals_are_computed_with_the_probe_guard() {
    let sizes = sweep_for("any");
    // No guard: nothing refused.
    let none = refused_sizes(&json!({"workload": "pbkdf2", "threads": [1]}), &sizes, 0).unwrap();
    assert!(none.is_empty(), "{none:?}");
    // io's bytes in flight are refused whatever the memory.
    let io = json!({"workload": "io", "concurrency": [64], "item_bytes": 400000});
    let all = refused_sizes(&io, &sizes, 0).unwrap();
    assert_eq!(all.len(), sizes.len());
    assert!(all[0].1.contains("in flight"), "{:?}", all[0]);
    // The memory guard: 100 MiB fits from 256 MB on, not in 128 MB with the assumed footprint;
    // a larger footprint refuses more, and 10 GiB fits nowhere.
    let alloc = json!({"workload": "alloc", "buffers": 100, "buffer_bytes": 1048576});
    let r = refused_sizes(&alloc, &sizes, ASSUMED_FOOTPRINT_BYTES).unwrap();
    assert_eq!(r.iter().map(|(m, _)| *m).collect::<Vec<_>>(), [128]);
    assert!(r[0].1.contains("alloc: the request needs"), "{}", r[0].1);
    let r = refused_sizes(&alloc, &sizes, 200 << 20).unwrap();
    assert_eq!(r.iter().map(|(m, _)| *m).collect::<Vec<_>>(), [128, 256]);
    let huge = json!({"workload": "memset", "bytes": 10u64 << 30});
    assert_eq!(refused_sizes(&huge, &sizes, 0).unwrap().len(), sizes.len());
    // Other refusals are errors, not sizes.
    assert!(refused_sizes(&json!({"workload": "pbkdf2", "iterations": 0}), &sizes, 0).is_err());
}

// ---- does each strategy choose?

/// Lambda's documented CPU model, from the probe's one copy of it (`lambda_model`): at M MB a
/// function gets M / 1,769 vCPU, on the cores it sees; a phase that keeps `threads` busy runs at
/// the least of the three.
fn vcpu(memory_mb: u64, threads: u64) -> f64 {
    lambda_probe::lambda_model::usable_vcpu(memory_mb as u32, threads as f64).0
}

/// The smallest margin by which a strategy may pick its size: Power Tuning compares trimmed
/// means of a few invocations, so a winner within a few percent of the runner-up is noise.
const MIN_MARGIN: f64 = 0.05;

/// t(M): an invocation's duration at M MB, in arbitrary units.
type Curve = Box<dyn Fn(u64) -> f64>;

/// How an input's duration depends on memory, in the model the test holds it to: each curve is
/// t(M) in arbitrary units; a strategy must choose under every curve of its family.
fn duration_models(input: &Value) -> Vec<(String, Curve)> {
    let payload = &input["payload"];
    match workload_of(payload).as_str() {
        // CPU-bound: pbkdf2 on its threads, alloc and memset on one (page faults and memset).
        "pbkdf2" => {
            let threads = payload["threads"][0].as_u64().unwrap_or(1);
            vec![(
                format!("CPU-bound on {threads} thread(s)"),
                Box::new(move |m| 1.0 / vcpu(m, threads)),
            )]
        }
        "alloc" | "memset" => vec![(
            "CPU-bound on one thread".into(),
            Box::new(|m| 1.0 / vcpu(m, 1)),
        )],
        // io waits on the network, a cold start mostly on the sandbox: waiting plus CPU work of
        // up to as long again at one vCPU (README, "Power Tuning inputs", says so).
        _ => [0.0, 0.25, 0.5, 1.0]
            .into_iter()
            .map(|cpu| {
                (
                    format!("1 s waiting + {cpu} s CPU at one vCPU"),
                    Box::new(move |m| 1.0 + cpu / vcpu(m, 1)) as Curve,
                )
            })
            .collect(),
    }
}

/// Power Tuning's analyzer (lambda/analyzer.js) on per-size averages `(MB, duration, cost)`:
/// the chosen size and the margin by which it beat the runner-up (the runner-up's objective over
/// the winner's, less one). Mirrors:
///   cost:     stats.sort((p1, p2) => p1.cost === p2.cost ? p1.duration - p2.duration : p1.cost - p2.cost)
///   speed:    stats.sort((p1, p2) => p1.duration === p2.duration ? p1.cost - p2.cost : p1.duration - p2.duration)
///   balanced: const getValue = x => weight * x['cost'] / maxCost + (1 - weight) * x['duration'] / maxDuration;
///             stats.sort((x, y) => getValue(x) - getValue(y));  (weight: balancedWeight, default 0.5)
/// each returning stats[0]. Ties (equal objectives) count as margin 0.
fn analyze(stats: &[(u64, f64, f64)], strategy: &str, weight: f64) -> (u64, f64) {
    let max_cost = stats.iter().map(|s| s.2).fold(0.0, f64::max);
    let max_duration = stats.iter().map(|s| s.1).fold(0.0, f64::max);
    let objective = |s: &(u64, f64, f64)| match strategy {
        "cost" => s.2,
        "speed" => s.1,
        _ => weight * s.2 / max_cost + (1.0 - weight) * s.1 / max_duration,
    };
    // The exact-tie rule: equal cost goes to the faster, equal duration to the cheaper.
    let tie_break = |s: &(u64, f64, f64)| match strategy {
        "cost" => s.1,
        "speed" => s.2,
        _ => 0.0,
    };
    let mut sorted = stats.to_vec();
    sorted.sort_by(|a, b| {
        objective(a)
            .total_cmp(&objective(b))
            .then(tie_break(a).total_cmp(&tie_break(b)))
    });
    let margin = objective(&sorted[1]) / objective(&sorted[0]) - 1.0;
    (sorted[0].0, margin)
}

/// The winner and margin of `input`'s strategy under `model`; cost is duration × memory, as
/// Power Tuning prices the billed duration in proportion to the size.
fn choice(input: &Value, model: &dyn Fn(u64) -> f64) -> (u64, f64) {
    let stats: Vec<(u64, f64, f64)> = input["powerValues"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_u64)
        .map(|m| (m, model(m), model(m) * m as f64))
        .collect();
    let strategy = input["strategy"].as_str().unwrap_or("cost");
    let weight = input["balancedWeight"].as_f64().unwrap_or(0.5);
    analyze(&stats, strategy, weight)
}

#[test]
fn every_strategy_picks_one_size_by_a_clear_margin() {
    let mut problems = Vec::new();
    let mut picks = Vec::new();
    for (name, input) in inputs() {
        for (model, t) in duration_models(&input) {
            let (size, margin) = choice(&input, &t);
            picks.push(format!(
                "{name} ({}): {size} MB by {:.1}% ({model})",
                input["strategy"],
                margin * 100.0
            ));
            if margin < MIN_MARGIN {
                problems.push(format!(
                    "{name}: strategy {} picks {size} MB by only {:.1}% when the input is {model}: \
                     that is noise, not a choice",
                    input["strategy"],
                    margin * 100.0
                ));
            }
        }
    }
    eprintln!("{}", picks.join("\n"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_strategy_check_catches_a_flat_range() {
    let full: Vec<u64> = sweep_for("any");
    let input = |strategy: &str, threads: u64| {
        json!({"strategy": strategy, "powerValues": full,
               "payload": {"workload": "pbkdf2", "threads": [threads]}})
    };
    let one_thread = |m| 1.0 / vcpu(m, 1);
    // cost is flat up to 1,769 MB and speed from it on: both pick by noise.
    assert!(choice(&input("cost", 1), &one_thread).1 < 1e-9);
    assert!(choice(&input("speed", 1), &one_thread).1 < 1e-9);
    // balanced has one knee: one vCPU for one thread, two for two.
    assert_eq!(choice(&input("balanced", 1), &one_thread).0, 1769);
    assert_eq!(choice(&input("balanced", 2), &|m| 1.0 / vcpu(m, 2)).0, 3538);
    // The analyzer mirror breaks exact cost ties on speed, as Power Tuning's does.
    assert_eq!(
        analyze(&[(128, 2.0, 1.0), (256, 1.0, 1.0)], "cost", 0.5),
        (256, 0.0)
    );
}

#[test]
fn the_input_checks_catch_what_power_tuning_would_trip_on() {
    let good = inputs()
        .into_iter()
        .find(|(n, _)| n == "pbkdf2-1-thread")
        .expect("pbkdf2-1-thread")
        .1;
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
                o.insert("num".into(), 5.into());
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
                o.insert("allowedExceptions".into(), json!(["OverBudget"]));
            }),
        ),
        (
            "unknown key",
            broken(&|o| {
                o.insert("allowedException".into(), json!(["OverBudget"]));
            }),
        ),
        (
            "payload",
            broken(&|o| {
                o.insert("payload".into(), "{}".into());
            }),
        ),
        (
            "one phase",
            broken(&|o| {
                o.insert(
                    "payload".into(),
                    json!({"workload": "pbkdf2", "threads": [1, 2]}),
                );
            }),
        ),
        (
            "balancedWeight without",
            broken(&|o| {
                o.insert("strategy".into(), "cost".into());
            }),
        ),
    ];
    for (needle, problems) in cases {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{needle}: {problems:?}"
        );
    }
    // A phase of a bench payload is one; an invented payload is not.
    let two = json!({"workload":"pbkdf2","hash":"sha512","iterations":1000000,"passwords":4,"threads":[2]});
    assert_eq!(bench_source(&two).as_deref(), Some("pbkdf2-multi.json"));
    let three = json!({"workload":"pbkdf2","hash":"sha512","iterations":1000000,"passwords":4,"threads":[7]});
    assert_eq!(bench_source(&three), None);
    // The parser half can fail too.
    assert!(parse(&json!({"workload": "pbkdf2", "iterations": 0})).is_err());
    assert!(parse(&json!({"workload": "no-such-workload"})).is_err());
}

/// The keys of an LMI experiment (bench-payloads/README.md, "Lambda Managed Instances
/// experiments"), as scripts/aws.py reads them.
const LMI_KEYS: [&str; 5] = ["about", "payload", "vcpus", "concurrency", "rounds"];
/// scripts/aws.py's bounds: rounds per level, invocations per experiment.
const LMI_MAX_ROUNDS: u64 = 20;
const LMI_MAX_INVOCATIONS: u64 = 1000;

/// What is wrong with one LMI experiment (`name` its file stem).
fn lmi_problems(name: &str, e: &Value) -> Vec<String> {
    use lambda_probe::lambda_model::managed;
    let mut p = Vec::new();
    let Some(obj) = e.as_object() else {
        return vec![format!("{name}: not a JSON object")];
    };
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    let mut want = LMI_KEYS.to_vec();
    want.sort();
    if keys != want {
        p.push(format!("{name}: keys {keys:?}, want exactly {want:?}"));
    }
    if e["about"].as_str().is_none_or(|a| a.len() <= 20) {
        p.push(format!("{name}: `about` says what it shows"));
    }
    let vcpus = e["vcpus"].as_u64().unwrap_or(0);
    if vcpus == 0 {
        p.push(format!("{name}: `vcpus` is a whole number of vCPUs"));
    }
    // The payload: a file of bench-payloads/ the probe accepts on an environment of that size.
    let payload = e["payload"]
        .as_str()
        .and_then(|f| bench_payloads().into_iter().find(|(n, _)| n == f));
    let workload = match &payload {
        Some((file, v)) => {
            if let Err(err) = request::parse(
                v.clone(),
                Host {
                    cores: vcpus.max(1) as usize,
                },
            ) {
                p.push(format!("{name}: {file} is refused: {err}"));
            }
            workload_of(v)
        }
        None => {
            p.push(format!(
                "{name}: `payload` must name a file of bench-payloads/, got {}",
                e["payload"]
            ));
            String::new()
        }
    };
    // The levels: ascending from 1, all within one environment at the template's default
    // concurrency (AWS's Rust default, 8 per vCPU), so a process can serve all of them.
    let levels: Vec<u64> = e["concurrency"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let fits = managed::rust_default_concurrency(vcpus as f64) as u64;
    if levels.is_empty()
        || levels.len() != e["concurrency"].as_array().map_or(0, Vec::len)
        || levels[0] != 1
        || levels.windows(2).any(|w| w[0] >= w[1])
        || levels.iter().any(|&k| k > fits)
    {
        p.push(format!(
            "{name}: `concurrency` must rise from 1 to at most {fits} (8 per vCPU), got {}",
            e["concurrency"]
        ));
    }
    // A CPU-bound experiment crosses the vCPUs: 1 up to twice as many.
    if workload == "pbkdf2" && levels.last() != Some(&(2 * vcpus)) {
        p.push(format!(
            "{name}: a pbkdf2 experiment runs up to 2 × vcpus = {} at once",
            2 * vcpus
        ));
    }
    let rounds = e["rounds"].as_u64().unwrap_or(0);
    if !(1..=LMI_MAX_ROUNDS).contains(&rounds) {
        p.push(format!("{name}: `rounds` is 1..={LMI_MAX_ROUNDS}"));
    }
    if levels.iter().sum::<u64>() * rounds > LMI_MAX_INVOCATIONS {
        p.push(format!(
            "{name}: more than {LMI_MAX_INVOCATIONS} invocations"
        ));
    }
    p
}

#[test]
fn every_lmi_experiment_names_a_payload_and_fits_one_environment() {
    let dir = common::repo().join("bench-payloads/lmi");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("bench-payloads/lmi/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["pbkdf2-1-thread", "io-sequential"] {
        assert!(
            names.iter().any(|n| n == want),
            "lmi/{want}.json is missing"
        );
    }
    let mut problems = Vec::new();
    for (name, path) in names.iter().zip(&files) {
        let e: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        problems.extend(lmi_problems(name, &e));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The checks fail when they should.
    let good: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("pbkdf2-1-thread.json")).unwrap())
            .unwrap();
    type Edit = fn(&mut Value);
    let cases: [(&str, Edit); 6] = [
        ("keys", |e| e["colour"] = json!("red")),
        ("`payload`", |e| e["payload"] = json!("no-such.json")),
        ("must rise from 1", |e| e["concurrency"] = json!([2, 4])),
        ("at most 16", |e| e["concurrency"] = json!([1, 2, 4, 32])),
        ("2 × vcpus", |e| e["concurrency"] = json!([1, 2, 3])),
        ("`rounds`", |e| e["rounds"] = json!(0)),
    ];
    for (needle, edit) in cases {
        let mut e = good.clone();
        edit(&mut e);
        let p = lmi_problems("edited", &e);
        assert!(
            p.iter().any(|x| x.contains(needle)),
            "{needle}: went unnoticed: {p:?}"
        );
    }
}
