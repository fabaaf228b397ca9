//! cpu-timeline: how the CPU share is sliced, seen from inside. Each of `threads` threads spins
//! for `duration_ms`, reading the monotonic clock back to back; every gap longer than `gap_us`
//! is a pause. The pauses that end on a regular grid are throttling (the quota ran out and the
//! next period refilled it): their grid is the enforcement period, and the CPU between them is
//! what a thread gets per period. See docs/cpu-timeline.md.

pub mod analysis;

use super::{
    blocking, check_range, Context, Host, Lane, LaneGap, Outcome, Plotted, Run, Timeline, Workload,
};
use crate::error::ProbeError;
use crate::measure::gaps::{spin_until, GapLog, MIN_GAP};
use crate::measure::stats::{max, median, round};
use crate::measure::Deadline;
use crate::response::TruncatedReason;
use crate::telemetry::{Metric, Unit};
use analysis::{Pause, Reading, Spin};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The cpu-timeline workload.
#[derive(Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct CpuTimeline;

// ---------------------------------------------------------------- parameters

/// 2 s: 100 periods of 20 ms, 20 of Linux's 100 ms.
pub const DEFAULT_DURATION_MS: u32 = 2_000;
/// Two 4 ms ticks (shorter shows no period); a minute of spinning is plenty for any period and
/// bills a minute of the function's full share.
pub const MIN_DURATION_MS: u32 = 10;
pub const MAX_DURATION_MS: u32 = 60_000;
pub const DEFAULT_THREADS: u32 = 1;
/// Lambda shows at most 6 cores; 8 lets a run try more threads than cores.
pub const MAX_THREADS: u32 = 8;
/// Above the interrupts and hypervisor exits a spinning thread sees every few ms (5–40 µs
/// here), well below any throttling pause.
pub const DEFAULT_GAP_US: u32 = 50;
/// Recording a pause costs ~1 µs; below 10 µs the loop's own bookkeeping would count.
pub const MIN_GAP_US: u32 = MIN_GAP.as_micros() as u32;
/// 100 ms: past that, only pauses longer than the periods anyone uses would count.
pub const MAX_GAP_US: u32 = 100_000;
/// The pauses each thread keeps and analyses (24 bytes each); past it, pauses are counted but
/// not analysed (`pauses_not_analysed`).
pub const ANALYSED_PER_THREAD: usize = 50_000;
/// The pauses each thread reports in `samples`, the first ones of its spin; the histogram and
/// the figures cover all of them.
pub const SAMPLES_PER_THREAD: usize = 1_000;
/// `quick`: 300 ms, enough for a dozen 20 ms periods.
pub const QUICK_DURATION_MS: u32 = 300;

/// The event's fields, and the parameters as they run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CpuTimelineParams {
    /// How long each thread spins, in ms: 10..=60,000 (default 2,000: 100 periods of 20 ms,
    /// 20 of 100 ms). A period shows after 10 throttling pauses: 200 ms at 20 ms, 1 s at
    /// 100 ms. The deadline cuts it short (`truncated`).
    #[serde(default = "default_duration_ms")]
    #[schemars(range(min = MIN_DURATION_MS, max = MAX_DURATION_MS))]
    pub duration_ms: u32,
    /// Threads spinning at once: 1..=8 (default 1). More threads than the cores the sandbox
    /// shows take turns on them, and those turns look like throttling.
    #[serde(default = "default_threads")]
    #[schemars(range(min = 1, max = MAX_THREADS))]
    pub threads: u32,
    /// A gap between two clock readings longer than this is a pause, in µs: 10..=100,000
    /// (default 50, above interrupts and hypervisor exits, far below throttling pauses).
    #[serde(default = "default_gap_us")]
    #[schemars(range(min = MIN_GAP_US, max = MAX_GAP_US))]
    pub gap_us: u32,
}

fn default_duration_ms() -> u32 {
    DEFAULT_DURATION_MS
}

fn default_threads() -> u32 {
    DEFAULT_THREADS
}

fn default_gap_us() -> u32 {
    DEFAULT_GAP_US
}

// ---------------------------------------------------------------- results

