//! Power Tuning reads each invocation's duration from `LogResult`, the last 4 KB of the
//! invocation's log, and takes that text for JSON logs when it starts with `{`, which fails on
//! this function's Text logs. For the payload of every input in bench-payloads/power-tuning/,
//! the lines the function really prints (through the Runtime API emulator, `cargo lambda watch`;
//! io against moto with a table), framed by the lines Lambda writes around them (START, END,
//! REPORT, and INIT_START plus `Init Duration` on a cold start), must give a tail that Power
//! Tuning reads as text with a duration, wherever the 4 KB cut lands.

mod common;

use common::moto::Moto;
use common::power_tuning::{inputs, ASSUMED_FOOTPRINT_BYTES};
use common::Watch;
use lambda_probe::telemetry::{LOG_TAIL_BYTES, PLATFORM_TAIL_MAX_BYTES};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TABLE: &str = "probe-items";
/// Lambda's request ids are UUIDs: 36 characters in every START, END and REPORT line.
const REQUEST_ID: &str = "8f5c3e7a-2b1d-4c6e-9a0f-3d2e1b4c5a69";
/// How long the emulator may take to forward the function's stdout to its log.
const LOG_WAIT: Duration = Duration::from_secs(30);

// ---- Power Tuning's reading of a log tail

/// A field Power Tuning extracts from the tail (lambda/utils.js `DURATIONS`).
#[derive(Clone, Copy, Debug)]
enum Field {
    Duration,
    Billed,
    Init,
}

/// Power Tuning 4.4.0's `extractDuration` (lambda/utils.js), on the text of one `LogResult`:
///
/// ```js
/// module.exports.extractDuration = (log, durationType) => {
///     if (!durationType){
///         durationType = DURATIONS.durationMs; // default to `durationMs`
///     }
///     if (log.charAt(0) === '{') {
///         // extract from JSON (multi-line)
///         return utils.extractDurationFromJSON(log, durationType);
///     } else {
///         // extract from text
///         return utils.extractDurationFromText(log, durationType);
///     }
/// };
/// module.exports.extractDurationFromText = (log, durationType) => {
///     let regex = getRegex(durationType);
///     const match = regex.exec(log);
///     // Default to 0 if the specific duration is not found in the log line
///     if (match == null) return 0;
///     return parseFloat(match[1], 10);
/// };
/// // getRegex:
/// case DURATIONS.billedDurationMs: return /\tBilled Duration: (\d+) ms/m;
/// case DURATIONS.initDurationMs:   return /\tInit Duration: (\d+\.\d+) ms/m;
/// case DURATIONS.durationMs:       return /\tDuration: (\d+\.\d+) ms/m;
/// ```
///
/// `extractDurationFromJSON` first throws `Invalid JSON log does not contain platform.report`
/// on a tail without that record, which a Text log never has (4.3.5 and 4.3.6 end the same way
/// with `Unrecognized JSON log`); the executor fails, and the whole run with it.
fn extract_duration(log: &str, field: Field) -> Result<f64, String> {
    if log.starts_with('{') {
        if !log.contains("platform.report") {
            return Err("Invalid JSON log does not contain platform.report".into());
        }
        return Err("the JSON path, on a Text-format log".into());
    }
    let (prefix, decimal) = match field {
        Field::Billed => ("\tBilled Duration: ", false),
        Field::Init => ("\tInit Duration: ", true),
        Field::Duration => ("\tDuration: ", true),
    };
    Ok(first_match(log, prefix, decimal).unwrap_or(0.0))
}

/// The number of the first `<prefix>(\d+) ms` (or `(\d+\.\d+)`) in `log`, as `regex.exec` finds.
fn first_match(log: &str, prefix: &str, decimal: bool) -> Option<f64> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    for (i, _) in log.match_indices(prefix) {
        let rest = &log[i + prefix.len()..];
        let mut end = digits(rest);
        if end == 0 {
            continue;
        }
        if decimal {
            if rest.as_bytes().get(end) != Some(&b'.') {
                continue;
            }
            let frac = digits(&rest[end + 1..]);
            if frac == 0 {
                continue;
            }
            end += 1 + frac;
        }
        if rest[end..].starts_with(" ms") {
            return rest[..end].parse().ok();
        }
    }
    None
}

