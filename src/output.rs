//! The local door's command line, and the short human summary of a response.
//! Output formats live here, apart from measurement.

use crate::measure::Deadline;
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
lambda-probe: measure what a Lambda memory size buys.

Without arguments it is the Lambda function (custom runtime, `bootstrap`).

usage:
  lambda-probe run <payload.json | -> [--timeout-ms N] [--repeat N] [--summary]
      Run one payload here and print the response the function would return (or its error,
      {\"errorType\",\"errorMessage\"}, with exit status 1). --timeout-ms gives the run a
      deadline as Lambda's timeout does; --summary prints a short human summary instead.
      --repeat N (1..=1000) invokes the payload N times in this one process, as a warm
      sandbox would: one JSON line per invocation (the first cold_start true, the rest
      false), each with its own --timeout-ms deadline; an error is a line too, and the
      rest still run. Exit status 1 if any invocation answered with an error.
      --summary needs N = 1 (read the JSON lines instead).
  lambda-probe help
";

pub async fn cli(args: &[String]) -> ExitCode {
    match args[0].as_str() {
        "run" => run_command(&args[1..]).await,
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The most invocations one `run --repeat` serves: far past any warm-up, short of a runaway.
pub const MAX_REPEAT: u32 = 1000;

struct RunArgs {
    payload: String,
    timeout: Option<Duration>,
    /// Invocations of the payload in this process (1: the plain door).
    repeat: u32,
    summary: bool,
}

fn parse_run_args(args: &[String]) -> Result<RunArgs, String> {
    let mut payload = None;
    let mut timeout = None;
    let mut summary = false;
    let mut repeat = 1;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--summary" => summary = true,
            "--timeout-ms" => {
                let v = it.next().ok_or("--timeout-ms needs a value in ms")?;
                let ms: u64 = v
                    .parse()
                    .map_err(|_| format!("--timeout-ms: {v:?} is not a whole number of ms"))?;
                timeout = Some(Duration::from_millis(ms));
            }
            "--repeat" => {
                let v = it.next().ok_or("--repeat needs a count of invocations")?;
                repeat = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_REPEAT).contains(n))
                    .ok_or_else(|| {
                        format!("--repeat: {v:?} is not a count of invocations in 1..={MAX_REPEAT}")
                    })?;
            }
            p if payload.is_none() && (p == "-" || !p.starts_with('-')) => {
                payload = Some(p.to_string())
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    if summary && repeat > 1 {
        // One summary per invocation would bury the comparison; the JSON lines carry it.
        return Err("--summary describes one invocation: with --repeat above 1, read the JSON lines instead (each has cold_start and invocation_index)".into());
    }
    Ok(RunArgs {
        payload: payload.ok_or("run needs a payload file, or - for standard input")?,
        timeout,
        repeat,
        summary,
    })
}

async fn run_command(args: &[String]) -> ExitCode {
    let args = match parse_run_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let text = if args.payload == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map(|_| s)
    } else {
        std::fs::read_to_string(&args.payload)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", args.payload);
            return ExitCode::from(2);
        }
    };
    let event = match serde_json::from_str::<Value>(&text) {
        Ok(event) => event,
        Err(e) => {
            // Nothing can run: one error line, whatever --repeat asked for.
            let e =
                crate::error::ProbeError::invalid(format!("the payload is not valid JSON: {e}"));
            println!("{}", e.to_json());
            return ExitCode::FAILURE;
        }
    };
    let mut any_error = false;
    for _ in 0..args.repeat {
        // Each invocation gets its own deadline, as each Lambda invocation gets its timeout.
        let deadline = args
            .timeout
            .map(Deadline::after)
            .unwrap_or_else(Deadline::none);
        // Through `handle`, as the Lambda loop: the same cold_start / invocation_index count.
        let line = match crate::handle(event.clone(), deadline).await {
            Ok(response) => {
                let json = serde_json::to_value(&response).unwrap_or(Value::Null);
                if args.summary {
                    print!("{}", human_summary(&json));
                    continue;
                }
                json.to_string()
            }
            Err(e) => {
                any_error = true;
                e.to_json().to_string()
            }
        };
        // One line per invocation, flushed, so a reader sees each as it ends, and a process
        // killed mid-series leaves its finished lines behind.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    }
    if any_error {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) => format!("{x:.3}"),
        None => "-".to_string(),
    }
}

/// A few lines a person can read: what ran, on what, and the headline figures.
pub fn human_summary(r: &Value) -> String {
    let env = &r["environment"];
    let s = &r["summary"];
    let mut out = format!(
        "{} on {} ({} visible cores, {}, memory: {}): wall {} ms, cpu {} ms, effective vCPU {}, {} page faults{}\n",
        r["workload"].as_str().unwrap_or("?"),
        env["arch"].as_str().unwrap_or("?"),
        num(&env["visible_cores"]),
        env["cpu_model"].as_str().unwrap_or("unknown CPU"),
        env["memory_mb"].as_u64().map(|m| format!("{m} MB")).unwrap_or_else(|| "not in Lambda".into()),
        num(&s["wall_ms"]),
        num(&s["cpu_ms"]),
        num(&s["effective_vcpu"]),
        num(&s["minflt"]),
        if r["truncated"] == Value::Bool(true) {
            format!(" — TRUNCATED ({})", r["truncated_reason"].as_str().unwrap_or("?"))
        } else {
            String::new()
        }
    );
    if r["workload"] == "io" {
        return out + &io_summary(s);
    }
    if let Some(levels) = s["levels"].as_array() {
        for l in levels {
            out += &format!(
                "  {:>2} threads: {:>10} ms wall, {:>10} ms cpu, effective vCPU {:>6}, speedup {:>6}, {} iterations/s\n",
                num(&l["threads"]),
                num(&l["wall_ms"]),
                num(&l["cpu_ms"]),
                num(&l["effective_vcpu"]),
                num(&l["speedup"]),
                num(&l["iterations_per_s"]),
            );
        }
    }
    out += &memory_summary(s);
    out
}

// ---- memory workloads (alloc, memset)

fn memory_summary(s: &Value) -> String {
    let mut out = String::new();
    if let (Some(mode), Some(passes)) = (s["mode"].as_str(), s["passes"].as_array()) {
        for p in passes {
            out += &format!(
                "  {mode} pass {}: {} buffers, {} µs/MiB median (p90 {}), {} new pages/MiB, {} never-touched 4 KiB pages/MiB\n",
                num(&p["pass"]),
                num(&p["buffers_done"]),
                num(&p["us_per_mib_median"]),
                num(&p["us_per_mib_p90"]),
                num(&p["new_pages_per_mib"]),
                num(&p["never_touched_pages_per_mib"]),
            );
        }
        let j = &s["jemalloc"];
        out += &format!(
            "  jemalloc {}: malloc_conf {:?}, dirty_decay_ms {}, oversize_threshold {}, cache_oblivious {}\n",
            j["version"].as_str().unwrap_or("?"),
            j["malloc_conf"].as_str().unwrap_or("?"),
            num(&j["dirty_decay_ms"]),
            num(&j["oversize_threshold_bytes"]),
            j["cache_oblivious"],
        );
    }
    if let Some(first_touch) = s["first_touch"].as_bool() {
        out += &format!(
            "  memset ({}): {} GB/s median (p10 {}, max {}), {} µs/MiB, {} new pages/MiB over {} repeats\n",
            if first_touch { "first touch" } else { "touched memory" },
            num(&s["gb_per_s_median"]),
            num(&s["gb_per_s_p10"]),
            num(&s["gb_per_s_max"]),
            num(&s["us_per_mib_median"]),
            num(&s["new_pages_per_mib"]),
            num(&s["repeats_done"]),
        );
    }
    if let Some(b) = s.get("memory_budget").filter(|b| b.is_object()) {
        let mib = |v: &Value| {
            v.as_f64()
                .map(|b| format!("{:.0}", b / 1048576.0))
                .unwrap_or("-".into())
        };
        out += &format!(
            "  memory: {} MiB ({}), {} MiB usable after the safety margin and the probe's {} MiB\n",
            mib(&b["memory_bytes"]),
            b["memory_source"].as_str().unwrap_or("?"),
            mib(&b["usable_bytes"]),
            mib(&b["own_bytes"]),
        );
    }
    out
}

/// io: the client, then one line per concurrency level.
fn io_summary(s: &Value) -> String {
    let mut out = format!(
        "  table {} in {}: {} items written, {} errors; client built in {} ms ({})\n",
        s["table"].as_str().unwrap_or("?"),
        s["region"].as_str().unwrap_or("?"),
        num(&s["items_written"]),
        num(&s["errors"]),
        num(&s["client_init_ms"]),
        if s["client_built_this_invocation"] == Value::Bool(true) {
            "by this invocation"
        } else {
            "reused from an earlier invocation"
        },
    );
    for l in s["levels"].as_array().into_iter().flatten() {
        out += &format!(
            "  concurrency {:>2}: {:>9} ms wall, {:>8} ms cpu ({} µs/call), effective vCPU {:>6}, latency p50 {} / p90 {} / p99 {} / max {} µs, {} items/s, speedup {}, {} errors\n",
            num(&l["concurrency"]),
            num(&l["wall_ms"]),
            num(&l["cpu_ms"]),
            num(&l["cpu_us_per_call"]),
            num(&l["effective_vcpu"]),
            num(&l["latency_p50_us"]),
            num(&l["latency_p90_us"]),
            num(&l["latency_p99_us"]),
            num(&l["latency_max_us"]),
            num(&l["items_per_s"]),
            num(&l["speedup"]),
            num(&l["errors"]),
        );
        if let Some(codes) = l["error_codes"].as_object().filter(|c| !c.is_empty()) {
            let codes: Vec<String> = codes.iter().map(|(k, v)| format!("{k} × {v}")).collect();
            out += &format!("      errors: {}\n", codes.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_args() {
        let a = parse_run_args(&[
            "p.json".into(),
            "--timeout-ms".into(),
            "800".into(),
            "--summary".into(),
        ])
        .unwrap();
        assert_eq!(a.payload, "p.json");
        assert_eq!(a.timeout, Some(Duration::from_millis(800)));
        assert!(a.summary);
        assert!(parse_run_args(&[]).is_err());
        assert!(parse_run_args(&["a".into(), "b".into()]).is_err());
        assert!(parse_run_args(&["a".into(), "--timeout-ms".into(), "x".into()]).is_err());
        assert_eq!(a.repeat, 1);
    }

    #[test]
    fn repeat_args() {
        let args = |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };
        let a = parse_run_args(&args(&["-", "--repeat", "3", "--timeout-ms", "50"])).unwrap();
        assert_eq!((a.payload.as_str(), a.repeat), ("-", 3));
        assert_eq!(a.timeout, Some(Duration::from_millis(50)));
        assert_eq!(
            parse_run_args(&args(&["p", "--repeat", "1000"]))
                .unwrap()
                .repeat,
            1000
        );
        // --summary is for one invocation only.
        assert!(parse_run_args(&args(&["p", "--repeat", "1", "--summary"])).is_ok());
        for (bad, says) in [
            (vec!["p", "--repeat", "0"], "1..=1000"),
            (vec!["p", "--repeat", "1001"], "1..=1000"),
            (vec!["p", "--repeat", "-2"], "--repeat"),
            (vec!["p", "--repeat", "three"], "not a count"),
            (vec!["p", "--repeat"], "needs a count"),
            (vec!["p", "--repeat", "2", "--summary"], "--summary"),
        ] {
            let e = parse_run_args(&args(&bad))
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    // ---- memory workloads

    #[test]
    fn memory_summaries_show_each_pass_and_the_bandwidth() {
        let r = serde_json::json!({
            "workload": "alloc", "environment": {}, "truncated": false,
            "summary": {"mode": "reuse", "passes": [
                {"pass": 1, "buffers_done": 100, "us_per_mib_median": 410.5, "us_per_mib_p90": 480.0,
                 "new_pages_per_mib": 256.6, "never_touched_pages_per_mib": 256.0},
                {"pass": 2, "buffers_done": 100, "us_per_mib_median": 125.0, "us_per_mib_p90": 140.0,
                 "new_pages_per_mib": 0.0, "never_touched_pages_per_mib": 0.0}],
                "jemalloc": {"version": "5.3.0", "malloc_conf": "dirty_decay_ms:-1",
                             "dirty_decay_ms": -1, "cache_oblivious": false},
                "memory_budget": {"memory_bytes": 134217728u64, "memory_source": "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                                  "usable_bytes": 110166016u64, "own_bytes": 5177344u64}}
        });
        let text = human_summary(&r);
        assert!(
            text.contains("reuse pass 2: 100 buffers, 125 µs/MiB median"),
            "{text}"
        );
        assert!(text.contains("0 new pages/MiB"), "{text}");
        assert!(text.contains("malloc_conf \"dirty_decay_ms:-1\""), "{text}");
        assert!(
            text.contains("memory: 128 MiB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), 105 MiB usable"),
            "{text}"
        );

        let m = serde_json::json!({"workload": "memset", "environment": {}, "summary": {
            "first_touch": true, "gb_per_s_median": 1.6, "repeats_done": 20}});
        assert!(human_summary(&m).contains("memset (first touch): 1.600 GB/s median"));
    }

    #[test]
    fn io_summary_has_a_line_per_level_and_names_the_errors() {
        let r = serde_json::json!({
            "workload": "io",
            "environment": {"arch": "x86_64"},
            "summary": {
                "table": "t", "region": "us-east-1", "items_written": 150, "errors": 1,
                "client_init_ms": 12.5, "client_built_this_invocation": true,
                "levels": [
                    {"concurrency": 1, "wall_ms": 500.0, "latency_p50_us": 4000, "speedup": 1.0,
                     "error_codes": {}},
                    {"concurrency": 10, "wall_ms": 100.0, "latency_p50_us": 6000, "speedup": 5.0,
                     "error_codes": {"ThrottlingException": 1}}
                ]
            }
        });
        let text = human_summary(&r);
        assert!(
            text.contains("client built in 12.500 ms (by this invocation)"),
            "{text}"
        );
        assert!(text.contains("concurrency  1:"), "{text}");
        assert!(text.contains("concurrency 10:"), "{text}");
        assert!(text.contains("ThrottlingException × 1"), "{text}");
        assert!(!text.contains("threads"), "{text}");
    }
}