/// The figures of one thread, and over all threads (the same names).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct TimelineFigures {
    /// The typical spacing between throttling pauses (the mean of the middle half of the
    /// spacings between their ends): how often the thread was paused. The enforcement period
    /// (`grid_ms`) when it was paused every period, more when it skipped periods. Null when it
    /// was never throttled.
    pub period_ms: Option<f64>,
    /// Why `period_ms` is null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_unavailable: Option<String>,
    /// The grid the throttling pauses end on: the enforcement period itself.
    pub grid_ms: Option<f64>,
    /// The CPU the thread gets per period: `share` × `period_ms` (a period's quota, per
    /// thread, when it is paused every period). Not the median run: CPU time is counted at
    /// ticks, so runs come in tick-sized steps around the quota (8.8 and 12.8 ms for 11.6 ms
    /// at 4 ms ticks) and a median would pick one of the steps.
    pub run_ms_per_period: Option<f64>,
    /// The least and the most CPU it got between two throttling pauses: more than a period's
    /// quota means it overshot and paid with skipped periods.
    pub shortest_run_ms: Option<f64>,
    pub longest_run_ms: Option<f64>,
    /// CPU time ÷ wall time over whole periods (from the end of the first throttling pause to
    /// the end of the last), or over the whole spin when never throttled: the vCPUs it really
    /// got. Over all threads: the sum.
    pub share: Option<f64>,
    /// The wall time `share` was taken over.
    pub share_window_ms: Option<f64>,
    /// The periods in that window (spacings between throttling pauses).
    pub whole_periods: u64,
    /// Grid points in that window at which the thread stayed paused: it had used more than a
    /// period's quota (CPU time is counted at ticks) and waited out whole periods.
    pub skipped_periods: u64,
    /// The CPU it got before its first throttling pause: the start-of-invocation burst.
    pub first_run_ms: Option<f64>,
    /// Pauses longer than `gap_us`, of every kind.
    pub pauses: u64,
    /// Of which throttling (ending on the grid).
    pub throttling_pauses: u64,
    /// All pauses added up.
    pub paused_ms: f64,
    pub longest_pause_ms: Option<f64>,
}

/// One thread.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ThreadFigures {
    pub thread: u32,
    /// Its first clock reading, in ms from the run's start (the time axis of `samples`).
    pub started_ms: f64,
    /// How long it spun.
    pub spin_ms: f64,
    /// Its CPU clock over the spin.
    pub cpu_ms: f64,
    #[serde(flatten)]
    pub timeline: TimelineFigures,
    /// Pauses past the first 50,000, counted in `pauses` and `paused_ms` but not analysed.
    pub pauses_not_analysed: u64,
}

/// Pauses of one range of lengths, over all threads.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct HistogramBin {
    pub from_us: u64,
    /// Null for the last, open-ended bin.
    pub to_us: Option<u64>,
    pub pauses: u64,
    pub throttling: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[schemars(rename = "CpuTimelineFigures")]
pub struct Figures {
    /// Threads that spun.
    pub threads_done: u32,
    /// How long they spun (median over threads).
    pub spin_ms: f64,
    /// Over all threads: `grid_ms` is the grid of the thread with the most throttling pauses,
    /// `period_ms` is how often the process was paused (any thread's throttling pause counts:
    /// threads share the quota and take turns being the one throttled), `run_ms_per_period`
    /// is `share` ÷ threads × `period_ms` (what a thread gets per period, on average); counts
    /// and `paused_ms` add up, `share` adds up (vCPUs), the longest and shortest are over all
    /// threads, the rest are medians over the threads.
    #[serde(flatten)]
    pub over_all: TimelineFigures,
    /// Lengths of every analysed pause, 1-2-5 bins, non-empty bins only.
    pub pause_histogram: Vec<HistogramBin>,
    /// How many pauses of each thread `samples` holds at most (its first ones).
    pub samples_per_thread: u32,
    pub per_thread: Vec<ThreadFigures>,
}

/// One pause.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[schemars(rename = "CpuTimelinePause")]
pub struct PauseSample {
    pub thread: u32,
    /// From the run's start (`per_thread[].started_ms` is on the same axis).
    pub start_us: f64,
    pub length_us: f64,
    /// Ends on the enforcement grid: the quota ran out.
    pub throttling: bool,
}

