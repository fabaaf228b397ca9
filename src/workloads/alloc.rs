//! The 2020 "memory allocation in cloud functions" experiment, and past it: allocate N buffers,
//! paint each with memset, free them all, and again, pass after pass. Per buffer: the time to
//! allocate and to paint, the page faults it cost (new physical pages) and the 4 KiB virtual
//! pages it covered that no earlier buffer of the run had (how the article counted new pages).
//!
//! Bookkeeping (sample rows, touched ranges, held pointers) is allocated before pass 1 and
//! nothing is allocated between buffers or passes: an allocation there would land in the very
//! extents the previous pass freed and fault pages that then look like the allocator's doing.
//! Figures that need sorting are computed after the last pass.

use super::memory::{
    run_guarded, GuardFigures, jemalloc_settings, jemalloc_stats, paint, purge_all_arenas, release, JemallocSettings,
    JemallocStats, MemoryLock,
};
use super::{check_range, Context, Host, Outcome, Phase, Plotted, Run, Workload};
use crate::budget::{Budget, Fit, Need};
use crate::error::ProbeError;
use crate::measure::clock::{Span, SpanStart};
use crate::measure::stats::{median, percentile, round};
use crate::measure::{Deadline, Laps};
use crate::response::TruncatedReason;
use crate::telemetry::{Metric, Unit};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::alloc::Layout;

/// The alloc workload.
#[derive(Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct Alloc;

// ---------------------------------------------------------------- parameters

/// How the alloc workload gets and gives back its buffers.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AllocMode {
    /// jemalloc (the global allocator) keeps freed buffers mapped: later passes reuse the pages.
    #[default]
    Reuse,
    /// jemalloc, with every arena purged between passes: each pass faults its pages in again.
    Fresh,
    /// Raw `mmap`/`munmap` per buffer, bypassing the allocator: the kernel's first-touch cost.
    Mmap,
}

impl AllocMode {
    pub fn name(&self) -> &'static str {
        match self {
            AllocMode::Reuse => "reuse",
            AllocMode::Fresh => "fresh",
            AllocMode::Mmap => "mmap",
        }
    }
}

/// 100 buffers of 1 MiB, 2 passes: the 2020 "memory allocation in cloud functions" experiment.
pub const DEFAULT_BUFFERS: u32 = 100;
pub const DEFAULT_BUFFER_BYTES: u64 = 1 << 20;
pub const DEFAULT_PASSES: u32 = 2;
/// Every buffer of a pass is held at once, so memory, not this, is the real bound (the memory
/// guard checks buffers × buffer_bytes); this keeps the per-buffer bookkeeping small.
pub const MAX_BUFFERS: u32 = 10_000;
/// One page up to 1 GiB: below a page "new pages per buffer" means little; above 1 GiB a
/// handful of buffers fill the largest Lambda.
pub const MIN_BUFFER_BYTES: u64 = 4096;
pub const MAX_BUFFER_BYTES: u64 = 1 << 30;
/// Pass 1 is first touch, pass 2 the reuse; a few more show whether it stays that way.
pub const MAX_PASSES: u32 = 10;
/// buffers × passes sample rows, ~90 bytes each: 20,000 keeps the response under 2 MB (Lambda
/// allows 6 MB).
pub const MAX_ROWS: u32 = 20_000;

/// The event's fields, and the parameters as they run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AllocParams {
    /// Buffers per pass, all held at once, then all freed: 1..=10,000.
    #[serde(default = "default_buffers")]
    #[schemars(range(min = 1, max = MAX_BUFFERS))]
    pub buffers: u32,
    /// Size of each buffer: 4,096..=1,073,741,824.
    #[serde(default = "default_buffer_bytes")]
    #[schemars(range(min = MIN_BUFFER_BYTES, max = MAX_BUFFER_BYTES))]
    pub buffer_bytes: u64,
    /// Allocate + paint + free rounds: 1..=10; `buffers` × `passes` ≤ 20,000.
    #[serde(default = "default_passes")]
    #[schemars(range(min = 1, max = MAX_PASSES))]
    pub passes: u32,
    #[serde(default)]
    pub mode: AllocMode,
}

fn default_buffers() -> u32 {
    DEFAULT_BUFFERS
}

fn default_buffer_bytes() -> u64 {
    DEFAULT_BUFFER_BYTES
}

fn default_passes() -> u32 {
    DEFAULT_PASSES
}

