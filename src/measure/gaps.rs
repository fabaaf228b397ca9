//! A thread's own view of when it ran: it reads the monotonic clock in a tight loop, and every
//! gap between two readings longer than a threshold is a stretch in which it did not run
//! (descheduled, throttled, interrupted). Each gap is recorded with the thread's CPU clock read
//! right after it, so the CPU the thread got between any two gaps is known exactly (the kernel's
//! own accounting, not the loop's estimate).
//!
//! Reading the clock costs tens of ns (vDSO); a gap costs one more reading of the thread's CPU
//! clock (a system call, ~1 µs) and one push, both after the gap, so the loop itself never
//! creates gaps above a threshold of 10 µs.

use super::clock::thread_cpu_ns;
use std::time::{Duration, Instant};

/// The shortest threshold worth asking for: recording one gap costs ~1 µs, so below this the
/// loop's own bookkeeping would show up as gaps.
pub const MIN_GAP: Duration = Duration::from_micros(10);

/// One gap: a stretch of wall time between two readings in which the thread did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Offset of the last reading before the gap, from the caller's `base`.
    pub start_ns: u64,
    pub length_ns: u64,
    /// The thread's CPU time since its spin began, read right after the gap.
    pub cpu_ns: u64,
}

impl Gap {
    pub fn end_ns(&self) -> u64 {
        self.start_ns + self.length_ns
    }
}

/// What one spin saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GapLog {
    /// Offsets from `base` of the first and the last reading.
    pub started_ns: u64,
    pub ended_ns: u64,
    /// Clock readings taken.
    pub readings: u64,
    /// The first `keep` gaps, in order.
    pub gaps: Vec<Gap>,
    /// Every gap, kept or not.
    pub gaps_seen: u64,
    pub gap_ns_total: u64,
    pub longest_gap_ns: u64,
    /// The thread's CPU time over the spin (its CPU clock at the end minus at the start).
    pub cpu_ns: u64,
}

impl GapLog {
    pub fn wall_ns(&self) -> u64 {
        self.ended_ns.saturating_sub(self.started_ns)
    }

    /// Gaps seen but not kept (past `keep`).
    pub fn gaps_dropped(&self) -> u64 {
        self.gaps_seen - self.gaps.len() as u64
    }
}

fn ns_between(earlier: Instant, later: Instant) -> u64 {
    later.saturating_duration_since(earlier).as_nanos() as u64
}

/// Spins on the calling thread until `until`, reading the monotonic clock back to back; every
/// gap between two readings longer than `min_gap` (at least [`MIN_GAP`]) is counted, and the
/// first `keep` are kept. Offsets are from `base`, so the logs of several threads share one
/// time axis. Returns at once, after one reading, when `until` has passed.
pub fn spin_until(base: Instant, until: Instant, min_gap: Duration, keep: usize) -> GapLog {
    let min_gap_ns = min_gap.max(MIN_GAP).as_nanos() as u64;
    let mut log = GapLog {
        gaps: Vec::with_capacity(keep.min(4096)),
        ..GapLog::default()
    };
    let cpu0 = thread_cpu_ns();
    let first = Instant::now();
    let mut prev = first;
    let mut readings = 1u64;
    while prev < until {
        let now = Instant::now();
        readings += 1;
        let gap_ns = ns_between(prev, now);
        if gap_ns > min_gap_ns {
            // After the gap: this bookkeeping is time the thread runs, counted in the next gap
            // only if it ever grew past the threshold (it does not: ~1 µs).
            log.gaps_seen += 1;
            log.gap_ns_total += gap_ns;
            log.longest_gap_ns = log.longest_gap_ns.max(gap_ns);
            if log.gaps.len() < keep {
                log.gaps.push(Gap {
                    start_ns: ns_between(base, prev),
                    length_ns: gap_ns,
                    cpu_ns: thread_cpu_ns().saturating_sub(cpu0),
                });
            }
        }
        prev = now;
    }
    log.cpu_ns = thread_cpu_ns().saturating_sub(cpu0);
    log.started_ns = ns_between(base, first);
    log.ended_ns = ns_between(base, prev);
    log.readings = readings;
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the calling thread to one CPU; false when the kernel refuses.
    fn pin_to(cpu: usize) -> bool {
        // SAFETY: an all-zero cpu_set_t is an empty set, a valid value.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid cpu_set_t and `cpu` is below CPU_SETSIZE (checked by caller).
        unsafe { libc::CPU_SET(cpu, &mut set) };
        // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size passed.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0 }
    }

    #[test]
    fn a_past_deadline_returns_at_once() {
        let base = Instant::now();
        let log = spin_until(base, base, Duration::from_micros(50), 10);
        assert_eq!(log.readings, 1);
        assert_eq!(log.gaps_seen, 0);
        assert!(log.ended_ns >= log.started_ns);
    }

    /// Two threads pinned to one CPU take turns: each sees the other's turns as gaps, and what
    /// is left of its wall time after the gaps is the CPU its own clock counted.
    #[test]
    fn threads_sharing_one_cpu_see_each_others_turns_as_gaps() {
        let cpu = crate::host::cpu::affinity_cpus()
            .first()
            .copied()
            .unwrap_or(0) as usize;
        let base = Instant::now();
        let until = base + Duration::from_millis(300);
        let logs: Vec<Option<GapLog>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(move || {
                        pin_to(cpu).then(|| spin_until(base, until, Duration::from_micros(50), 3))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let Some(logs) = logs.into_iter().collect::<Option<Vec<GapLog>>>() else {
            eprintln!("skipped: sched_setaffinity refused to pin a thread");
            return;
        };
        for log in &logs {
            let wall = log.wall_ns();
            assert!(wall >= 250_000_000, "spun {wall} ns");
            // Sharing one CPU, neither thread can have run much more than half the time.
            assert!(log.gaps_seen >= 2, "{log:?}");
            assert!(log.gap_ns_total >= wall / 4, "{log:?}");
            // Kept: the first 3 only; counted: all of them.
            assert_eq!(log.gaps.len() as u64, log.gaps_seen.min(3));
            assert_eq!(log.gaps_dropped(), log.gaps_seen - log.gaps.len() as u64);
            assert!(log.longest_gap_ns >= log.gaps.iter().map(|g| g.length_ns).max().unwrap());
            // Ran = wall − gaps, give or take the sub-threshold gaps and the bookkeeping.
            let ran = wall - log.gap_ns_total;
            let diff = ran.abs_diff(log.cpu_ns);
            assert!(
                diff <= wall / 20 + 2_000_000,
                "ran {ran} ns by the gaps, {} ns by the CPU clock",
                log.cpu_ns
            );
            // The gaps are in order, inside the spin, and the CPU clock only moves forward.
            for w in log.gaps.windows(2) {
                assert!(w[1].start_ns >= w[0].end_ns(), "{w:?}");
                assert!(w[1].cpu_ns >= w[0].cpu_ns, "{w:?}");
            }
            for g in &log.gaps {
                assert!(g.start_ns >= log.started_ns && g.end_ns() <= log.ended_ns);
                assert!(g.length_ns > 50_000);
            }
        }
        // Together the two threads got about one CPU's worth of the time, no more.
        let cpu_total: u64 = logs.iter().map(|l| l.cpu_ns).sum();
        let wall = logs.iter().map(|l| l.wall_ns()).max().unwrap();
        assert!(
            cpu_total <= wall + wall / 20,
            "two threads on one CPU used {cpu_total} ns in {wall} ns"
        );
    }
}
