//! memset bandwidth: paint `bytes` with libc's memset, `repeats` times. `first_touch: false`
//! repaints one buffer touched beforehand (memory bandwidth); `first_touch: true` paints a fresh
//! mapping every repeat (first-touch bandwidth: page faults included). The memory comes
//! straight from the kernel (`mmap`), so the allocator's settings play no part.

use super::memory::Mapping;
use crate::budget::{Fit, Need};
use crate::error::ProbeError;
use crate::measure::stats::{median, percentile, round};
use crate::measure::{Deadline, Laps};
use crate::request::MemsetParams;
use crate::response::TruncatedReason;
use crate::telemetry::{Metric, Unit};
use serde::Serialize;

/// One repeat.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct RepeatSample {
    pub repeat: u32,
    pub wall_us: f64,
    /// 10⁹ bytes per second.
    pub gb_per_s: f64,
    /// Minor page faults of the process over the paint.
    pub new_pages: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
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
}

#[derive(Clone, Debug, PartialEq)]
pub struct MemsetResult {
    pub samples: Vec<RepeatSample>,
    pub figures: Figures,
    pub truncated: Option<TruncatedReason>,
}

impl MemsetResult {
    /// Median painting bandwidth, for the EMF record.
    pub fn metrics(&self) -> Vec<Metric> {
        let name = if self.figures.first_touch {
            "MemsetFirstTouchGBps"
        } else {
            "MemsetGBps"
        };
        self.figures
            .gb_per_s_median
            .map(|v| vec![Metric::new(name, Unit::GigabytesPerSecond, v)])
            .unwrap_or_default()
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
            min: crate::request::MEMSET_MIN_BYTES,
            max: crate::request::MEMSET_MAX_BYTES,
            multiple_of: page_bytes,
            context: format!("at {} repeats", p.repeats),
        }],
    }
}

pub fn run(p: &MemsetParams, deadline: Deadline) -> Result<MemsetResult, ProbeError> {
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
    let (mut warmup_us, mut warmup_new_pages) = (None, None);
    // The warm-up paint is work too: with the deadline already reached, skip it and every repeat.
    if !p.first_touch && deadline.reached() {
        truncated = Some(TruncatedReason::Deadline);
    } else if !p.first_touch {
        let mut m = map(len)?;
        let mut laps = Laps::start();
        m.paint(0xff);
        warmup_us = Some(round(laps.lap_us(), 3));
        warmup_new_pages = Some(laps.minflt());
        warm = Some(m);
    }

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
        let new_pages = laps.minflt();
        drop(fresh);
        samples.push(RepeatSample {
            repeat,
            wall_us: round(wall_us, 3),
            gb_per_s: round(gb_per_s(p.bytes, wall_us), 3),
            new_pages,
        });
    }
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
    };
    Ok(MemsetResult {
        samples,
        figures,
        truncated,
    })
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