impl AllocParams {
    fn validate(self) -> Result<AllocParams, ProbeError> {
        const W: &str = "alloc";
        check_range(W, "buffers", self.buffers, 1, MAX_BUFFERS)?;
        check_range(
            W,
            "buffer_bytes",
            self.buffer_bytes,
            MIN_BUFFER_BYTES,
            MAX_BUFFER_BYTES,
        )?;
        check_range(W, "passes", self.passes, 1, MAX_PASSES)?;
        let rows = self.buffers as u64 * self.passes as u64;
        if rows > MAX_ROWS as u64 {
            return Err(ProbeError::invalid(format!(
                "{W}: `buffers` × `passes` = {} × {} = {rows} sample rows; allowed at most \
                 {MAX_ROWS} (with {} passes, `buffers` ≤ {})",
                self.buffers,
                self.passes,
                self.passes,
                MAX_ROWS / self.passes
            )));
        }
        Ok(self)
    }
}

impl Workload for Alloc {
    const NAME: &'static str = "alloc";
    const PROCESS_WIDE: &'static [&'static str] = &[
        "samples[].new_pages",
        "summary.passes[].new_pages_per_mib",
        "summary.passes[].jemalloc_held",
        "summary.passes[].jemalloc_freed",
    ];
    const ABOUT: &'static str = "100 buffers of 1 MiB allocated, painted with memset, freed, and again: first touch against reuse (jemalloc), purged reuse, raw mmap; µs per MiB and new pages per buffer: the 2020 \"memory allocation in cloud functions\" experiment";
    type Input = AllocParams;
    type Params = AllocParams;
    type Figures = Figures;
    type Sample = BufferSample;

    fn resolve(input: AllocParams, _host: &Host) -> Result<AllocParams, ProbeError> {
        input.validate()
    }

    /// At most 8 buffers.
    fn quick(mut params: AllocParams) -> AllocParams {
        params.buffers = params.buffers.min(8);
        params
    }

    fn need(params: &AllocParams, page_bytes: u64) -> Option<Need> {
        Some(need(params, page_bytes))
    }

    async fn run(
        params: AllocParams,
        ctx: Context,
    ) -> Result<Outcome<Figures, BufferSample>, ProbeError> {
        let need = Self::need(&params, crate::host::page_size_bytes());
        let deadline = ctx.deadline;
        let p = params.clone();
        run_guarded(need, deadline, move || run(&p, deadline), || not_run(&params)).await
    }

    /// `reuse 100x1048576 passes=2`.
    fn experiment(p: &AllocParams) -> String {
        format!(
            "{} {}x{} passes={}",
            p.mode.name(),
            p.buffers,
            p.buffer_bytes,
            p.passes
        )
    }

    /// Pass 1 (first touch) µs per MiB; in `reuse` mode only, pass 2's (the reuse) µs and new
    /// pages per MiB (in `fresh` and `mmap` pass 2 is another first touch, not a reuse).
    fn metrics(run: &Run<Self>) -> Vec<Metric> {
        let mut m = Vec::new();
        let pass = |n: u32| run.summary.figures.passes.iter().find(|p| p.pass == n);
        if let Some(v) = pass(1).and_then(|p| p.us_per_mib_median) {
            m.push(Metric::new("FirstTouchUsPerMiB", Unit::Microseconds, v));
        }
        if let Some(p2) = pass(2).filter(|_| run.params.mode == AllocMode::Reuse) {
            if let Some(v) = p2.us_per_mib_median {
                m.push(Metric::new("ReuseUsPerMiB", Unit::Microseconds, v));
            }
            if let Some(v) = p2.new_pages_per_mib {
                m.push(Metric::process_wide("ReuseNewPagesPerMiB", Unit::Count, v));
            }
        }
        m
    }

    fn summary_text(run: &Run<Self>) -> String {
        let f = &run.summary.figures;
        let mut out = String::new();
        for p in &f.passes {
            out += &format!(
                "  {} pass {}: {} buffers, {} µs/MiB median (p90 {}), {} new pages/MiB, {} never-touched 4 KiB pages/MiB\n",
                f.mode.name(),
                p.pass,
                p.buffers_done,
                opt(p.us_per_mib_median),
                opt(p.us_per_mib_p90),
                opt(p.new_pages_per_mib),
                opt(p.never_touched_pages_per_mib),
            );
        }
        let j = &f.jemalloc;
        out += &format!(
            "  jemalloc {}: malloc_conf {:?}, dirty_decay_ms {}, oversize_threshold {}, cache_oblivious {}\n",
            j.version.as_deref().unwrap_or("?"),
            j.malloc_conf.as_deref().unwrap_or("?"),
            j.dirty_decay_ms.map(|v| v.to_string()).unwrap_or("-".into()),
            j.oversize_threshold_bytes.map(|v| v.to_string()).unwrap_or("-".into()),
            j.cache_oblivious.map(|v| v.to_string()).unwrap_or("-".into()),
        );
        out + &f.memory_budget.summary_line()
    }

    fn plotted(run: &Run<Self>) -> Vec<Plotted> {
        let f = &run.summary.figures;
        let mut out = Vec::new();
        for p in &f.passes {
            let label = match (p.pass, f.mode) {
                (1, _) => "first touch (pass 1)".to_string(),
                (n, AllocMode::Reuse) => format!("reuse (pass {n})"),
                (n, mode) => format!("{} (pass {n})", mode.name()),
            };
            if let Some(v) = p.us_per_mib_median {
                out.push(Plotted {
                    plot: "touch",
                    title: "First touch vs reuse cost vs memory",
                    y_label: "µs per MiB (median over buffers)",
                    decimals: 1,
                    series: Some(label.clone()),
                    value: v,
                    note: Some("Pass 2 is reuse in `reuse` mode, a second fresh first touch in `fresh`/`mmap` mode."),
                    cpu_model_guide: false,
                });
            }
            if let Some(v) = p.new_pages_per_mib {
                out.push(Plotted {
                    plot: "pages",
                    title: "New pages per MiB vs memory",
                    y_label: "New pages per MiB (minor faults)",
                    decimals: 1,
                    series: Some(label),
                    value: v,
                    note: Some("256 pages per MiB = every 4 KiB page faulted in afresh."),
                    cpu_model_guide: false,
                });
            }
        }
        out
    }

    fn budget(run: &Run<Self>) -> Option<&Budget> {
        Some(&run.summary.figures.memory_budget)
    }

    /// One single-threaded CPU phase per pass (allocate, paint, free; nothing waits), with the
    /// pass's measured wall and CPU. Page faults: the pass's new pages, and their cost where
    /// the run has a fault-free reference (a pass with under 1 new page in 16 painted, such as
    /// `reuse`'s pass 2): the pass's µs per MiB over the reference's, times its MiB.
    fn phases(run: &Run<Self>) -> Vec<Phase> {
        let mib = run.params.buffer_bytes as f64 / MIB;
        let rows = |pass: u32| run.samples.iter().filter(move |s| s.pass == pass);
        let painted_us =
            |pass: u32| -> f64 { rows(pass).map(|s| s.alloc_us + s.paint_us).sum::<f64>() };
        let pages = |pass: u32| -> u64 { rows(pass).map(|s| s.new_pages).sum::<u64>() };
        let passes = &run.summary.figures.passes;
        // µs per MiB of the fault-free pass with the fewest faults, if there is one.
        let reference = passes
            .iter()
            .filter(|p| p.buffers_done > 0)
            .map(|p| {
                let done_mib = p.buffers_done as f64 * mib;
                (
                    pages(p.pass) as f64 / done_mib,
                    painted_us(p.pass) / done_mib,
                )
            })
            .filter(|&(pages_per_mib, _)| pages_per_mib < FAULT_FREE_PAGES_PER_MIB)
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, us_per_mib)| us_per_mib);
        passes
            .iter()
            .filter(|p| p.buffers_done > 0)
            .map(|p| {
                let done_mib = p.buffers_done as f64 * mib;
                let wall_ms = p.wall_ms.unwrap_or_else(|| painted_us(p.pass) / 1000.0);
                let new_pages = pages(p.pass);
                let cpu: Vec<f64> = rows(p.pass)
                    .filter_map(|s| s.cpu_us.map(|c| c as f64))
                    .collect();
                Phase {
                    new_pages: Some(new_pages),
                    // Its buffers are equal items: how far their CPU strayed.
                    cpu_spread: (cpu.len() == rows(p.pass).count())
                        .then(|| super::item_spread(&cpu))
                        .flatten(),
                    fault_ms: reference.map(|r| {
                        if new_pages as f64 / done_mib < FAULT_FREE_PAGES_PER_MIB {
                            0.0
                        } else {
                            ((painted_us(p.pass) - r * done_mib) / 1000.0).max(0.0)
                        }
                    }),
                    ..Phase::cpu(
                        format!("pass {}", p.pass),
                        wall_ms,
                        p.cpu_ms.unwrap_or(wall_ms),
                        1.0,
                    )
                }
            })
            .collect()
    }
}

