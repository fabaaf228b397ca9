//! memset bandwidth: paint `bytes` with libc's memset, `repeats` times. `first_touch: false`
//! repaints one buffer touched beforehand (memory bandwidth); `first_touch: true` paints a fresh
//! mapping every repeat (first-touch bandwidth: page faults included). The memory comes
//! straight from the kernel (`mmap`), so the allocator's settings play no part.

use super::memory::{run_guarded, GuardFigures, Mapping, MemoryLock};
use super::{check_range, Context, Host, Outcome, Phase, Plotted, Run, Workload};
use crate::budget::{Budget, Fit, Need};
use crate::error::ProbeError;
use crate::measure::clock::SpanStart;
use crate::measure::stats::{median, percentile, round};
use crate::measure::{Deadline, Laps};
use crate::response::TruncatedReason;
use crate::telemetry::{Metric, Unit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The memset workload.
#[derive(Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct Memset;

/// 64 MiB: far past every cache, small enough for 128 MB functions.
pub const DEFAULT_BYTES: u64 = 64 << 20;
pub const DEFAULT_REPEATS: u32 = 20;
/// One page up to 16 GiB (more than the largest Lambda); the memory guard is the real bound.
pub const MIN_BYTES: u64 = 4096;
pub const MAX_BYTES: u64 = 16 << 30;
/// One sample row per repeat; the deadline stops long runs anyway.
pub const MAX_REPEATS: u32 = 1000;

/// The event's fields, and the parameters as they run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemsetParams {
    /// Bytes painted per repeat: 4,096..=17,179,869,184.
    #[serde(default = "default_bytes")]
    #[schemars(range(min = MIN_BYTES, max = MAX_BYTES))]
    pub bytes: u64,
    /// Timed paints: 1..=1000.
    #[serde(default = "default_repeats")]
    #[schemars(range(min = 1, max = MAX_REPEATS))]
    pub repeats: u32,
    /// true: every repeat paints freshly mapped memory (first-touch bandwidth); false: every
    /// repeat repaints one buffer touched beforehand (memory bandwidth).
    #[serde(default)]
    pub first_touch: bool,
}

fn default_bytes() -> u64 {
    DEFAULT_BYTES
}

fn default_repeats() -> u32 {
    DEFAULT_REPEATS
}