/// `Buffer.from(LogResult, 'base64').toString()` of the last `LOG_TAIL_BYTES` of `log`.
fn tail(log: &[u8]) -> String {
    String::from_utf8_lossy(&log[log.len().saturating_sub(LOG_TAIL_BYTES)..]).into_owned()
}

// ---- the log Lambda writes around the function's lines (Text format)

/// One invocation's log: INIT_START on a cold start, START, the function's lines, END, REPORT.
fn invocation_log(lines: &[String], cold: bool, end_and_report: &str) -> Vec<u8> {
    let mut log = String::new();
    if cold {
        log.push_str(
            "INIT_START Runtime Version: provided:al2023.v97\tRuntime Version ARN: \
             arn:aws:lambda:us-east-1::runtime:5f0b8fbd5b8b7c0e1ddc6d9a3b4e8a2f3c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b\n",
        );
    }
    log.push_str(&format!("START RequestId: {REQUEST_ID} Version: 7\n"));
    for l in lines {
        log.push_str(l);
        log.push('\n');
    }
    log.push_str(end_and_report);
    log.into_bytes()
}

/// What one REPORT line says, as Lambda spells its figures.
struct Report {
    duration: &'static str,
    billed: &'static str,
    memory_mb: u64,
    max_used: &'static str,
    init: Option<&'static str>,
}

impl Report {
    fn end_and_report(&self) -> String {
        let mut s = format!(
            "END RequestId: {REQUEST_ID}\nREPORT RequestId: {REQUEST_ID}\tDuration: {} ms\t\
             Billed Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
            self.duration, self.billed, self.memory_mb, self.max_used
        );
        if let Some(init) = self.init {
            s.push_str(&format!("Init Duration: {init} ms\t"));
        }
        s.push('\n');
        s
    }
}

/// REPORT lines for a size, each figure from its narrowest to its widest spelling: durations
/// from under 1 ms to 900 s (Lambda's limit), memory used from 1 digit to the size's, with and
/// without Init Duration.
fn reports(memory_mb: u64) -> Vec<Report> {
    const DURATIONS: [(&str, &str); 12] = [
        ("0.95", "1"),
        ("0.95", "17"),
        ("12.34", "13"),
        ("12.34", "130"),
        ("123.45", "124"),
        ("123.45", "1240"),
        ("1234.56", "1235"),
        ("1234.56", "12350"),
        ("12345.67", "12346"),
        ("12345.67", "123460"),
        ("123456.78", "123457"),
        ("899999.99", "910000"),
    ];
    const USED: [&str; 5] = ["9", "19", "119", "1119", "10239"];
    const INIT: [Option<&str>; 6] = [
        None,
        Some("0.98"),
        Some("15.95"),
        Some("150.12"),
        Some("1500.34"),
        Some("10000.00"),
    ];
    let mut out = Vec::new();
    for (duration, billed) in DURATIONS {
        for max_used in USED
            .iter()
            .filter(|u| u.parse::<u64>().unwrap() <= memory_mb)
        {
            for init in INIT {
                out.push(Report {
                    duration,
                    billed,
                    memory_mb,
                    max_used,
                    init,
                });
            }
        }
    }
    out
}