// ---------------------------------------------------------------- the workload

impl Workload for CpuTimeline {
    const NAME: &'static str = "cpu-timeline";
    const ABOUT: &'static str = "Spins for 2 s reading the clock and records every pause: the CPU quota's enforcement period, the CPU per period, the first run's burst and the share over whole periods, per thread";
    type Input = CpuTimelineParams;
    type Params = CpuTimelineParams;
    type Figures = Figures;
    type Sample = PauseSample;

    fn resolve(input: CpuTimelineParams, _host: &Host) -> Result<CpuTimelineParams, ProbeError> {
        const W: &str = "cpu-timeline";
        check_range(
            W,
            "duration_ms",
            input.duration_ms,
            MIN_DURATION_MS,
            MAX_DURATION_MS,
        )?;
        check_range(W, "threads", input.threads, 1, MAX_THREADS)?;
        check_range(W, "gap_us", input.gap_us, MIN_GAP_US, MAX_GAP_US)?;
        Ok(input)
    }

    /// 300 ms of spinning: a dozen 20 ms periods, three of 100 ms.
    fn quick(mut params: CpuTimelineParams) -> CpuTimelineParams {
        params.duration_ms = params.duration_ms.min(QUICK_DURATION_MS);
        params
    }

    async fn run(
        params: CpuTimelineParams,
        ctx: Context,
    ) -> Result<Outcome<Figures, PauseSample>, ProbeError> {
        blocking(move || run(&params, ctx.deadline)).await?
    }

    /// The period, the CPU per period, the share and the first burst, when measured.
    fn metrics(run: &Run<Self>) -> Vec<Metric> {
        let f = &run.summary.figures.over_all;
        [
            ("CpuTimelinePeriodMs", Unit::Milliseconds, f.period_ms),
            ("CpuTimelineGridMs", Unit::Milliseconds, f.grid_ms),
            (
                "CpuTimelineRunMsPerPeriod",
                Unit::Milliseconds,
                f.run_ms_per_period,
            ),
            ("CpuTimelineFirstRunMs", Unit::Milliseconds, f.first_run_ms),
            ("CpuTimelineShare", Unit::None, f.share),
        ]
        .into_iter()
        .filter_map(|(name, unit, v)| v.map(|v| Metric::new(name, unit, v)))
        .collect()
    }

    fn summary_text(run: &Run<Self>) -> String {
        let f = &run.summary.figures;
        let mut out = format!(
            "  {} thread(s) spun {:.1} ms: {}\n",
            f.threads_done,
            f.spin_ms,
            line(&f.over_all)
        );
        if f.per_thread.len() > 1 {
            for t in &f.per_thread {
                out += &format!("    thread {}: {}\n", t.thread, line(&t.timeline));
            }
        }
        out
    }

    /// `period_ms`, `grid_ms` and `share` against memory size.
    fn plotted(run: &Run<Self>) -> Vec<Plotted> {
        let f = &run.summary.figures.over_all;
        let series = Some(if run.params.threads == 1 {
            "1 thread".to_string()
        } else {
            format!("{} threads", run.params.threads)
        });
        let mut out = Vec::new();
        if let Some(v) = f.period_ms {
            out.push(Plotted {
                plot: "period",
                title: "Throttling pauses: spacing vs memory",
                y_label: "period_ms (ms between throttling pauses)",
                decimals: 1,
                series: series.clone(),
                value: v,
                note: Some("The typical spacing between throttling pauses; it equals the enforcement period (grid_ms) unless runs overshoot a period's quota and periods are skipped. No point: never throttled."),
                cpu_model_guide: false,
            });
        }
        if let Some(v) = f.grid_ms {
            out.push(Plotted {
                plot: "grid",
                title: "Enforcement period vs memory",
                y_label: "grid_ms (the grid throttling pauses end on)",
                decimals: 1,
                series: series.clone(),
                value: v,
                note: None,
                cpu_model_guide: false,
            });
        }
        if let Some(v) = f.share {
            out.push(Plotted {
                plot: "share",
                title: "CPU share over whole periods vs memory",
                y_label: "vCPU (CPU time ÷ wall time)",
                decimals: 3,
                series,
                value: v,
                note: Some("CPU time ÷ wall time over whole periods. Vertical lines: where Lambda shows one more core; grey line: min(M ÷ 1,769, cores)."),
                cpu_model_guide: true,
            });
        }
        out
    }