/// Under 1 new page in 16 of those painted (4 KiB pages): a pass that barely faults.
const FAULT_FREE_PAGES_PER_MIB: f64 = 16.0;

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_else(|| "-".into())
}

/// The article's unit: 4 KiB virtual pages, whatever the kernel's page size.
pub const COUNTED_PAGE_BYTES: u64 = 4096;
/// Arrow's memory pool (the 2020 experiment's allocator front end) aligns buffers to 64 bytes.
const ALIGN: usize = 64;
const MIB: f64 = 1048576.0;

/// One buffer of one pass.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct BufferSample {
    pub pass: u32,
    pub index: u32,
    pub alloc_us: f64,
    pub paint_us: f64,
    /// Minor page faults of the process over allocate + paint (`getrusage` `ru_minflt`).
    pub new_pages: u64,
    /// 4 KiB virtual pages of this buffer that no earlier buffer of this run covered.
    pub never_touched_pages: u64,
    /// CPU time of the thread over allocate + paint (the kernel's page faults included): the
    /// same work's CPU from buffer to buffer, which a throttling pause inside the wall does not
    /// change. Absent in responses of earlier probes.
    #[serde(default)]
    pub cpu_us: Option<u64>,
}

/// One pass over all buffers.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct PassFigures {
    pub pass: u32,
    pub buffers_done: u32,
    /// (alloc_us + paint_us) ÷ buffer MiB over the pass's buffers.
    pub us_per_mib_median: Option<f64>,
    pub us_per_mib_p90: Option<f64>,
    pub alloc_us_median: Option<f64>,
    pub paint_us_median: Option<f64>,
    pub new_pages_per_mib: Option<f64>,
    pub never_touched_pages_per_mib: Option<f64>,
    /// Wall and process CPU time of the whole pass: every buffer allocated and painted, the
    /// bookkeeping, then all freed (and purged in `fresh` mode).
    #[serde(default)]
    pub wall_ms: Option<f64>,
    #[serde(default)]
    pub cpu_ms: Option<f64>,
    /// jemalloc's statistics with every buffer of the pass held…
    pub jemalloc_held: JemallocStats,
    /// …and after they were freed (and, in `fresh` mode, purged).
    pub jemalloc_freed: JemallocStats,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[schemars(rename = "AllocFigures")]
