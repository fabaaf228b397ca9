//! What a person reads: one progress line per run and the table at the end of a sweep.

use super::cgroup::RunStats;
use super::lambda::Plan;
use super::{PeriodFrom, Reason, Record, Status};
use lambda_probe::measure::stats::median;
use lambda_probe::response::{Answer, Common, Response};
use lambda_probe::workloads::Speedup;
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

fn response(r: &Record) -> Option<&Response> {
    match &r.answer {
        Some(Answer::Response(resp)) => Some(resp),
        _ => None,
    }
}

fn common(r: &Record) -> Option<Common> {
    response(r).map(|resp| resp.result.common())
}

/// The workload's best parallel speedup (pbkdf2's threads, io's concurrency), if it has one.
fn speedup(r: &Record) -> Option<Speedup> {
    response(r)?.result.speedup()
}

/// The quota as the table and progress lines show it: per period, or none.
fn quota_text(q: Option<f64>, period_us: u64) -> String {
    match q {
        Some(q) => format!("{q:.3} vCPU per {} ms", period_us as f64 / 1000.0),
        None => "no quota".into(),
    }
}

/// `884 MB (0.500 vCPU per 100 ms, 2 cores, cgroup v1) run 1/2: ok, wall …`, or for a Lambda
/// Managed Instances level `2 vCPU × 4 at once (4096 MB, no quota, 2 cores, cgroup v1) run 3/8: …`.
pub fn progress(r: &Record) -> String {
    let limits = match &r.emulated {
        Some(e) => format!(
            "{}, {} core{}, cgroup {}",
            quota_text(e.cpu_quota_vcpu, e.cpu_period_us),
            e.cores,
            if e.cores == 1 { "" } else { "s" },
            e.cgroup
        ),
        None => "unthrottled".into(),
    };
    let limits = match &r.plan.managed {
        Some(_) => format!("{} MB, {limits}", r.plan.memory_mb),
        None => limits,
    };
    let head = format!(
        "{} ({limits}) run {}/{} {}",
        r.plan.label(),
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
            let c = common(r);
            let mut text = format!(
                "ok, wall {} ms, effective vCPU {}",
                c.map(|c| format!("{:.1}", c.wall_ms)).unwrap_or("-".into()),
                response(r)
                    .and_then(Response::own_effective_vcpu)
                    .map(|v| format!("{v:.3}"))
                    .unwrap_or("-".into()),
            );
            if let Some(resp) = response(r).filter(|resp| resp.overlap.figures_shared) {
                text += &format!(", {} at most at once", resp.overlap.others_max + 1);
            }
            if let Some(s) = speedup(r) {
                text += &format!(", speedup {:.2}× at {}", s.value, s.at);
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

/// The sweep in one table: one row per memory size (or, for a Lambda Managed Instances
/// environment, per number of invocations at once), medians over its successful runs.
pub fn table(records: &[Record], plans: &[Plan]) -> String {
    let managed = plans.first().and_then(|p| p.managed.as_ref()).is_some();
    let mut out = String::from("\n");
    out += &format!(
        "{:>9} {:>10} {:>5} {:>7} {:>11} {:>11} {:>9} {:>15} {:>9} {:>9} {:>12}  {}\n",
        if managed { "at once" } else { "memory MB" },
        "quota vCPU",
        "cores",
        "ok/runs",
        "cold ms",
        "warm ms",
        "eff vCPU",
        "best speedup",
        "vs first",
        "peak MiB",
        "throttled %",
        "notes"
    );
    let mut footnotes: Vec<String> = Vec::new();
    let mut first_wall: Option<f64> = None;
    let mut quota_cores: Vec<String> = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let mb = plan.memory_mb;
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
                .filter_map(|r| common(r).map(|c| c.wall_ms))
                .collect();
            median(&v)
        };
        let cold_wall = wall_of(&cold);
        let warm_wall = wall_of(&warm);
        let wall = med(&|r| common(r).map(|c| c.wall_ms));
        // Each invocation's own: the process's figure is shared when several ran at once.
        let vcpu = med(&|r| response(r)?.own_effective_vcpu());
        let best = med(&|r| speedup(r).map(|s| s.value));
        let at = ok.iter().find_map(|r| speedup(r).map(|s| s.at));
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
                    let t = match &r.answer {
                        Some(Answer::Error(e)) => e.error_type.as_str(),
                        _ => "error",
                    };
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
            Some(e) => (
                e.cpu_quota_vcpu
                    .map_or("none".to_string(), |q| format!("{q:.3}")),
                e.cores.to_string(),
            ),
            None => ("unlimited".to_string(), "all".to_string()),
        };
        // The emulated limits' notes (they know the kernel's period), else the plan's.
        let not_reproducible = any
            .emulated
            .as_ref()
            .map_or(&any.plan.not_reproducible, |e| &e.not_reproducible);
        if !not_reproducible.is_empty() {
            footnotes.push(not_reproducible.join("; "));
            notes.push(format!("*{}", footnotes.len()));
        }
        // Rust's available_parallelism rounds the CFS quota down, which Lambda's VM does not
        // show: the probe's `visible_cores` (its default thread count) is then below the cores.
        if let Some(e) = &any.emulated {
            let seen = ok
                .iter()
                .find_map(|r| response(r).map(|resp| resp.environment.visible_cores));
            if let Some(v) = seen.filter(|&v| v < e.cores as usize) {
                quota_cores.push(format!("{v} at {mb} MB"));
            }
        }
        let f = |v: Option<f64>, d: usize| match v {
            Some(x) => format!("{x:.d$}"),
            None => "-".to_string(),
        };
        let speed = match (best, at) {
            (Some(s), Some(at)) => format!(
                "{s:.2}× @{}",
                at.replace(" threads", "t").replace("concurrency ", "c")
            ),
            _ => "-".into(),
        };
        let vs_first = match (first_wall, wall) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "-".into(),
        };
        out += &format!(
            "{:>9} {:>10} {:>5} {:>7} {:>11} {:>11} {:>9} {:>15} {:>9} {:>9} {:>12}  {}\n",
            plan.managed
                .as_ref()
                .map_or(mb.to_string(), |m| m.concurrency.to_string()),
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
    out += &period_line(records);
    if managed {
        out += "at once: invocations served at the same time by the one probe process (run --concurrency), each its own JSON line; cold ms is its first invocation's, warm ms the median over the others; eff vCPU is each invocation's own (its threads' CPU ÷ wall when others shared the process, '-' for a workload that does not read CPU per thread: the process's CPU is shared); vs first compares the per-invocation wall with the first row's (0.50× = twice as long).\n";
    }
    out += "cold ms is the wall of the ok cold runs (a process's first invocation), warm ms the median over the ok warm ones (its later invocations); eff vCPU (cpu ÷ wall), best speedup (the workload's own: pbkdf2's 1 thread ÷ N threads (@Nt), io's one at a time ÷ N at a time (@cN)) and vs first (wall against the first row) are medians over the warm ok runs, or the cold ones when there are none; throttled % is the share of CFS periods in which the run used up its quota.\n";
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

/// The CFS period(s) the quotas were enforced over, and who chose them.
fn period_line(records: &[Record]) -> String {
    let mut periods: Vec<(u64, PeriodFrom)> = Vec::new();
    // A Lambda Managed Instances environment has no quota, hence no period to speak of.
    for e in records
        .iter()
        .filter_map(|r| r.emulated.as_ref())
        .filter(|e| e.cpu_quota_vcpu.is_some())
    {
        if !periods.contains(&(e.cpu_period_us, e.cpu_period_from)) {
            periods.push((e.cpu_period_us, e.cpu_period_from));
        }
    }
    if periods.is_empty() {
        return String::new();
    }
    let said: Vec<String> = periods
        .iter()
        .map(|(us, from)| format!("{} ms ({})", *us as f64 / 1000.0, from.words()))
        .collect();
    let hint = if periods.iter().all(|p| p.1 == PeriodFrom::Kernel) {
        "; --period-ms N enforces it over another (Lambda's is undocumented, reported ~20 ms)"
    } else {
        ""
    };
    format!(
        "CPU period: each quota is enforced over {}{hint}.\n",
        said.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulate::lambda::Plan;
    use crate::emulate::{real_response, RunInfo};
    use lambda_probe::workloads::Results;
    use serde_json::json;

    fn record(size_index: usize, mb: u32, status: Status, answer: Option<Response>) -> Record {
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
            answer: answer.map(|a| Answer::Response(Box::new(a))),
        }
    }

    fn plans(sizes: &[u32]) -> Vec<Plan> {
        sizes
            .iter()
            .map(|&mb| Plan::new(mb, &[0, 1], None))
            .collect()
    }

    /// As if it had the process to itself (the tests of this binary run in parallel).
    fn alone(mut r: Response) -> Response {
        r.overlap.others_at_start = 0;
        r.overlap.others_max = 0;
        r.overlap.others_total = 0;
        r.overlap.figures_shared = false;
        r.overlap.shared_figures.clear();
        r
    }

    /// A real pbkdf2 response at 1 and 2 threads, its wall and speedup set to `wall` and 1.9.
    fn pbkdf2(wall: f64, threads: &[u32]) -> Response {
        let mut r = alone(real_response(
            json!({"workload": "pbkdf2", "iterations": 50, "passwords": 2, "threads": threads}),
        ));
        let Results::Pbkdf2(run) = &mut r.result else {
            unreachable!()
        };
        run.summary.common.wall_ms = wall;
        run.summary.common.effective_vcpu = Some(0.5);
        for l in &mut run.summary.figures.levels {
            l.speedup = Some(if l.threads == 1 { 1.0 } else { 1.9 });
        }
        r
    }

    #[test]
    fn rows_medians_failures_and_footnotes() {
        let records = vec![
            record(0, 1769, Status::Ok, Some(pbkdf2(2000.0, &[1, 2]))),
            record(0, 1769, Status::Ok, Some(pbkdf2(3000.0, &[1, 2]))),
            record(0, 1769, Status::Ok, Some(pbkdf2(2200.0, &[1, 2]))),
            record(1, 3538, Status::Ok, Some(pbkdf2(1100.0, &[1, 2]))),
            record(2, 128, Status::Failed, None),
        ];
        let t = table(&records, &plans(&[1769, 3538, 128]));
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
            first.contains("1.90× @2t") && first.contains("1.00×"),
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
    fn one_thread_has_no_speedup_and_every_workload_gets_a_row() {
        let r = record(0, 1769, Status::Ok, Some(pbkdf2(1.0, &[1])));
        assert_eq!(speedup(&r), None);
        let stats = |periods, throttled| RunStats {
            nr_periods: Some(periods),
            nr_throttled: Some(throttled),
            ..RunStats::default()
        };
        assert_eq!(throttled_percent(&stats(40, 10)), Some(25.0));
        assert_eq!(throttled_percent(&stats(0, 0)), None);
        assert!(table(&[], &plans(&[128])).contains("(no runs)"));
        // A row with figures for each workload that runs without a table.
        for event in [
            json!({"workload": "env"}),
            json!({"workload": "alloc", "buffers": 2, "buffer_bytes": 65536}),
            json!({"workload": "memset", "bytes": 65536, "repeats": 2}),
        ] {
            let rec = record(0, 1024, Status::Ok, Some(real_response(event.clone())));
            let t = table(&[rec], &plans(&[1024]));
            let row = t
                .lines()
                .find(|l| l.split_whitespace().next() == Some("1024"))
                .unwrap_or_else(|| panic!("{event}: no row in\n{t}"));
            assert!(row.contains(" 1/1 "), "{event}: {row}");
        }
    }

    /// A Lambda Managed Instances sweep: a row per number at once, the per-invocation wall
    /// against the first row, and each invocation's own effective vCPU, never the process's.
    #[test]
    fn a_managed_sweep_has_a_row_per_concurrency() {
        let level = |k: u32, index: usize, wall: f64, thread_cpu_us: u64| {
            let plan = Plan::managed(2, 2.0, k, &[0, 1], None).unwrap();
            let mut r = pbkdf2(wall, &[1]);
            let Results::Pbkdf2(run) = &mut r.result else {
                unreachable!()
            };
            for s in &mut run.samples {
                s.cpu_us = thread_cpu_us / run.summary.figures.levels[0].passwords_done as u64;
            }
            // The process's CPU is k times one invocation's: shared, so never shown.
            run.summary.common.effective_vcpu = Some(k as f64);
            if k > 1 {
                r.overlap.others_max = k - 1;
                r.overlap.others_total = k - 1;
                r.overlap.figures_shared = true;
            }
            let mut rec = record(index, 4096, Status::Ok, Some(r));
            rec.plan = plan;
            rec
        };
        let records = vec![
            level(1, 0, 1000.0, 1_000_000),
            level(4, 1, 2000.0, 1_000_000),
            level(4, 1, 2100.0, 1_000_000),
        ];
        let ps = vec![
            Plan::managed(2, 2.0, 1, &[0, 1], None).unwrap(),
            Plan::managed(2, 2.0, 4, &[0, 1], None).unwrap(),
        ];
        let t = table(&records, &ps);
        assert!(t.contains("at once"), "{t}");
        let row = |k: &str| {
            t.lines()
                .find(|l| l.split_whitespace().next() == Some(k))
                .unwrap_or_else(|| panic!("no row {k} in\n{t}"))
                .to_string()
        };
        let four = row("4");
        assert_eq!(quota_text(None, 100_000), "no quota");
        assert!(four.contains(" 2/2 "), "{four}");
        // 1 s of thread CPU in 2.05 s: 0.488 vCPU each, not the process's 4.
        assert!(four.contains("0.488"), "{four}");
        assert!(four.contains("0.49×"), "1000 ÷ 2050: {four}");
        let p = progress(&records[1]);
        assert!(
            p.starts_with("2 vCPU × 4 at once (4096 MB, unthrottled) run 1/1"),
            "{p}"
        );
        assert!(p.contains("4 at most at once"), "{p}");
    }

    /// The fixture sweeps (real emulate runs of every workload, tests/fixtures/results/): the
    /// table has a row per size with the runs that passed, for each workload.
    #[test]
    fn the_fixture_sweeps_of_every_workload_make_a_table() {
        #[derive(serde::Deserialize)]
        struct Attached {
            emulated: Option<crate::emulate::Emulated>,
            emulate_run: RunInfo,
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/results/emulate.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut by_workload: BTreeMap<String, Vec<Record>> = BTreeMap::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let a: Attached = serde_json::from_value(v.clone()).unwrap();
            let answer = Answer::from_value(v).ok();
            let workload = match &answer {
                Some(Answer::Response(r)) => r.workload().to_string(),
                _ => "failed".to_string(),
            };
            let mb = a.emulate_run.memory_mb;
            let list = by_workload.entry(workload).or_default();
            let mut sizes: Vec<u32> = list.iter().map(|r| r.info.memory_mb).collect();
            sizes.dedup();
            let size_index = sizes.iter().position(|&m| m == mb).unwrap_or(sizes.len());
            list.push(Record {
                size_index,
                plan: Plan::new(mb, &[0, 1], None),
                emulated: a.emulated,
                info: a.emulate_run,
                answer,
            });
        }
        for w in lambda_probe::workloads::WORKLOADS {
            let records = by_workload
                .get(*w)
                .unwrap_or_else(|| panic!("no {w} sweep in the fixtures"));
            let mut sizes: Vec<u32> = records.iter().map(|r| r.info.memory_mb).collect();
            sizes.dedup();
            let t = table(records, &plans(&sizes));
            for mb in &sizes {
                let runs = records.iter().filter(|r| r.info.memory_mb == *mb).count();
                let row = t
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some(&mb.to_string()))
                    .unwrap_or_else(|| panic!("{w}: no {mb} row in\n{t}"));
                assert!(row.contains(&format!(" {runs}/{runs} ")), "{w}: {row}");
            }
            for r in records {
                assert!(!progress(r).is_empty());
            }
        }
        let failed = &by_workload["failed"];
        assert!(progress(&failed[0]).contains("function error"));
    }
}