/// What is wrong with the tails of one invocation's log whose function lines are `lines`: every
/// REPORT spelling at every size, cold and warm; and the first byte of the tail for every length
/// of what Lambda writes after the lines, up to `PLATFORM_TAIL_MAX_BYTES`.
fn tail_problems(lines: &[String], sizes: &[u64]) -> Vec<String> {
    let mut p = Vec::new();
    for &memory_mb in sizes {
        for r in reports(memory_mb) {
            let cold = r.init.is_some();
            let log = invocation_log(lines, cold, &r.end_and_report());
            let text = tail(&log);
            let want = [
                (Field::Duration, r.duration.parse::<f64>().unwrap()),
                (Field::Billed, r.billed.parse().unwrap()),
                (Field::Init, r.init.map_or(0.0, |i| i.parse().unwrap())),
            ];
            for (field, expected) in want {
                match extract_duration(&text, field) {
                    Ok(v) if v == expected => {}
                    other => p.push(format!(
                        "{memory_mb} MB, {} bytes of END + REPORT{}: {field:?} read as {other:?}, \
                         not {expected}; the tail starts {:?}",
                        r.end_and_report().len(),
                        if cold { ", cold" } else { "" },
                        &text[..text.len().min(80)]
                    )),
                }
            }
        }
    }
    for cold in [false, true] {
        for after in 1..=PLATFORM_TAIL_MAX_BYTES {
            let mut log = invocation_log(lines, cold, "");
            log.extend(std::iter::repeat_n(b'\n', after));
            let first = tail(&log).chars().next();
            if first == Some('{') {
                p.push(format!(
                    "with {after} bytes after the function's lines{}, the tail starts on a brace",
                    if cold { " (cold)" } else { "" }
                ));
            }
        }
    }
    p
}

// ---- the function's own lines, through the emulator

/// The complete lines the emulator's log holds from byte `from` on.
fn log_lines_from(watch: &Watch, from: usize) -> Vec<String> {
    let text = std::fs::read(&watch.guard.log).unwrap_or_default();
    let text = String::from_utf8_lossy(&text[from.min(text.len())..]).into_owned();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| l.trim_end_matches('\n').to_string())
        .collect()
}

fn probe_line_type(line: &str) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    v["type"].as_str().map(str::to_string)
}

fn is_guard(line: &str) -> bool {
    line.starts_with("lambda-probe: log tail guard")
}