impl Workload for Memset {
    const NAME: &'static str = "memset";
    const PROCESS_WIDE: &'static [&'static str] = &[
        "samples[].new_pages",
        "summary.new_pages_per_mib",
        "summary.warmup_new_pages",
    ];
    const ABOUT: &'static str =
        "memset bandwidth in GB/s, on touched memory or on freshly mapped memory (first touch)";
    type Input = MemsetParams;
    type Params = MemsetParams;
    type Figures = Figures;
    type Sample = RepeatSample;

    fn resolve(input: MemsetParams, _host: &Host) -> Result<MemsetParams, ProbeError> {
        const W: &str = "memset";
        check_range(W, "bytes", input.bytes, MIN_BYTES, MAX_BYTES)?;
        check_range(W, "repeats", input.repeats, 1, MAX_REPEATS)?;
        Ok(input)
    }

    /// At most 3 repeats of 8 MiB.
    fn quick(mut params: MemsetParams) -> MemsetParams {
        params.repeats = params.repeats.min(3);
        params.bytes = params.bytes.min(8 << 20);
        params
    }

    fn need(params: &MemsetParams, page_bytes: u64) -> Option<Need> {
        Some(need(params, page_bytes))
    }

    async fn run(
        params: MemsetParams,
        ctx: Context,
    ) -> Result<Outcome<Figures, RepeatSample>, ProbeError> {
        let need = Self::need(&params, crate::host::page_size_bytes());
        let deadline = ctx.deadline;
        let p = params.clone();
        run_guarded(need, deadline, move || run(&p, deadline), || not_run(&params)).await
    }

    /// `67108864x20 touched` or `… first-touch`.
    fn experiment(p: &MemsetParams) -> String {
        format!(
            "{}x{} {}",
            p.bytes,
            p.repeats,
            if p.first_touch {
                "first-touch"
            } else {
                "touched"
            }
        )
    }

    /// Median painting bandwidth.
    fn metrics(run: &Run<Self>) -> Vec<Metric> {
        let f = &run.summary.figures;
        let name = if f.first_touch {
            "MemsetFirstTouchGBps"
        } else {
            "MemsetGBps"
        };
        f.gb_per_s_median
            .map(|v| vec![Metric::new(name, Unit::GigabytesPerSecond, v)])
            .unwrap_or_default()
    }

    fn summary_text(run: &Run<Self>) -> String {
        let f = &run.summary.figures;
        let o = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
        format!(
            "  memset ({}): {} GB/s median (p10 {}, max {}), {} µs/MiB, {} new pages/MiB over {} repeats\n",
            if f.first_touch { "first touch" } else { "touched memory" },
            o(f.gb_per_s_median),
            o(f.gb_per_s_p10),
            o(f.gb_per_s_max),
            o(f.us_per_mib_median),
            o(f.new_pages_per_mib),
            f.repeats_done,
        ) + &f.memory_budget.summary_line()
    }

    fn plotted(run: &Run<Self>) -> Vec<Plotted> {
        let f = &run.summary.figures;
        f.gb_per_s_median
            .map(|v| Plotted {
                plot: "bandwidth",
                title: "memset bandwidth vs memory",
                y_label: "GB/s (median over repeats)",
                decimals: 2,
                series: Some(
                    if f.first_touch {
                        "first touch"
                    } else {
                        "touched memory"
                    }
                    .into(),
                ),
                value: v,
                note: None,
                cpu_model_guide: false,
            })
            .into_iter()
            .collect()
    }

    fn budget(run: &Run<Self>) -> Option<&Budget> {
        Some(&run.summary.figures.memory_budget)
    }

    /// Single-threaded CPU phases: the warm-up paint (repaint mode: it faults the buffer in),
    /// then the repeats, each with its measured wall and CPU time. The warm-up's page-fault
    /// cost is its time over a median repeat's (the same bytes painted, without the faults).
    fn phases(run: &Run<Self>) -> Vec<Phase> {
        let f = &run.summary.figures;
        let walls: Vec<f64> = run.samples.iter().map(|s| s.wall_us).collect();
        let mut out = Vec::new();
        if let Some(warmup_us) = f.warmup_us {
            let wall_ms = warmup_us / 1000.0;
            out.push(Phase {
                new_pages: f.warmup_new_pages,
                fault_ms: median(&walls).map(|m| ((warmup_us - m) / 1000.0).max(0.0)),
                ..Phase::cpu(
                    "warm-up paint",
                    wall_ms,
                    f.warmup_cpu_ms.unwrap_or(wall_ms),
                    1.0,
                )
            });
        }
        if !run.samples.is_empty() {
            let painted_ms = walls.iter().sum::<f64>() / 1000.0;
            let wall_ms = f.repeats_wall_ms.unwrap_or(painted_ms);
            let cpu: Vec<f64> = run
                .samples
                .iter()
                .filter_map(|s| s.cpu_us.map(|c| c as f64))
                .collect();
            out.push(Phase {
                new_pages: Some(run.samples.iter().map(|s| s.new_pages).sum()),
                cpu_spread: (cpu.len() == run.samples.len())
                    .then(|| super::item_spread(&cpu))
                    .flatten(),
                ..Phase::cpu(
                    if f.first_touch {
                        "repeats (first touch)"
                    } else {
                        "repeats"
                    },
                    wall_ms,
                    f.repeats_cpu_ms.unwrap_or(wall_ms),
                    1.0,
                )
            });
        }
        out
    }
}

/// One repeat.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct RepeatSample {
    pub repeat: u32,
    pub wall_us: f64,
    /// 10⁹ bytes per second.
    pub gb_per_s: f64,
    /// Minor page faults of the process over the paint.
    pub new_pages: u64,
    /// CPU time of the thread that painted (the wall may also hold time waiting for a CPU share).
    #[serde(default)]
    pub cpu_us: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[schemars(rename = "MemsetFigures")]
pub struct Figures {
    pub first_touch: bool,
    pub repeats_done: u32,
    pub gb_per_s_median: Option<f64>,
    /// The slow tail: 9 repeats in 10 were at least this fast.
    pub gb_per_s_p10: Option<f64>,
    pub gb_per_s_max: Option<f64>,
    pub us_per_mib_median: Option<f64>,
    pub new_pages_per_mib: Option<f64>,
    /// `first_touch: false` only: the untimed paint that touched the buffer before the repeats.
    pub warmup_us: Option<f64>,
    pub warmup_new_pages: Option<u64>,
    /// Process CPU time of the warm-up paint (its wall may also hold time spent waiting for a
    /// CPU share).
    #[serde(default)]
    pub warmup_cpu_ms: Option<f64>,
    /// Wall and process CPU time over all the repeats, mapping and unmapping included.
    #[serde(default)]
    pub repeats_wall_ms: Option<f64>,
    #[serde(default)]
    pub repeats_cpu_ms: Option<f64>,
    /// The memory the request was checked against before it ran (when the deadline came
    /// while it waited for another memory workload, nothing ran: the budget then is a reading
    /// of that moment, checked against nothing).
    pub memory_budget: Budget,
    /// Whether it waited for another memory workload of the process, and when it ran.
    pub memory_lock: MemoryLock,
}