    /// Each thread's spin and its pauses (the samples: its first 1,000), throttling marked.
    /// Every spinning thread's CPU clock over its spin, summed.
    fn thread_cpu_ms(run: &Run<Self>) -> Option<f64> {
        let per = &run.summary.figures.per_thread;
        (!per.is_empty()).then(|| per.iter().map(|t| t.cpu_ms).sum())
    }

    fn timeline(run: &Run<Self>) -> Option<Timeline> {
        let f = &run.summary.figures;
        let lanes: Vec<Lane> = f
            .per_thread
            .iter()
            .map(|t| {
                let gaps: Vec<LaneGap> = run
                    .samples
                    .iter()
                    .filter(|s| s.thread == t.thread)
                    .map(|s| LaneGap {
                        start_ms: s.start_us / 1000.0,
                        length_ms: s.length_us / 1000.0,
                        marked: s.throttling,
                    })
                    .collect();
                // With more pauses than samples, the lane ends where its samples do.
                let mut to_ms = t.started_ms + t.spin_ms;
                if t.timeline.pauses > gaps.len() as u64 {
                    if let Some(last) = gaps.last() {
                        to_ms = last.start_ms + last.length_ms;
                    }
                }
                Lane {
                    label: format!("thread {}", t.thread),
                    from_ms: t.started_ms,
                    to_ms,
                    gaps,
                }
            })
            .collect();
        (!lanes.is_empty()).then_some(Timeline {
            title: "Runs and pauses",
            filled: "running",
            gap: "paused (other)",
            marked: "throttled",
            lanes,
            note: Some("Each lane: one thread's spin from its start; coloured: running; red: throttling pauses (they end on the enforcement grid); grey: other pauses (interrupts, other processes)."),
        })
    }

    // No `phases`: the spin lasts `duration_ms` at every memory size by construction, so there
    // is no run time to project; what predict wants from this workload is `period_ms`
    // ([`measured_period_ms`]).
}

/// The enforcement period a run measured, for `predict`: `grid_ms` (the period the quota is
/// refilled at), or `None` when the run was never throttled.
pub fn measured_period_ms(run: &Run<CpuTimeline>) -> Option<f64> {
    run.summary.figures.over_all.grid_ms
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2} ms"))
        .unwrap_or_else(|| "-".into())
}

fn line(f: &TimelineFigures) -> String {
    let period = match (&f.period_ms, &f.period_unavailable) {
        (Some(_), _) => format!(
            "period {} (grid {}, {} skipped), {} run per period ({} to {}), first run {}",
            ms(f.period_ms),
            ms(f.grid_ms),
            f.skipped_periods,
            ms(f.run_ms_per_period),
            ms(f.shortest_run_ms),
            ms(f.longest_run_ms),
            ms(f.first_run_ms),
        ),
        (None, Some(why)) => format!("no period: {why}"),
        (None, None) => "no period".into(),
    };
    format!(
        "{period}; share {} vCPU over {}; {} pauses ({} throttling), {:.2} ms paused, longest {}",
        f.share
            .map(|v| format!("{v:.3}"))
            .unwrap_or_else(|| "-".into()),
        ms(f.share_window_ms),
        f.pauses,
        f.throttling_pauses,
        f.paused_ms,
        ms(f.longest_pause_ms),
    )
}

// ---------------------------------------------------------------- the run

/// When the spin starts and must end, handed to the threads once all of them exist.
type Start = Option<(Instant, Instant)>;

