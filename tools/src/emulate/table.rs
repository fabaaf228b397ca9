//! What a person reads: one progress line per run and the table at the end of a sweep.

use super::cgroup::RunStats;
use super::{Reason, Record, Status};
use lambda_probe::measure::stats::median;
use serde_json::Value;
use std::collections::BTreeMap;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

fn reason_name(r: Option<Reason>) -> &'static str {
    match r {
        Some(Reason::OomKill) => "oom_kill",
        Some(Reason::Signal) => "signal",
        Some(Reason::Timeout) => "timeout",
        Some(Reason::ExitStatus) => "exit_status",
        Some(Reason::BadOutput) => "bad_output",
        Some(Reason::Setup) => "setup",
        None => "failed",
    }
}

/// The share of CFS periods in which the run hit its quota.
fn throttled_percent(s: &RunStats) -> Option<f64> {
    let periods = s.nr_periods.filter(|&p| p > 0)?;
    Some(s.nr_throttled? as f64 * 100.0 / periods as f64)
}

fn summary(r: &Record) -> Option<&Value> {
    r.answer.as_ref().and_then(|a| a.get("summary"))
}

/// The workload's own thread speedup: its last count of more than one thread that has one
/// (pbkdf2's levels).
fn thread_speedup(r: &Record) -> Option<(u64, f64)> {
    summary(r)?["levels"]
        .as_array()?
        .iter()
        .rev()
        .filter(|l| l["threads"].as_u64().is_some_and(|t| t > 1))
        .find_map(|l| Some((l["threads"].as_u64()?, l["speedup"].as_f64()?)))
}

/// `884 MB (0.500 vCPU, 2 cores, cgroup v1) run 1/2: ok, wall …`
pub fn progress(r: &Record) -> String {
    let limits = match &r.emulated {
        Some(e) => format!(
            "{:.3} vCPU, {} core{}, cgroup {}",
            e.cpu_quota_vcpu,
            e.cores,
            if e.cores == 1 { "" } else { "s" },
            e.cgroup
        ),
        None => "unthrottled".into(),
    };
    let head = format!(
        "{} MB ({limits}) run {}/{} {}",
        r.info.memory_mb,
        r.info.run,
        r.info.runs,
        if r.info.cold { "cold" } else { "warm" }
    );
    let stats = r.info.cgroup_stats.as_ref();
    let peak_mib = stats.and_then(|s| s.peak_memory_bytes).map(mib);
    let peak = peak_mib
        .as_ref()
        .map(|p| format!(", peak {p}"))
        .unwrap_or_default();
    let body = match r.info.status {
        Status::Ok => {
            let s = summary(r);
            let num = |k: &str| s.and_then(|s| s[k].as_f64());
            let mut text = format!(
                "ok, wall {} ms, effective vCPU {}",
                num("wall_ms")
                    .map(|v| format!("{v:.1}"))
                    .unwrap_or("-".into()),
                num("effective_vcpu")
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or("-".into()),
            );
            if let Some((threads, speedup)) = thread_speedup(r) {
                text += &format!(", speedup {speedup:.2}× at {threads} threads");
            }
            if let Some(t) = stats.and_then(throttled_percent) {
                text += &format!(", throttled in {t:.0}% of CPU periods");
            }
            text + &peak
        }
        Status::FunctionError => format!(
            "function error{}: {}",
            peak_mib.map(|p| format!(" (peak {p})")).unwrap_or_default(),
            r.info.detail.as_deref().unwrap_or("")
        ),
        Status::Failed => format!(
            "FAILED ({}): {}",
            reason_name(r.info.reason),
            r.info.detail.as_deref().unwrap_or("")
        ),
    };
    let warn = match &r.emulated {
        Some(e) if !e.not_reproducible.is_empty() => " [not reproducible here: see the table]",
        _ => "",
    };
    format!("{head}: {body}{warn}")
}