impl GuardFigures for Figures {
    fn memory_budget(&mut self) -> &mut Budget {
        &mut self.memory_budget
    }
    fn memory_lock(&mut self) -> &mut MemoryLock {
        &mut self.memory_lock
    }
}

const ROW_BYTES: u64 = std::mem::size_of::<RepeatSample>() as u64;

/// One buffer of `bytes` (rounded up to pages) is held at a time, plus the sample rows.
pub fn need(p: &MemsetParams, page_bytes: u64) -> Need {
    let rows = ROW_BYTES * p.repeats as u64;
    Need {
        workload: "memset",
        bytes: p.bytes.div_ceil(page_bytes) * page_bytes + rows,
        what: format!(
            "one buffer of {} bytes and {rows} bytes of samples",
            p.bytes
        ),
        fits: vec![Fit {
            field: "bytes",
            fixed_bytes: rows,
            bytes_per_unit: 1,
            min: MIN_BYTES,
            max: MAX_BYTES,
            multiple_of: page_bytes,
            context: format!("at {} repeats", p.repeats),
        }],
    }
}

pub fn run(
    p: &MemsetParams,
    deadline: Deadline,
) -> Result<Outcome<Figures, RepeatSample>, ProbeError> {
    let len = usize::try_from(p.bytes)
        .map_err(|_| ProbeError::invalid("memset: `bytes` does not fit this machine"))?;
    let map = |len| {
        Mapping::new(len).map_err(|e| {
            ProbeError::over_budget(format!(
                "memset: {e}: the function has less memory than it reported"
            ))
        })
    };
    let mut samples = Vec::with_capacity(p.repeats as usize);
    let mut truncated = None;

    // Repaint mode: one buffer, touched once before the timed repeats.
    let mut warm = None;
    let (mut warmup_us, mut warmup_new_pages, mut warmup_cpu_ms) = (None, None, None);
    // The warm-up paint is work too: with the deadline already reached, skip it and every repeat.
    if !p.first_touch && deadline.reached() {
        truncated = Some(TruncatedReason::Deadline);
    } else if !p.first_touch {
        let mut m = map(len)?;
        let span = SpanStart::now();
        let mut laps = Laps::start();
        m.paint(0xff);
        warmup_us = Some(round(laps.lap_us(), 3));
        warmup_cpu_ms = Some(round(span.close().cpu_ms(), 3));
        warmup_new_pages = Some(laps.new_pages());
        warm = Some(m);
    }

    let repeats_span = SpanStart::now();
    for repeat in 0..p.repeats {
        if truncated.is_some() || deadline.reached() {
            truncated = Some(TruncatedReason::Deadline);
            break;
        }
        // A different byte every repeat, never the warm-up's.
        let fill = (repeat % 254) as u8 + 1;
        let mut fresh = None;
        let m = match warm.as_mut() {
            Some(m) => m,
            None => fresh.insert(map(len)?),
        };
        let mut laps = Laps::start();
        m.paint(fill);
        let wall_us = laps.lap_us();
        let new_pages = laps.new_pages();
        let cpu_us = laps.cpu_us();
        drop(fresh);
        samples.push(RepeatSample {
            repeat,
            wall_us: round(wall_us, 3),
            gb_per_s: round(gb_per_s(p.bytes, wall_us), 3),
            new_pages,
            cpu_us: Some(cpu_us),
        });
    }
    let repeats = repeats_span.close();
    drop(warm);

    let gbs: Vec<f64> = samples.iter().map(|s| s.gb_per_s).collect();
    let mib = p.bytes as f64 / 1048576.0;
    let per_mib: Vec<f64> = samples.iter().map(|s| s.wall_us / mib).collect();
    let pages: u64 = samples.iter().map(|s| s.new_pages).sum();
    let figures = Figures {
        first_touch: p.first_touch,
        repeats_done: samples.len() as u32,
        gb_per_s_median: median(&gbs).map(|v| round(v, 3)),
        gb_per_s_p10: percentile(&gbs, 10.0).map(|v| round(v, 3)),
        gb_per_s_max: crate::measure::stats::max(&gbs),
        us_per_mib_median: median(&per_mib).map(|v| round(v, 2)),
        new_pages_per_mib: (!samples.is_empty())
            .then(|| round(pages as f64 / (mib * samples.len() as f64), 2)),
        warmup_us,
        warmup_new_pages,
        warmup_cpu_ms,
        repeats_wall_ms: (!samples.is_empty()).then(|| round(repeats.wall_ms(), 3)),
        repeats_cpu_ms: (!samples.is_empty()).then(|| round(repeats.cpu_ms(), 3)),
        // Filled in by the guard that ran this (`Workload::run`).
        memory_budget: Budget::default(),
        memory_lock: MemoryLock::default(),
    };
    Ok(Outcome {
        samples,
        figures,
        truncated,
    })
}