pub struct Figures {
    pub mode: AllocMode,
    pub buffer_mib: f64,
    pub passes: Vec<PassFigures>,
    pub jemalloc: JemallocSettings,
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

/// Bytes of bookkeeping per buffer per pass, and per buffer (touched range + held pointer).
const ROW_BYTES: u64 = std::mem::size_of::<BufferSample>() as u64;
const PER_BUFFER_BYTES: u64 = (std::mem::size_of::<(u64, u64)>() + 8) as u64;

/// What a request needs in memory at its peak: every buffer of a pass held at once, each
/// rounded up to whole pages plus one (an unaligned buffer straddles one page more), and the
/// bookkeeping. The largest `buffers` and `buffer_bytes` that fit come from the same sum.
pub fn need(p: &AllocParams, page_bytes: u64) -> Need {
    let per_buffer_book = ROW_BYTES * p.passes as u64 + PER_BUFFER_BYTES;
    let buffer_pages_bytes = p.buffer_bytes.div_ceil(page_bytes) * page_bytes + page_bytes;
    let buffers = p.buffers as u64;
    Need {
        workload: "alloc",
        bytes: buffers * (buffer_pages_bytes + per_buffer_book),
        what: format!(
            "{} buffers × {} bytes held at once, plus one page each for alignment and {} bytes \
             of bookkeeping",
            p.buffers,
            p.buffer_bytes,
            buffers * per_buffer_book
        ),
        fits: vec![
            Fit {
                field: "buffers",
                fixed_bytes: 0,
                bytes_per_unit: buffer_pages_bytes + per_buffer_book,
                min: 1,
                max: MAX_BUFFERS as u64,
                multiple_of: 1,
                context: format!("at buffer_bytes {}", p.buffer_bytes),
            },
            Fit {
                field: "buffer_bytes",
                fixed_bytes: buffers * (page_bytes + per_buffer_book),
                bytes_per_unit: buffers,
                min: MIN_BUFFER_BYTES,
                max: MAX_BUFFER_BYTES,
                multiple_of: page_bytes,
                context: format!("at {} buffers", p.buffers),
            },
        ],
    }
}

/// Runs every pass, stopping at the deadline between buffers. Starts and ends by purging
/// jemalloc's arenas, so pass 1 is a first touch in a warm sandbox as in a cold one, and the
/// sandbox does not keep the buffers' pages afterwards.
pub fn run(
    p: &AllocParams,
    deadline: Deadline,
) -> Result<Outcome<Figures, BufferSample>, ProbeError> {
    let settings = jemalloc_settings();
    let len = usize::try_from(p.buffer_bytes)
        .map_err(|_| ProbeError::invalid("alloc: `buffer_bytes` does not fit this machine"))?;
    let layout = Layout::from_size_align(len, ALIGN)
        .map_err(|e| ProbeError::invalid(format!("alloc: `buffer_bytes`: {e}")))?;

    // All bookkeeping, before pass 1; nothing below grows past these capacities.
    let rows = p.buffers as usize * p.passes as usize;
    let mut samples: Vec<BufferSample> = Vec::with_capacity(rows);
    let mut touched = TouchedPages::with_capacity(rows + 1);
    let mut held = Held::new(p.mode, layout, p.buffers as usize);
    let mut stats: Vec<(JemallocStats, JemallocStats, Span)> =
        Vec::with_capacity(p.passes as usize);
    let mut truncated = None;
    // Then hand back everything free, so pass 1 starts from no dirty page at all.
    release()?;

    for pass in 1..=p.passes {
        // A different byte every pass: every pass really writes every byte.
        let fill = pass as u8;
        let span = SpanStart::now();
        for index in 0..p.buffers {
            if deadline.reached() {
                truncated = Some(TruncatedReason::Deadline);
                break;
            }
            let mut laps = Laps::start();
            let ptr = held.alloc();
            let alloc_us = laps.lap_us();
            let Some(ptr) = ptr else {
                held.free_all();
                let _ = purge_all_arenas();
                return Err(ProbeError::over_budget(format!(
                    "alloc: allocating buffer {index} of pass {pass} ({} bytes, {} held) \
                     failed: the function has less memory than it reported",
                    p.buffer_bytes, index
                )));
            };
            // SAFETY: `ptr` is a live allocation of `len` bytes, writable, held until freed.
            unsafe { paint(ptr, len, fill) };
            let paint_us = laps.lap_us();
            let cpu_us = laps.cpu_us();
            let new_pages = laps.new_pages();
            let never_touched_pages = touched.cover(ptr as u64, p.buffer_bytes);
            samples.push(BufferSample {
                pass,
                index,
                alloc_us: round(alloc_us, 3),
                paint_us: round(paint_us, 3),
                new_pages,
                never_touched_pages,
                cpu_us: Some(cpu_us),
            });
        }
        // The statistics are read outside the pass's span: they are the probe's, not the work's.
        let before_stats = span.close();
        let at_peak = jemalloc_stats();
        let span = SpanStart::now();
        held.free_all();
        if p.mode == AllocMode::Fresh {
            purge(pass)?;
        }
        let freeing = span.close();
        stats.push((at_peak, jemalloc_stats(), before_stats.then(&freeing)));
        if truncated.is_some() {
            break;
        }
    }
    drop(held);
    // Hand the pages back: the next invocation's guard and workload start from the same place.
    purge_all_arenas().map_err(ProbeError::internal)?;

    let passes = stats
        .iter()
        .enumerate()
        .map(|(i, (held, freed, span))| {
            let pass = i as u32 + 1;
            pass_figures(
                pass,
                p.buffer_bytes,
                &samples
                    .iter()
                    .filter(|s| s.pass == pass)
                    .copied()
                    .collect::<Vec<_>>(),
                *held,
                *freed,
                span,
            )
        })
        .collect();
    Ok(Outcome {
        samples,
        figures: Figures {
            mode: p.mode,
            buffer_mib: round(p.buffer_bytes as f64 / MIB, 6),
            passes,
            jemalloc: settings,
            // Filled in by the guard that ran this (`Workload::run`).
            memory_budget: Budget::default(),
            memory_lock: MemoryLock::default(),
        },
        truncated,
    })
}

/// The answer when the deadline came while another memory workload of the process ran:
/// nothing allocated, nothing measured.
fn not_run(p: &AllocParams) -> Outcome<Figures, BufferSample> {
    Outcome {
        samples: Vec::new(),
        figures: Figures {
            mode: p.mode,
            buffer_mib: round(p.buffer_bytes as f64 / MIB, 6),
            passes: Vec::new(),
            jemalloc: jemalloc_settings(),
            memory_budget: Budget::read().unwrap_or_default(),
            memory_lock: MemoryLock::default(),
        },
        truncated: Some(TruncatedReason::Deadline),
    }
}

fn purge(pass: u32) -> Result<(), ProbeError> {
    purge_all_arenas().map_err(|e| ProbeError::internal(format!("alloc: after pass {pass}: {e}")))
}

fn pass_figures(
    pass: u32,
    buffer_bytes: u64,
    rows: &[BufferSample],
    held: JemallocStats,
    freed: JemallocStats,
    span: &Span,
) -> PassFigures {
    let mib = buffer_bytes as f64 / MIB;
    let per_mib: Vec<f64> = rows
        .iter()
        .map(|s| (s.alloc_us + s.paint_us) / mib)
        .collect();
    let alloc: Vec<f64> = rows.iter().map(|s| s.alloc_us).collect();
    let paint: Vec<f64> = rows.iter().map(|s| s.paint_us).collect();
    let total_mib = rows.len() as f64 * mib;
    let per_total = |n: u64| (!rows.is_empty()).then(|| round(n as f64 / total_mib, 2));
    PassFigures {
        pass,
        buffers_done: rows.len() as u32,
        us_per_mib_median: median(&per_mib).map(|v| round(v, 2)),
        us_per_mib_p90: percentile(&per_mib, 90.0).map(|v| round(v, 2)),
        alloc_us_median: median(&alloc).map(|v| round(v, 3)),
        paint_us_median: median(&paint).map(|v| round(v, 2)),
        new_pages_per_mib: per_total(rows.iter().map(|s| s.new_pages).sum()),
        never_touched_pages_per_mib: per_total(rows.iter().map(|s| s.never_touched_pages).sum()),
        wall_ms: Some(round(span.wall_ms(), 3)),
        cpu_ms: Some(round(span.cpu_ms(), 3)),
        jemalloc_held: held,
        jemalloc_freed: freed,
    }
}

/// The buffers of one pass, from jemalloc or straight from the kernel; frees what it holds
/// when dropped, whatever path leaves the run.
struct Held {
    mode: AllocMode,
    layout: Layout,
    ptrs: Vec<*mut u8>,
}

impl Held {
    fn new(mode: AllocMode, layout: Layout, buffers: usize) -> Self {
        Self {
            mode,
            layout,
            ptrs: Vec::with_capacity(buffers),
        }
    }