/// The sweep in one table: one row per memory size, medians over its successful runs.
pub fn table(records: &[Record], sizes: &[u32]) -> String {
    let mut out = String::from("\n");
    out += &format!(
        "{:>9} {:>10} {:>5} {:>7} {:>11} {:>11} {:>9} {:>15} {:>9} {:>9} {:>12}  {}\n",
        "memory MB",
        "quota vCPU",
        "cores",
        "ok/runs",
        "cold ms",
        "warm ms",
        "eff vCPU",
        "thread speedup",
        "vs first",
        "peak MiB",
        "throttled %",
        "notes"
    );
    let mut footnotes: Vec<String> = Vec::new();
    let mut first_wall: Option<f64> = None;
    let mut quota_cores: Vec<String> = Vec::new();
    for (i, &mb) in sizes.iter().enumerate() {
        let rows: Vec<&Record> = records.iter().filter(|r| r.size_index == i).collect();
        let Some(any) = rows.first() else {
            continue;
        };
        let ok: Vec<&Record> = rows
            .iter()
            .copied()
            .filter(|r| r.info.status == Status::Ok)
            .collect();
        // The figures below are the warm runs' when there are any (a sandbox's steady state),
        // else the cold runs': the cold start has its own column.
        let (cold, warm): (Vec<&Record>, Vec<&Record>) = ok.iter().partition(|r| r.info.cold);
        let steady = if warm.is_empty() { &cold } else { &warm };
        let med = |f: &dyn Fn(&Record) -> Option<f64>| {
            let v: Vec<f64> = steady.iter().filter_map(|r| f(r)).collect();
            median(&v)
        };
        let wall_of = |rows: &[&Record]| {
            let v: Vec<f64> = rows
                .iter()
                .filter_map(|r| summary(r)?["wall_ms"].as_f64())
                .collect();
            median(&v)
        };
        let cold_wall = wall_of(&cold);
        let warm_wall = wall_of(&warm);
        let wall = med(&|r| summary(r)?["wall_ms"].as_f64());
        let vcpu = med(&|r| summary(r)?["effective_vcpu"].as_f64());
        let speedup = med(&|r| thread_speedup(r).map(|t| t.1));
        let threads = ok.iter().find_map(|r| thread_speedup(r).map(|t| t.0));
        let throttled = med(&|r| throttled_percent(r.info.cgroup_stats.as_ref()?));
        let peak = rows
            .iter()
            .filter_map(|r| r.info.cgroup_stats.as_ref()?.peak_memory_bytes)
            .max();
        if first_wall.is_none() {
            first_wall = wall;
        }
        let mut notes: Vec<String> = Vec::new();
        let mut failures: BTreeMap<String, usize> = BTreeMap::new();
        for r in &rows {
            match r.info.status {
                Status::Ok => {}
                Status::FunctionError => {
                    let t = r
                        .answer
                        .as_ref()
                        .and_then(|a| a["errorType"].as_str())
                        .unwrap_or("error");
                    *failures.entry(t.to_string()).or_default() += 1;
                }
                Status::Failed => {
                    *failures
                        .entry(format!("FAILED {}", reason_name(r.info.reason)))
                        .or_default() += 1;
                }
            }
        }
        notes.extend(failures.iter().map(|(k, n)| format!("{n}× {k}")));
        let (quota, cores) = match &any.emulated {
            Some(e) => (format!("{:.3}", e.cpu_quota_vcpu), e.cores.to_string()),
            None => ("unlimited".to_string(), "all".to_string()),
        };
        if !any.plan.not_reproducible.is_empty() {
            footnotes.push(any.plan.not_reproducible.join("; "));
            notes.push(format!("*{}", footnotes.len()));
        }
        // Rust's available_parallelism rounds the CFS quota down, which Lambda's VM does not
        // show: the probe's `visible_cores` (its default thread count) is then below the cores.
        if let Some(e) = &any.emulated {
            let seen = ok
                .iter()
                .find_map(|r| r.answer.as_ref()?["environment"]["visible_cores"].as_u64());
            if let Some(v) = seen.filter(|&v| v < e.cores as u64) {
                quota_cores.push(format!("{v} at {mb} MB"));
            }
        }
        let f = |v: Option<f64>, d: usize| match v {
            Some(x) => format!("{x:.d$}"),
            None => "-".to_string(),
        };
        let speed = match (speedup, threads) {
            (Some(s), Some(t)) => format!("{s:.2}× @{t}"),
            _ => "-".into(),
        };
        let vs_first = match (first_wall, wall) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "-".into(),
        };
        out += &format!(
            "{:>9} {:>10} {:>5} {:>7} {:>11} {:>11} {:>9} {:>15} {:>9} {:>9} {:>12}  {}\n",
            mb,
            quota,
            cores,
            format!("{}/{}", ok.len(), rows.len()),
            f(cold_wall, 1),
            f(warm_wall, 1),
            f(vcpu, 3),
            speed,
            vs_first,
            f(peak.map(|b| b as f64 / 1048576.0), 1),
            f(throttled, 0),
            notes.join(", ")
        );
    }
    if records.is_empty() {
        out += "(no runs)\n";
    }
    out += "cold ms is the wall of the ok cold runs (a process's first invocation), warm ms the median over the ok warm ones (its later invocations); eff vCPU (cpu ÷ wall), thread speedup (the workload's, 1 thread ÷ N threads) and vs first (wall against the first row) are medians over the warm ok runs, or the cold ones when there are none; throttled % is the share of CFS periods in which the run used up its quota.\n";
    for (i, f) in footnotes.iter().enumerate() {
        out += &format!("*{} not reproducible here: {f}\n", i + 1);
    }
    if !quota_cores.is_empty() {
        out += &format!(
            "note: the probe's visible_cores (Rust's available_parallelism, which counts the CFS quota) was {}, below the cores given (environment.affinity_cores); Lambda shows all its cores, so a payload that defaults its thread count to visible_cores runs fewer threads here\n",
            quota_cores.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulate::lambda::Plan;
    use crate::emulate::RunInfo;
    use serde_json::json;

    fn record(size_index: usize, mb: u32, status: Status, answer: Option<Value>) -> Record {
        Record {
            size_index,
            plan: Plan::new(mb, &[0, 1], None),
            emulated: None,
            info: RunInfo {
                memory_mb: mb,
                run: 1,
                runs: 1,
                cold: false,
                status,
                reason: (status == Status::Failed).then_some(Reason::OomKill),
                detail: Some("the OOM killer killed 1 process".into()),
                exit_code: None,
                signal: None,
                process_wall_ms: Some(1.0),
                cgroup_stats: None,
                stderr_tail: None,
            },
            answer: answer.and_then(|a| a.as_object().cloned()),
        }
    }

    #[test]
    fn rows_medians_failures_and_footnotes() {
        let answer = |wall: f64| {
            json!({"summary": {"wall_ms": wall, "effective_vcpu": 0.5, "levels": [
                {"threads": 1, "speedup": 1.0},
                {"threads": 2, "speedup": 1.9}
            ]}, "environment": {"visible_cores": 2}})
        };
        let records = vec![
            record(0, 1769, Status::Ok, Some(answer(2000.0))),
            record(0, 1769, Status::Ok, Some(answer(3000.0))),
            record(0, 1769, Status::Ok, Some(answer(2200.0))),
            record(1, 3538, Status::Ok, Some(answer(1100.0))),
            record(2, 128, Status::Failed, None),
        ];
        let t = table(&records, &[1769, 3538, 128]);
        let row = |mb: &str| {
            t.lines()
                .find(|l| l.split_whitespace().next() == Some(mb))
                .unwrap_or_else(|| panic!("no {mb} row in\n{t}"))
                .to_string()
        };
        let first = row("1769");
        assert!(
            first.contains(" 3/3 ") && first.contains("2200.0"),
            "{first}"
        );
        assert!(
            first.contains("1.90× @2") && first.contains("1.00×"),
            "{first}"
        );
        let second = row("3538");
        assert!(second.contains("2.00×"), "median 2200 ÷ 1100: {second}");
        // 3,538 MB on 2 host CPUs: Lambda's 3 cores are a footnote, not hidden.
        assert!(second.ends_with("*1"), "{second}");
        assert!(
            t.contains("*1 not reproducible here: Lambda shows 3 cores"),
            "{t}"
        );
        let failed = row("128");
        assert!(
            failed.contains(" 0/1 ") && failed.contains("1× FAILED oom_kill"),
            "{failed}"
        );

        let p = progress(&records[4]);
        assert!(
            p.starts_with("128 MB (unthrottled) run 1/1 warm: FAILED (oom_kill)"),
            "{p}"
        );
        let p = progress(&records[0]);
        assert!(p.contains("speedup 1.90× at 2 threads"), "{p}");
    }

    #[test]
    fn one_thread_has_no_thread_speedup() {
        let r = record(
            0,
            1769,
            Status::Ok,
            Some(json!({"summary": {"wall_ms": 1.0, "levels": [{"threads": 1, "speedup": 1.0}]}})),
        );
        assert_eq!(thread_speedup(&r), None);
        let stats = |periods, throttled| RunStats {
            nr_periods: Some(periods),
            nr_throttled: Some(throttled),
            ..RunStats::default()
        };
        assert_eq!(throttled_percent(&stats(40, 10)), Some(25.0));
        assert_eq!(throttled_percent(&stats(0, 0)), None);
        assert!(table(&[], &[128]).contains("(no runs)"));
    }
}