/// The answer when the deadline came while another memory workload of the process ran:
/// nothing painted, nothing measured.
fn not_run(p: &MemsetParams) -> Outcome<Figures, RepeatSample> {
    Outcome {
        samples: Vec::new(),
        figures: Figures {
            first_touch: p.first_touch,
            repeats_done: 0,
            gb_per_s_median: None,
            gb_per_s_p10: None,
            gb_per_s_max: None,
            us_per_mib_median: None,
            new_pages_per_mib: None,
            warmup_us: None,
            warmup_new_pages: None,
            warmup_cpu_ms: None,
            repeats_wall_ms: None,
            repeats_cpu_ms: None,
            memory_budget: Budget::read().unwrap_or_default(),
            memory_lock: MemoryLock::default(),
        },
        truncated: Some(TruncatedReason::Deadline),
    }
}

fn gb_per_s(bytes: u64, wall_us: f64) -> f64 {
    if wall_us > 0.0 {
        bytes as f64 / (wall_us * 1000.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn params(first_touch: bool) -> MemsetParams {
        MemsetParams {
            bytes: 1 << 20,
            repeats: 5,
            first_touch,
        }
    }

    // Exact page counts need a process of their own (tests here share one): tests/memory.rs.
    #[test]
    fn both_modes_time_every_repeat() {
        for first_touch in [false, true] {
            let r = run(&params(first_touch), Deadline::none()).unwrap();
            assert_eq!(r.truncated, None);
            assert_eq!(r.samples.len(), 5);
            assert_eq!(
                r.samples.iter().map(|s| s.repeat).collect::<Vec<_>>(),
                vec![0, 1, 2, 3, 4]
            );
            assert!(r
                .samples
                .iter()
                .all(|s| s.wall_us > 0.0 && s.gb_per_s > 0.0));
            let f = &r.figures;
            assert_eq!(f.repeats_done, 5);
            assert!(f.gb_per_s_p10 <= f.gb_per_s_median && f.gb_per_s_median <= f.gb_per_s_max);
            assert_eq!(f.warmup_us.is_some(), !first_touch);
            if first_touch {
                // Every repeat faults its pages in (other test threads can only add faults).
                assert!(
                    r.samples.iter().all(|s| s.new_pages >= 256),
                    "{:?}",
                    r.samples
                );
            } else {
                assert!(f.warmup_new_pages.unwrap() >= 256);
            }
        }
    }

    #[test]
    fn phases_are_the_warm_up_and_the_repeats() {
        let p = params(false);
        let out = run(&p, Deadline::none()).unwrap();
        let r = Run::<Memset>::for_test(p, out);
        let phases = Memset::phases(&r);
        assert_eq!(phases.len(), 2);
        let (warm, repeats) = (&phases[0], &phases[1]);
        assert_eq!(warm.wall_ms, r.summary.figures.warmup_us.unwrap() / 1000.0);
        assert!(warm.new_pages.unwrap() >= 256 && warm.fault_ms.is_some());
        assert!(warm.fault_ms.unwrap() <= warm.wall_ms);
        assert_eq!(warm.cpu_ms, r.summary.figures.warmup_cpu_ms.unwrap());
        // The repeats' span holds every painted repeat.
        let painted: f64 = r.samples.iter().map(|s| s.wall_us).sum();
        assert_eq!(repeats.wall_ms, r.summary.figures.repeats_wall_ms.unwrap());
        assert!(repeats.wall_ms >= painted / 1000.0 - 0.01, "{repeats:?}");
        assert_eq!(repeats.cpu_ms, r.summary.figures.repeats_cpu_ms.unwrap());
        assert!(phases.iter().all(|p| !p.waits && p.threads == 1.0));
        assert!(r.samples.iter().all(|s| s.cpu_us.is_some()));
        assert!(repeats.cpu_spread.is_some() && warm.cpu_spread.is_none());
    }

    #[test]
    fn the_deadline_stops_between_repeats() {
        let r = run(&params(false), Deadline::after(Duration::from_millis(1))).unwrap();
        assert_eq!(r.truncated, Some(TruncatedReason::Deadline));
        assert!(r.samples.is_empty());
        assert_eq!(r.figures.gb_per_s_median, None);
    }

    #[test]
    fn need_is_one_page_rounded_buffer_and_the_rows() {
        let p = MemsetParams {
            bytes: 10_000,
            repeats: 20,
            first_touch: true,
        };
        let n = need(&p, 4096);
        assert_eq!(n.bytes, 12288 + 20 * ROW_BYTES);
        assert_eq!(n.fits[0].largest(1 << 20), Some((1 << 20) - 4096));
        assert_eq!(gb_per_s(1_000_000_000, 1e6), 1.0);
    }
}
