//! cpu-timeline reads back a CFS quota set for real: each test creates a cgroup, sets its
//! period and quota (v1 `cpu.cfs_period_us`/`cpu.cfs_quota_us`, v2 `cpu.max`), starts
//! `lambda-probe run -`, moves it into the cgroup before it reads its payload, and checks the
//! figures against what was set. Needs root (skipped with the reason otherwise).
//!
//! The machine's cores are shared with other processes. The test cgroup gets the highest CPU
//! weight there is (v1 `cpu.shares` 262144, v2 `cpu.weight` 10000), so it gets its whole quota
//! and its released threads get their core back at once; even so a waking process can take a
//! core for a few ms, and the CPU time of several threads under a small quota varies from run
//! to run. So every case runs 3 times and its figures are the medians of the three. The tests
//! take turns (one lock): run side by side they would be each other's noisy neighbour. A case
//! is skipped, with the reason, while another cgroup at the highest weight has processes (an
//! `emulate` session): against an equal the test cannot get its quota, and measured so (two
//! threads under 1.5 vCPU got 1.0).
//!
//! Wall time: 3 × (1 + 1 + 2 + 2 + 1 + 1.5 + 0.5) s of spinning, about 30 s.

mod common;

use common::{assert_response_contract, finish_probe, probe_cmd, PROBE_LIMIT};
use lambda_probe::host::cgroup::{self, CgroupDir, CgroupVersion, Layout};
use lambda_probe::response::{Answer, Response};
use lambda_probe::workloads::cpu_timeline::{measured_period_ms, CpuTimeline, TimelineFigures};
use lambda_probe::workloads::{Results, Run};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One case at a time.
static TURN: Mutex<()> = Mutex::new(());

/// This kernel's tick (CONFIG_HZ=250): the kernel notices that a quota ran out at a tick.
const TICK_MS: f64 = 4.0;
const REPEATS: usize = 3;

// ---------------------------------------------------------------- the cgroup

/// A cpu cgroup made for one run, removed on drop (also when the test panics).
struct TestCgroup {
    dir: CgroupDir,
    /// Where its processes go back to before it is removed.
    parent: PathBuf,
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("write {value:?} to {}: {e}", path.display()))
}

impl TestCgroup {
    /// A cgroup with `quota_us` per `period_us` (no quota: `None`) and the highest weight.
    /// `Err` says why it cannot be made here (the test is then skipped).
    fn new(period_us: u64, quota_us: Option<u64>) -> Result<TestCgroup, String> {
        // SAFETY: geteuid has no side effects.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: creating cgroups needs root".into());
        }
        let (version, parent) = match cgroup::layout()? {
            // v1: under this process's own cpu cgroup.
            Layout::V1 { cpu, .. } => (CgroupVersion::V1, cpu),
            // v2: under the root of the tree, whose processes do not stop it from handing the
            // cpu controller down (a non-root cgroup with processes could not).
            Layout::V2 { root, .. } => {
                let control = root.join("cgroup.subtree_control");
                let enabled = std::fs::read_to_string(&control).unwrap_or_default();
                if !enabled.split_whitespace().any(|c| c == "cpu") {
                    write(&control, "+cpu")?;
                }
                (CgroupVersion::V2, root)
            }
        };
        let (weight_file, weight) = match version {
            CgroupVersion::V1 => ("cpu.shares", WEIGHT_V1),
            CgroupVersion::V2 => ("cpu.weight", WEIGHT_V2),
        };
        if let Some(other) = competitor(&parent, weight_file, weight) {
            return Err(format!(
                "{} holds running processes at the highest CPU weight too ({weight_file} {weight}): they share the cores with the test as equals, so it cannot get its quota",
                other.display()
            ));
        }
        let path = parent.join(format!(
            "lambda-probe-test-cpu-timeline.{}",
            std::process::id()
        ));
        std::fs::create_dir(&path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
        let cg = TestCgroup {
            dir: CgroupDir { version, path },
            parent,
        };
        let p = &cg.dir.path;
        match version {
            CgroupVersion::V1 => {
                write(&p.join("cpu.cfs_period_us"), &period_us.to_string())?;
                let quota = quota_us.map_or("-1".to_string(), |q| q.to_string());
                write(&p.join("cpu.cfs_quota_us"), &quota)?;
                write(&p.join("cpu.shares"), &WEIGHT_V1.to_string())?;
            }
            CgroupVersion::V2 => {
                let quota = quota_us.map_or("max".to_string(), |q| q.to_string());
                write(&p.join("cpu.max"), &format!("{quota} {period_us}"))?;
                write(&p.join("cpu.weight"), &WEIGHT_V2.to_string())?;
            }
        }
        // What the kernel holds is what was asked for.
        assert_eq!(cgroup::read_cpu_max(&cg.dir)?, (quota_us, period_us));
        Ok(cg)
    }

    fn adopt(&self, pid: u32) {
        write(&self.dir.path.join("cgroup.procs"), &pid.to_string()).unwrap();
    }
}