/// Spins `threads` threads over one stretch of time and reads their pauses.
pub fn run(
    p: &CpuTimelineParams,
    deadline: Deadline,
) -> Result<Outcome<Figures, PauseSample>, ProbeError> {
    if deadline.reached() {
        return Ok(outcome(Vec::new(), Some(TruncatedReason::Deadline)));
    }
    let gap = Duration::from_micros(p.gap_us as u64);
    let go: (Mutex<Start>, Condvar) = (Mutex::new(None), Condvar::new());
    let mut spawn_failed = false;
    let mut cut = false;
    let logs = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for i in 0..p.threads {
            let go = &go;
            let spawned = std::thread::Builder::new()
                .name(format!("cpu-timeline-{i}"))
                .spawn_scoped(s, move || {
                    let (base, until) = wait_for(go);
                    spin_until(base, until, gap, ANALYSED_PER_THREAD)
                });
            match spawned {
                Ok(h) => handles.push(h),
                Err(_) => {
                    // Out of threads is a limit of the sandbox: spin with the ones we have.
                    spawn_failed = true;
                    break;
                }
            }
        }
        let base = Instant::now();
        let asked = base + Duration::from_millis(p.duration_ms as u64);
        let until = match deadline.remaining() {
            Some(left) if base + left < asked => {
                cut = true;
                base + left
            }
            _ => asked,
        };
        {
            let mut start = go.0.lock().unwrap_or_else(|e| e.into_inner());
            *start = Some((base, until));
        }
        go.1.notify_all();
        handles
            .into_iter()
            .map(|h| h.join())
            .collect::<Result<Vec<GapLog>, _>>()
    })
    .map_err(|_| ProbeError::internal("cpu-timeline: a spinning thread panicked"))?;
    let truncated = if cut {
        Some(TruncatedReason::Deadline)
    } else if spawn_failed {
        Some(TruncatedReason::ThreadPool)
    } else {
        None
    };
    Ok(outcome(logs, truncated))
}

fn wait_for(go: &(Mutex<Start>, Condvar)) -> (Instant, Instant) {
    let mut start = go.0.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(s) = *start {
            return s;
        }
        start = go.1.wait(start).unwrap_or_else(|e| e.into_inner());
    }
}

fn min(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::min)
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

fn spin_of(log: &GapLog) -> Spin {
    Spin {
        started_us: us(log.started_ns),
        ended_us: us(log.ended_ns),
        cpu_us: us(log.cpu_ns),
        pauses: log
            .gaps
            .iter()
            .map(|g| Pause {
                start_us: us(g.start_ns),
                length_us: us(g.length_ns),
                cpu_us: us(g.cpu_ns),
            })
            .collect(),
    }
}

/// The figures of one thread from its log and its reading.
fn thread_figures(i: u32, log: &GapLog, t: &Spin, r: &Reading) -> ThreadFigures {
    let spin_us = t.ended_us - t.started_us;
    let mut f = TimelineFigures {
        pauses: log.gaps_seen,
        throttling_pauses: r.throttling.iter().filter(|&&b| b).count() as u64,
        paused_ms: round(us(log.gap_ns_total) / 1000.0, 3),
        longest_pause_ms: (log.gaps_seen > 0).then(|| round(us(log.longest_gap_ns) / 1000.0, 3)),
        ..TimelineFigures::default()
    };
    match &r.periods {
        Ok(x) => {
            f.period_ms = Some(round(x.period_us / 1000.0, 3));
            f.grid_ms = Some(round(x.grid_us / 1000.0, 3));
            f.run_ms_per_period = Some(round(x.share * x.period_us / 1000.0, 3));
            f.shortest_run_ms = min(&x.runs_us).map(|v| round(v / 1000.0, 3));
            f.longest_run_ms = max(&x.runs_us).map(|v| round(v / 1000.0, 3));
            f.share = Some(round(x.share, 4));
            f.share_window_ms = Some(round(x.window_us / 1000.0, 3));
            f.whole_periods = x.runs_us.len() as u64;
            f.skipped_periods = x.skipped;
            f.first_run_ms = Some(round(x.first_run_us / 1000.0, 3));
        }
        Err(why) => {
            f.period_unavailable = Some(why.clone());
            if spin_us > 0.0 {
                f.share = Some(round(t.cpu_us / spin_us, 4));
                f.share_window_ms = Some(round(spin_us / 1000.0, 3));
            }
        }
    }
    ThreadFigures {
        thread: i,
        started_ms: round(t.started_us / 1000.0, 3),
        spin_ms: round(spin_us / 1000.0, 3),
        cpu_ms: round(t.cpu_us / 1000.0, 3),
        timeline: f,
        pauses_not_analysed: log.gaps_dropped(),
    }
}