    /// One more buffer, or `None` when the allocator or the kernel refuses.
    fn alloc(&mut self) -> Option<*mut u8> {
        let ptr = match self.mode {
            AllocMode::Reuse | AllocMode::Fresh => {
                // SAFETY: the layout has a non-zero size (buffer_bytes ≥ 4096).
                let p = unsafe { std::alloc::alloc(self.layout) };
                (!p.is_null()).then_some(p)
            }
            AllocMode::Mmap => {
                // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
                let p = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        self.layout.size(),
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    )
                };
                (p != libc::MAP_FAILED).then_some(p as *mut u8)
            }
        }?;
        // Within the capacity reserved up front: no allocation here.
        debug_assert!(self.ptrs.len() < self.ptrs.capacity());
        self.ptrs.push(ptr);
        Some(ptr)
    }

    fn free_all(&mut self) {
        for ptr in self.ptrs.drain(..) {
            match self.mode {
                // SAFETY: `ptr` came from `std::alloc::alloc` with this very layout, once.
                AllocMode::Reuse | AllocMode::Fresh => unsafe {
                    std::alloc::dealloc(ptr, self.layout)
                },
                // SAFETY: `ptr` is a mapping of `layout.size()` bytes made by `alloc`, once.
                AllocMode::Mmap => unsafe {
                    libc::munmap(ptr as *mut libc::c_void, self.layout.size());
                },
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.free_all();
    }
}

/// The 4 KiB virtual pages covered so far in a run, as sorted, disjoint, half-open ranges of
/// page numbers. Capacity is reserved up front: covering a range never allocates.
pub struct TouchedPages {
    spans: Vec<(u64, u64)>,
}

impl TouchedPages {
    /// Room for `ranges` separate ranges (one per buffer is the worst case).
    pub fn with_capacity(ranges: usize) -> Self {
        Self {
            spans: Vec::with_capacity(ranges),
        }
    }

    /// Marks `[addr, addr + bytes)` as touched; returns how many of its 4 KiB pages were not.
    pub fn cover(&mut self, addr: u64, bytes: u64) -> u64 {
        if bytes == 0 {
            return 0;
        }
        let start = addr / COUNTED_PAGE_BYTES;
        let end = (addr + bytes - 1) / COUNTED_PAGE_BYTES + 1;
        // First span that overlaps or touches [start, end).
        let i = self.spans.partition_point(|&(_, e)| e < start);
        let mut j = i;
        let (mut lo, mut hi) = (start, end);
        let mut covered = 0;
        while j < self.spans.len() && self.spans[j].0 <= end {
            let (s, e) = self.spans[j];
            covered += end.min(e).saturating_sub(start.max(s));
            lo = lo.min(s);
            hi = hi.max(e);
            j += 1;
        }
        if i == j {
            debug_assert!(self.spans.len() < self.spans.capacity());
            self.spans.insert(i, (lo, hi));
        } else {
            self.spans[i] = (lo, hi);
            self.spans.drain(i + 1..j);
        }
        (end - start) - covered
    }

    pub fn pages(&self) -> u64 {
        self.spans.iter().map(|(s, e)| e - s).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const P: u64 = COUNTED_PAGE_BYTES;

    #[test]
    fn touched_pages_count_only_what_is_new() {
        let mut t = TouchedPages::with_capacity(8);
        assert_eq!(t.cover(10 * P, 4 * P), 4); // pages 10..14
        assert_eq!(t.cover(10 * P, 4 * P), 0); // the same again
        assert_eq!(t.cover(12 * P, 4 * P), 2); // 12..16: 14, 15 new
        assert_eq!(t.cover(20 * P + 100, P), 2); // unaligned: straddles 20 and 21
        assert_eq!(t.cover(16 * P, 4 * P), 4); // 16..20 joins both neighbours
        assert_eq!(t.spans, vec![(10, 22)]);
        assert_eq!(t.cover(5 * P, 30 * P), 30 - 12); // 5..35 around everything
        assert_eq!(t.spans, vec![(5, 35)]);
        assert_eq!(t.cover(100 * P, P), 1);
        assert_eq!(t.cover(50 * P, P), 1);
        assert_eq!(t.spans, vec![(5, 35), (50, 51), (100, 101)]);
        assert_eq!(t.pages(), 32);
        assert_eq!(t.cover(0, 0), 0);
    }

    #[test]
    fn touched_pages_never_grow_past_their_reservation() {
        // Worst case: every range separate, in an order that inserts in the middle.
        let n = 1000u64;
        let mut t = TouchedPages::with_capacity(n as usize);
        let cap = t.spans.capacity();
        for k in 0..n {
            let slot = (k * 7919) % n; // a permutation of 0..n
            assert_eq!(t.cover(slot * 4 * P, P), 1);
        }
        assert_eq!(t.spans.len(), n as usize);
        assert_eq!(t.spans.capacity(), cap);
        assert!(t.spans.windows(2).all(|w| w[0].1 < w[1].0));
    }

    fn params(mode: AllocMode, buffers: u32, passes: u32) -> AllocParams {
        AllocParams {
            buffers,
            buffer_bytes: 64 * 1024,
            passes,
            mode,
        }
    }

    // Exact page counts need a process of their own (tests here share one): tests/memory.rs.
    #[test]
    fn every_mode_fills_every_row_and_pass() {
        for mode in [AllocMode::Reuse, AllocMode::Fresh, AllocMode::Mmap] {
            let r = run(&params(mode, 6, 3), Deadline::none()).unwrap();
            assert_eq!(r.truncated, None);
            assert_eq!(r.samples.len(), 18, "{mode:?}");
            let order: Vec<(u32, u32)> = r.samples.iter().map(|s| (s.pass, s.index)).collect();
            let want: Vec<(u32, u32)> = (1..=3).flat_map(|p| (0..6).map(move |i| (p, i))).collect();
            assert_eq!(order, want);
            assert!(r.samples.iter().all(|s| s.paint_us > 0.0));
            // Pass 1 covers 16 new 4 KiB pages per 64 KiB buffer (17 if unaligned).
            let first = r.samples.iter().filter(|s| s.pass == 1);
            assert!(first
                .clone()
                .all(|s| (16..=17).contains(&s.never_touched_pages)));
            let f = &r.figures;
            assert_eq!(f.mode, mode);
            assert_eq!(f.passes.len(), 3);
            assert!(f.passes.iter().all(|p| p.buffers_done == 6
                && p.us_per_mib_median.is_some()
                && p.us_per_mib_p90 >= p.us_per_mib_median
                && p.jemalloc_held.stats_available));
            assert!(f.passes[0].never_touched_pages_per_mib.unwrap() >= 256.0);
            assert_eq!(f.buffer_mib, 0.0625);
            assert!(f.jemalloc.malloc_conf.is_some());
        }
    }

    #[test]
    fn phases_are_the_passes_with_their_cpu_and_page_fault_cost() {
        let p = params(AllocMode::Reuse, 4, 2);
        let mut out = run(&p, Deadline::none()).unwrap();
        // Known timings and faults (page counts are process-wide here): pass 1 faults every
        // page at 30 µs per buffer, pass 2 none at 10 µs per buffer.
        assert!(out.samples.iter().all(|s| s.cpu_us.is_some()));
        for s in &mut out.samples {
            (s.alloc_us, s.paint_us) = (1.0, if s.pass == 1 { 29.0 } else { 9.0 });
            s.new_pages = if s.pass == 1 { 16 } else { 0 };
            // Pass 1's buffers took 20, 30, 30, 40 µs of CPU; pass 2's all 10.
            s.cpu_us = Some(match (s.pass, s.index) {
                (1, 0) => 20,
                (1, 3) => 40,
                (1, _) => 30,
                _ => 10,
            });
        }
        let r = Run::<Alloc>::for_test(p, out);
        let phases = Alloc::phases(&r);
        assert_eq!(phases.len(), 2);
        for (ph, pass) in phases.iter().zip(&r.summary.figures.passes) {
            assert_eq!(ph.wall_ms, pass.wall_ms.unwrap());
            assert_eq!(ph.cpu_ms, pass.cpu_ms.unwrap());
            assert!(!ph.waits && ph.threads == 1.0);
        }
        assert_eq!(phases[0].new_pages, Some(64));
        assert_eq!(phases[1].new_pages, Some(0));
        // 4 buffers × (30 − 10) µs.
        assert!(
            (phases[0].fault_ms.unwrap() - 0.08).abs() < 1e-9,
            "{phases:?}"
        );
        assert_eq!(phases[1].fault_ms, Some(0.0));
        // The buffers are equal items: p10–p90 half-width over the median.
        assert_eq!(phases[0].cpu_spread, Some((40.0 - 20.0) / 2.0 / 30.0));
        assert_eq!(phases[1].cpu_spread, Some(0.0));
    }

    #[test]
    fn the_guard_says_where_the_run_would_fit() {
        let p = params(AllocMode::Reuse, 2, 1);
        let out = run(&p, Deadline::none()).unwrap();
        let mut r = Run::<Alloc>::for_test(AllocParams {
                buffers: 100,
                buffer_bytes: 1 << 20,
                ..p
            }, out);
        r.summary.figures.memory_budget.own_bytes = 16 << 20;
        // 100 MiB held at once: not in 128 MB (16 + 2 MiB margin, 16 MiB footprint), in 256.
        let refused = super::super::guard_at(&r, 128, 4096).unwrap_err();
        assert_eq!(refused.error_type, crate::error::ErrorType::OverBudget);
        assert!(
            refused.message.contains("`buffers` ≤"),
            "{}",
            refused.message
        );
        assert!(super::super::guard_at(&r, 256, 4096).is_ok());
        // Without the footprint the guard assumes a large one: still a clear answer.
        r.summary.figures.memory_budget.own_bytes = 0;
        assert!(super::super::guard_at(&r, 160, 4096).is_err());
        assert!(super::super::guard_at(&r, 256, 4096).is_ok());
    }

    #[test]
    fn the_deadline_stops_between_buffers_and_keeps_the_rows() {
        let r = run(
            &params(AllocMode::Reuse, 50, 2),
            Deadline::after(Duration::from_millis(1)),
        )
        .unwrap();
        assert_eq!(r.truncated, Some(TruncatedReason::Deadline));
        assert!(r.samples.is_empty());
        assert_eq!(r.figures.passes.len(), 1);
        assert_eq!(r.figures.passes[0].buffers_done, 0);
        assert_eq!(r.figures.passes[0].us_per_mib_median, None);
    }

    #[test]
    fn need_counts_every_held_buffer_and_names_what_fits() {
        let p = AllocParams {
            buffers: 100,
            buffer_bytes: 1 << 20,
            passes: 2,
            mode: AllocMode::Reuse,
        };
        let n = need(&p, 4096);
        let per = (1 << 20) + 4096 + 2 * ROW_BYTES + PER_BUFFER_BYTES;
        assert_eq!(n.bytes, 100 * per);
        let buffers = &n.fits[0];
        assert_eq!(buffers.largest(50 * per + 10), Some(50));
        let bytes = &n.fits[1];
        let largest = bytes.largest(50 * per).unwrap();
        assert_eq!(largest % 4096, 0);
        assert!(largest < 1 << 19 && largest > (1 << 19) - 8192, "{largest}");
    }
}