/// The highest CPU weights: v1 `cpu.shares`, v2 `cpu.weight`.
const WEIGHT_V1: u64 = 262_144;
const WEIGHT_V2: u64 = 10_000;

/// A cgroup beside the test's (a child of `parent`) with a CPU weight as high as the test's and
/// processes in it or under it: say another `emulate` session. Against it the test cannot get
/// its whole quota, so the case is skipped with its name.
fn competitor(parent: &Path, weight_file: &str, weight: u64) -> Option<PathBuf> {
    fn busy(dir: &Path, depth: u32) -> bool {
        let own = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        if !own.trim().is_empty() {
            return true;
        }
        depth < 4
            && std::fs::read_dir(dir).is_ok_and(|es| {
                es.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .any(|e| busy(&e.path(), depth + 1))
            })
    }
    std::fs::read_dir(parent)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|d| d.is_dir())
        .find(|d| {
            let w = std::fs::read_to_string(d.join(weight_file)).unwrap_or_default();
            w.trim().parse::<u64>().is_ok_and(|w| w >= weight) && busy(d, 0)
        })
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let procs = self.dir.path.join("cgroup.procs");
        let parent_procs = self.parent.join("cgroup.procs");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            for pid in std::fs::read_to_string(&procs)
                .unwrap_or_default()
                .split_whitespace()
            {
                let _ = std::fs::write(&parent_procs, pid);
            }
            if std::fs::remove_dir(&self.dir.path).is_ok() || !self.dir.path.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("could not remove {}", self.dir.path.display());
    }
}

// ---------------------------------------------------------------- running the probe