/// Over all threads: see [`Figures::over_all`].
fn over_all(threads: &[ThreadFigures], spins: &[Spin], readings: &[Reading]) -> TimelineFigures {
    let each = |get: fn(&TimelineFigures) -> Option<f64>| -> Vec<f64> {
        threads.iter().filter_map(|t| get(&t.timeline)).collect()
    };
    // The grid of the thread with the most throttling pauses on it: the best evidence (with
    // two threads, a median would be the mean of a right grid and a wrong one).
    let grid_ms = threads
        .iter()
        .filter(|t| t.timeline.grid_ms.is_some())
        .max_by_key(|t| t.timeline.throttling_pauses)
        .and_then(|t| t.timeline.grid_ms);
    // How often the process was paused: any thread's throttling pause counts (threads share
    // the quota, and take turns being the one throttled).
    let ends: Vec<Vec<f64>> = spins
        .iter()
        .zip(readings)
        .map(|(s, r)| {
            s.pauses
                .iter()
                .zip(&r.throttling)
                .filter(|(_, &th)| th)
                .map(|(p, _)| p.end_us())
                .collect()
        })
        .collect();
    let period_ms = grid_ms
        .and_then(|g| analysis::period_over_threads(&ends, g * 1000.0))
        .map(|v| round(v / 1000.0, 3));
    let shares = each(|f| f.share);
    let share = (!shares.is_empty()).then(|| round(shares.iter().sum(), 4));
    TimelineFigures {
        period_ms,
        period_unavailable: match period_ms {
            Some(_) => None,
            None if threads.is_empty() => Some("no thread spun (the deadline came first)".into()),
            None => Some(
                threads
                    .iter()
                    .find_map(|t| t.timeline.period_unavailable.clone())
                    .unwrap_or_else(|| "fewer than 2 throttling pauses over all threads".into()),
            ),
        },
        grid_ms,
        // Per thread, on average: the share each thread got, per period of the process.
        run_ms_per_period: match (share, period_ms) {
            (Some(s), Some(p)) => Some(round(s / threads.len() as f64 * p, 3)),
            _ => None,
        },
        shortest_run_ms: min(&each(|f| f.shortest_run_ms)),
        longest_run_ms: max(&each(|f| f.longest_run_ms)),
        share,
        share_window_ms: median(&each(|f| f.share_window_ms)).map(|v| round(v, 3)),
        whole_periods: threads.iter().map(|t| t.timeline.whole_periods).sum(),
        skipped_periods: threads.iter().map(|t| t.timeline.skipped_periods).sum(),
        first_run_ms: median(&each(|f| f.first_run_ms)).map(|v| round(v, 3)),
        pauses: threads.iter().map(|t| t.timeline.pauses).sum(),
        throttling_pauses: threads.iter().map(|t| t.timeline.throttling_pauses).sum(),
        paused_ms: round(threads.iter().map(|t| t.timeline.paused_ms).sum(), 3),
        longest_pause_ms: max(&each(|f| f.longest_pause_ms)),
    }
}

/// 1-2-5 bin edges in µs, from the smallest `gap_us` to past the longest duration.
const BIN_EDGES_US: [u64; 17] = [
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000,
    500_000, 1_000_000, 2_000_000,
];

fn histogram(spins: &[Spin], readings: &[Reading]) -> Vec<HistogramBin> {
    let mut bins: Vec<HistogramBin> = BIN_EDGES_US
        .iter()
        .enumerate()
        .map(|(i, &from_us)| HistogramBin {
            from_us,
            to_us: BIN_EDGES_US.get(i + 1).copied(),
            pauses: 0,
            throttling: 0,
        })
        .collect();
    for (t, r) in spins.iter().zip(readings) {
        for (p, &th) in t.pauses.iter().zip(&r.throttling) {
            let i = BIN_EDGES_US
                .iter()
                .rposition(|&e| p.length_us >= e as f64)
                .unwrap_or(0);
            bins[i].pauses += 1;
            bins[i].throttling += th as u64;
        }
    }
    bins.retain(|b| b.pauses > 0);
    bins
}