/// Invokes `payload`, then a fence (an env invocation without its result line), and returns the
/// response and the lines the function printed for `payload`: everything the log gained before
/// the fence's metrics line. The function prints nothing else, so any other line fails the test.
fn printed_lines(watch: &Watch, payload: &Value) -> (Value, Vec<String>) {
    let from = std::fs::metadata(&watch.guard.log).map_or(0, |m| m.len() as usize);
    let answer = watch.invoke(payload);
    assert_eq!(answer.status, 200, "{payload}: {:?}", answer.body);
    let fence = watch.invoke(&json!({"workload": "env", "log_result": false}));
    assert_eq!(fence.status, 200, "fence: {:?}", fence.body);
    let began = Instant::now();
    loop {
        let lines = log_lines_from(watch, from);
        // The fence's metrics line: the first env metrics line after the payload's result line.
        let result = lines
            .iter()
            .position(|l| probe_line_type(l).as_deref() == Some("lambda-probe.result"));
        let fence_at = result.and_then(|r| {
            lines.iter().skip(r + 1).position(|l| {
                probe_line_type(l).as_deref() == Some("lambda-probe.metrics")
                    && l.contains(r#""Workload":"env""#)
            })
        });
        if let (Some(r), Some(f)) = (result, fence_at) {
            let mine = lines[..r + 1 + f].to_vec();
            for l in &mine {
                assert!(
                    probe_line_type(l).is_some() || is_guard(l),
                    "{payload}: a line the probe does not print: {l:.200}"
                );
            }
            return (answer.body, mine);
        }
        assert!(
            began.elapsed() < LOG_WAIT,
            "{payload}: its lines did not reach the emulator's log in {LOG_WAIT:?}:\n{}",
            lines.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The payload as run here: pbkdf2 with fewer iterations (the debug build would take minutes per
/// million). That changes only the digits of a few figures in its lines, and the guard is
/// decided on the lines as printed, so the tail checks hold for the real run as for this one.
fn as_run_here(payload: &Value) -> Value {
    let mut p = payload.clone();
    if p["workload"] == "pbkdf2" {
        p["iterations"] = json!(2000);
    }
    p
}

#[test]
fn every_power_tuning_input_leaves_a_text_tail_with_its_duration() {
    let moto = Moto::start();
    moto.create_table(TABLE);
    let watch = Watch::start(&[
        ("TABLE_NAME", TABLE),
        ("AWS_ENDPOINT_URL_DYNAMODB", moto.url.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ]);

    // The first invocation starts the function (the emulator's and the build's own lines, the
    // runtime's start-up): they come before the lines under test.
    let first = watch.invoke(&json!({"workload": "env", "log_result": false}));
    assert_eq!(first.status, 200, "{:?}", first.body);
    let began = Instant::now();
    while !log_lines_from(&watch, 0)
        .iter()
        .any(|l| probe_line_type(l).is_some())
    {
        assert!(began.elapsed() < LOG_WAIT, "{}", watch.guard.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }

    // One run per distinct payload; each input checks the tails at its own sizes.
    let inputs = inputs();
    assert!(!inputs.is_empty());
    let mut runs: Vec<(Value, Value, Vec<String>)> = Vec::new();
    let mut problems = Vec::new();
    let mut guarded = Vec::new();
    for (name, input) in &inputs {
        let payload = &input["payload"];
        if !runs.iter().any(|(p, _, _)| p == payload) {
            let (response, lines) = printed_lines(&watch, &as_run_here(payload));
            assert!(
                response.get("errorType").is_none(),
                "{name}: {response:.300}"
            );
            if let Some(own) = response["summary"]["memory_budget"]["own_bytes"].as_u64() {
                assert!(
                    own <= ASSUMED_FOOTPRINT_BYTES,
                    "{name}: the probe held {own} bytes, more than the {ASSUMED_FOOTPRINT_BYTES} the \
                     Power Tuning inputs' sizes assume (tests/common/power_tuning.rs)"
                );
                eprintln!("{name}: the probe held {own} bytes when its need was checked");
            }
            runs.push((payload.clone(), response, lines));
        }
        let (_, _, lines) = runs.iter().find(|(p, _, _)| p == payload).unwrap();
        let sizes: Vec<u64> = input["powerValues"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        let printed: usize = lines.iter().map(|l| l.len() + 1).sum();
        let guard = lines.last().is_some_and(|l| is_guard(l));
        eprintln!(
            "{name}: {} lines, {printed} bytes{}",
            lines.len(),
            if guard { ", the last a tail guard" } else { "" }
        );
        if guard {
            guarded.push(name.clone());
            // Without its guard the same output would fail: the check can tell.
            let bare = &lines[..lines.len() - 1];
            assert!(
                !tail_problems(bare, &sizes[..1]).is_empty(),
                "{name}: its lines without the guard pass too, so this test proves nothing"
            );
        }
        problems.extend(
            tail_problems(lines, &sizes)
                .into_iter()
                .take(5)
                .map(|e| format!("{name}: {e}")),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // alloc's samples and io's per-call rows make long lines: those need the guard.
    for long in ["alloc-reuse", "io-concurrency-1", "io-concurrency-10"] {
        assert!(
            guarded.iter().any(|g| g == long),
            "{long}: expected a guarded tail, got guards for {guarded:?}"
        );
    }
}

#[test]
fn the_mirror_reads_lambda_text_and_refuses_a_json_start() {
    let report = Report {
        duration: "12.34",
        billed: "13",
        memory_mb: 512,
        max_used: "21",
        init: Some("15.95"),
    };
    let log = invocation_log(&["{\"a\":1}".to_string()], true, &report.end_and_report());
    let text = tail(&log);
    assert_eq!(extract_duration(&text, Field::Duration), Ok(12.34));
    assert_eq!(extract_duration(&text, Field::Billed), Ok(13.0));
    assert_eq!(extract_duration(&text, Field::Init), Ok(15.95));
    // A warm REPORT has no Init Duration: 0, as Power Tuning's text path says.
    let warm = Report {
        init: None,
        ..report
    };
    let text = tail(&invocation_log(&[], false, &warm.end_and_report()));
    assert_eq!(extract_duration(&text, Field::Init), Ok(0.0));
    // A tail that starts on a brace takes the JSON path, and fails.
    let cut = format!("{{\"x\":1}}\n{}", warm.end_and_report());
    assert!(extract_duration(&cut, Field::Duration).is_err());
    // A long JSON line with no guard after it: some cut lands on a brace.
    let long = vec![format!("[{}]", "{\"k\":1},".repeat(600))];
    assert!(!tail_problems(&long, &[128]).is_empty());
}