/// One cpu-timeline run under `quota_us` per `period_us`; `None` (skip) without permission.
fn run_under(
    period_us: u64,
    quota_us: Option<u64>,
    payload: serde_json::Value,
) -> Option<Run<CpuTimeline>> {
    let cg = match TestCgroup::new(period_us, quota_us) {
        Ok(cg) => cg,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let started = Instant::now();
    let child = probe_cmd(&[]).spawn().expect("start lambda-probe");
    // In the cgroup before it reads its payload: the whole run is under the quota.
    cg.adopt(child.id());
    let out = finish_probe(child, started, payload.to_string().as_bytes(), PROBE_LIMIT);
    assert!(out.ok, "{}\n{}", out.body, out.stderr);
    assert_response_contract(&out.body, "cpu-timeline");
    let response: Response = match Answer::from_value(out.body.clone()) {
        Ok(Answer::Response(r)) => *r,
        other => panic!("{other:?}"),
    };
    assert!(!response.truncated, "{}", out.body);
    match response.result {
        Results::CpuTimeline(run) => Some(run),
        other => panic!("not a cpu-timeline result: {other:?}"),
    }
}

/// `REPEATS` runs of one case, in turn with every other case; `None` when skipped.
fn repeated(
    period_us: u64,
    quota_us: Option<u64>,
    threads: u32,
    duration_ms: u32,
) -> Option<Vec<Run<CpuTimeline>>> {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let payload = json!({"workload": "cpu-timeline", "duration_ms": duration_ms,
                         "threads": threads, "gap_us": 50});
    let mut runs = Vec::new();
    for _ in 0..REPEATS {
        let run = run_under(period_us, quota_us, payload.clone())?;
        let f = &run.summary.figures.over_all;
        eprintln!(
            "period {period_us} µs, quota {quota_us:?} µs, {threads} thread(s): period_ms {:?}, grid_ms {:?}, share {:?}, run_ms_per_period {:?} ({:?}..{:?}), skipped {}, first_run_ms {:?}, {} pauses ({} throttling){}",
            f.period_ms,
            f.grid_ms,
            f.share,
            f.run_ms_per_period,
            f.shortest_run_ms,
            f.longest_run_ms,
            f.skipped_periods,
            f.first_run_ms,
            f.pauses,
            f.throttling_pauses,
            f.period_unavailable
                .as_ref()
                .map(|w| format!(": {w}"))
                .unwrap_or_default(),
        );
        runs.push(run);
    }
    Some(runs)
}

/// The median of one figure over the runs; a run without it counts as the worst (NaN sorts
/// last), so it takes 2 of 3 runs with the figure to have a median.
fn median_of(runs: &[Run<CpuTimeline>], get: impl Fn(&TimelineFigures) -> Option<f64>) -> f64 {
    let mut v: Vec<f64> = runs
        .iter()
        .map(|r| get(&r.summary.figures.over_all).unwrap_or(f64::NAN))
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn within(have: f64, want: f64, rel: f64) -> bool {
    (have - want).abs() <= want * rel
}

/// The checks of a pair whose per-period quota is at least two ticks: the share within ±5% of
/// the quota, the period (and the grid) within ±10% of the one set, the CPU per period within
/// ±10% of the quota's. The runs, for more checks; `None` when skipped.
fn reads_back(
    period_ms: f64,
    vcpu: f64,
    threads: u32,
    duration_ms: u32,
) -> Option<Vec<Run<CpuTimeline>>> {
    assert!(
        vcpu * period_ms / threads as f64 >= TICK_MS,
        "not a pair for this check"
    );
    let quota_us = (vcpu * period_ms * 1000.0).round() as u64;
    let runs = repeated(
        (period_ms * 1000.0) as u64,
        Some(quota_us),
        threads,
        duration_ms,
    )?;
    let share = median_of(&runs, |f| f.share);
    let period = median_of(&runs, |f| f.period_ms);
    let grid = median_of(&runs, |f| f.grid_ms);
    assert!(
        within(share, vcpu, 0.05),
        "share {share}, quota {vcpu} vCPU"
    );
    assert!(
        within(period, period_ms, 0.10),
        "period_ms {period}, set {period_ms}"
    );
    assert!(
        within(grid, period_ms, 0.10),
        "grid_ms {grid}, set {period_ms}"
    );
    // What predict reads is the grid.
    for r in &runs {
        assert_eq!(measured_period_ms(r), r.summary.figures.over_all.grid_ms);
    }
    // The CPU per period is the quota's (per thread).
    let run = median_of(&runs, |f| f.run_ms_per_period);
    let quota_ms = vcpu * period_ms / threads as f64;
    assert!(
        within(run, quota_ms, 0.10),
        "run_ms_per_period {run}, quota {quota_ms} ms"
    );
    Some(runs)
}

#[test]
fn at_20_ms_and_0_579_vcpu_1024_mb() {
    reads_back(20.0, 1024.0 / 1769.0, 1, 1_000);
}

#[test]
fn at_20_ms_and_0_25_vcpu() {
    reads_back(20.0, 0.25, 1, 1_000);
}

#[test]
fn at_100_ms_and_0_5_vcpu() {
    reads_back(100.0, 0.5, 1, 2_000);
}

#[test]
fn at_100_ms_and_0_072_vcpu_128_mb() {
    reads_back(100.0, 128.0 / 1769.0, 1, 2_000);
}

/// 2 threads at 1.5 vCPU, at Lambda's reported 20 ms: each thread gets half of the quota
/// (0.75 vCPU, 15 ms a period), and the figures show it per thread.
#[test]
fn two_threads_share_1_5_vcpu_at_20_ms() {
    let Some(runs) = reads_back(20.0, 1.5, 2, 1_000) else {
        return;
    };
    for thread in 0..2 {
        let mut shares: Vec<f64> = runs
            .iter()
            .map(|r| {
                r.summary.figures.per_thread[thread]
                    .timeline
                    .share
                    .unwrap_or(f64::NAN)
            })
            .collect();
        shares.sort_by(|a, b| a.total_cmp(b));
        let share = shares[1];
        assert!(within(share, 0.75, 0.10), "thread {thread}: share {share}");
    }
}

/// Below two ticks a period (20 ms at 128 MB: 1.45 ms), the kernel notices the quota is spent
/// only at the next tick: a thread may run past it and then wait out whole periods. Whatever
/// the kernel did, the figures must tell it consistently: the share is the quota's, the grid
/// is the period set, and a run longer than the quota comes with skipped periods (and a
/// spacing of pauses longer than the period).
#[test]
fn below_two_ticks_a_period_the_figures_show_what_happened() {
    let (period_ms, vcpu): (f64, f64) = (20.0, 128.0 / 1769.0);
    let quota_ms = vcpu * period_ms;
    let quota_us = (quota_ms * 1000.0).round() as u64;
    let Some(runs) = repeated(20_000, Some(quota_us), 1, 1_500) else {
        return;
    };
    let share = median_of(&runs, |f| f.share);
    assert!(
        within(share, vcpu, 0.05),
        "share {share}, quota {vcpu} vCPU"
    );
    let grid = median_of(&runs, |f| f.grid_ms);
    assert!(
        within(grid, period_ms, 0.10),
        "grid_ms {grid}, set {period_ms}"
    );
    for r in &runs {
        let f = &r.summary.figures.over_all;
        let (Some(period), Some(longest)) = (f.period_ms, f.longest_run_ms) else {
            continue;
        };
        // A thread that ran past the quota paid it back in periods it did not run.
        if longest > quota_ms * 1.5 {
            assert!(f.skipped_periods > 0, "{f:?}");
        }
        if f.skipped_periods * 10 > f.whole_periods {
            assert!(period > f.grid_ms.unwrap(), "{f:?}");
        }
    }
}

#[test]
fn unthrottled_says_so() {
    let Some(runs) = repeated(100_000, None, 1, 500) else {
        return;
    };
    for r in &runs {
        let f = &r.summary.figures.over_all;
        assert_eq!(f.period_ms, None, "{f:?}");
        assert_eq!(f.grid_ms, None, "{f:?}");
        let why = f.period_unavailable.as_deref().unwrap_or_default();
        assert!(why.starts_with("not throttled"), "{why}");
        assert_eq!(f.throttling_pauses, 0, "{f:?}");
    }
}