fn outcome(logs: Vec<GapLog>, truncated: Option<TruncatedReason>) -> Outcome<Figures, PauseSample> {
    let spins: Vec<Spin> = logs.iter().map(spin_of).collect();
    let readings: Vec<Reading> = spins.iter().map(analysis::read).collect();
    let per_thread: Vec<ThreadFigures> = logs
        .iter()
        .zip(&spins)
        .zip(&readings)
        .enumerate()
        .map(|(i, ((log, t), r))| thread_figures(i as u32, log, t, r))
        .collect();
    let samples: Vec<PauseSample> = spins
        .iter()
        .zip(&readings)
        .enumerate()
        .flat_map(|(i, (t, r))| {
            t.pauses
                .iter()
                .zip(&r.throttling)
                .take(SAMPLES_PER_THREAD)
                .map(move |(p, &throttling)| PauseSample {
                    thread: i as u32,
                    start_us: round(p.start_us, 1),
                    length_us: round(p.length_us, 1),
                    throttling,
                })
        })
        .collect();
    let spun: Vec<f64> = per_thread.iter().map(|t| t.spin_ms).collect();
    let figures = Figures {
        threads_done: per_thread.len() as u32,
        spin_ms: median(&spun).map(|v| round(v, 3)).unwrap_or(0.0),
        over_all: over_all(&per_thread, &spins, &readings),
        pause_histogram: histogram(&spins, &readings),
        samples_per_thread: SAMPLES_PER_THREAD as u32,
        per_thread,
    };
    Outcome {
        figures,
        samples,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(duration_ms: u32, threads: u32) -> CpuTimelineParams {
        CpuTimelineParams {
            duration_ms,
            threads,
            gap_us: DEFAULT_GAP_US,
        }
    }

    #[test]
    fn every_thread_spins_for_the_duration_on_one_time_axis() {
        let r = run(&params(150, 2), Deadline::none()).unwrap();
        assert_eq!(r.truncated, None);
        let f = &r.figures;
        assert_eq!(f.threads_done, 2);
        assert_eq!(f.per_thread.len(), 2);
        for t in &f.per_thread {
            // Each spins on the run's time axis until the same instant, 150 ms after the start
            // (how soon a thread starts depends on how busy the machine is).
            let until = t.started_ms + t.spin_ms;
            assert!((149.0..2_000.0).contains(&until), "{t:?}");
            assert!(t.started_ms >= 0.0 && t.started_ms < until, "{t:?}");
            assert!(t.cpu_ms > 0.0 && t.cpu_ms <= t.spin_ms + 1.0, "{t:?}");
            let share = t.timeline.share.unwrap();
            assert!(share > 0.0 && share <= 1.05, "{t:?}");
        }
        // Counts add up, the samples are each thread's pauses on its own spin.
        assert_eq!(
            f.over_all.pauses,
            f.per_thread.iter().map(|t| t.timeline.pauses).sum::<u64>()
        );
        let binned: u64 = f.pause_histogram.iter().map(|b| b.pauses).sum();
        assert_eq!(binned, f.over_all.pauses);
        for s in &r.samples {
            let t = &f.per_thread[s.thread as usize];
            assert!(s.length_us > DEFAULT_GAP_US as f64, "{s:?}");
            assert!(s.start_us >= t.started_ms * 1000.0 - 1.0, "{s:?}");
            assert!(
                s.start_us + s.length_us <= (t.started_ms + t.spin_ms) * 1000.0 + 1.0,
                "{s:?}"
            );
        }
        // A null period always says why.
        for t in &f.per_thread {
            assert_eq!(
                t.timeline.period_ms.is_none(),
                t.timeline.period_unavailable.is_some()
            );
        }
        assert_eq!(
            f.over_all.period_ms.is_none(),
            f.over_all.period_unavailable.is_some()
        );
    }

    #[test]
    fn the_deadline_cuts_the_spin() {
        // Inside the margin: nothing spins, and it says so.
        let r = run(&params(2_000, 1), Deadline::after(Duration::from_millis(1))).unwrap();
        assert_eq!(r.truncated, Some(TruncatedReason::Deadline));
        assert!(r.samples.is_empty());
        assert_eq!(r.figures.threads_done, 0);
        assert!(r.figures.over_all.period_unavailable.is_some());

        // Mid-run: the spin stops at the deadline, well before the 10 s asked for.
        let budget = Duration::from_millis(crate::measure::deadline::SAFETY_MARGIN_MS + 200);
        let started = Instant::now();
        let r = run(&params(10_000, 2), Deadline::after(budget)).unwrap();
        assert_eq!(r.truncated, Some(TruncatedReason::Deadline));
        assert!(started.elapsed() < budget, "{:?}", started.elapsed());
        assert_eq!(r.figures.threads_done, 2);
        assert!(r.figures.spin_ms >= 100.0, "{:?}", r.figures);
    }

    #[test]
    fn defaults_edges_and_refusals() {
        use crate::workloads::Request;
        use serde_json::json;
        let host = Host { cores: 2 };
        let parse = |v: serde_json::Value| crate::request::parse(v, host);
        match parse(json!({"workload": "cpu-timeline"})).unwrap() {
            Request::CpuTimeline(p) => {
                assert_eq!(p, params(DEFAULT_DURATION_MS, DEFAULT_THREADS));
                assert_eq!(CpuTimeline::quick(p).duration_ms, QUICK_DURATION_MS);
            }
            other => panic!("{other:?}"),
        }
        for edge in [
            json!({"workload": "cpu-timeline", "duration_ms": MIN_DURATION_MS, "threads": 1, "gap_us": MIN_GAP_US}),
            json!({"workload": "cpu-timeline", "duration_ms": MAX_DURATION_MS, "threads": MAX_THREADS, "gap_us": MAX_GAP_US}),
        ] {
            parse(edge.clone()).unwrap_or_else(|e| panic!("{edge}: {e}"));
        }
        for (field, bad) in [
            ("duration_ms", json!(MIN_DURATION_MS - 1)),
            ("duration_ms", json!(MAX_DURATION_MS + 1)),
            ("threads", json!(0)),
            ("threads", json!(MAX_THREADS + 1)),
            ("gap_us", json!(MIN_GAP_US - 1)),
            ("gap_us", json!(MAX_GAP_US + 1)),
            ("gap_us", json!(1.5)),
            ("threads", json!("2")),
        ] {
            let mut event = json!({"workload": "cpu-timeline"});
            event[field] = bad.clone();
            let e = parse(event).unwrap_err();
            assert_eq!(e.error_type, crate::error::ErrorType::InvalidPayload);
            assert!(e.message.contains(field), "{field} = {bad}: {}", e.message);
        }
        let e = parse(json!({"workload": "cpu-timeline", "period_ms": 20})).unwrap_err();
        assert!(e.message.contains("period_ms"), "{}", e.message);
    }

    #[test]
    fn histogram_bins_cover_every_length() {
        let t = Spin {
            started_us: 0.0,
            ended_us: 1e6,
            cpu_us: 9e5,
            pauses: [60.0, 99.0, 100.0, 3_000.0, 2_500_000.0]
                .iter()
                .enumerate()
                .map(|(i, &l)| Pause {
                    start_us: i as f64 * 1e5,
                    length_us: l,
                    cpu_us: 0.0,
                })
                .collect(),
        };
        let r = Reading {
            throttling: vec![false, false, true, true, false],
            periods: Err("test".into()),
        };
        let h = histogram(&[t], &[r]);
        let got: Vec<(u64, Option<u64>, u64, u64)> = h
            .iter()
            .map(|b| (b.from_us, b.to_us, b.pauses, b.throttling))
            .collect();
        assert_eq!(
            got,
            vec![
                (50, Some(100), 2, 0),
                (100, Some(200), 1, 1),
                (2_000, Some(5_000), 1, 1),
                (2_000_000, None, 1, 0),
            ]
        );
    }
}
