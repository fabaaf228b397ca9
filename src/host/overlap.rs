//! Which invocations of this process ran at the same time. On Lambda Managed Instances one
//! process serves several invocations at once (`AWS_LAMBDA_MAX_CONCURRENCY` runtime workers);
//! on on-demand Lambda, one at a time. Every invocation registers here for as long as it is
//! measured, so its response can say how many others overlapped it, and whether its
//! process-wide figures (process CPU time, page faults, rusage) include their work.
//!
//! One mutex orders every start and end: the counts, and the timestamps taken under it, agree
//! with each other exactly (a test recomputes the counts from the timestamps).

use super::process::since_start_us;
use crate::measure::stats::round;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// How other invocations of the same process overlapped this one.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Overlap {
    /// Other invocations of this process already running when this one started.
    pub others_at_start: u32,
    /// The most other invocations running at the same moment, at any point of this one.
    pub others_max: u32,
    /// Every other invocation that ran during any part of this one.
    pub others_total: u32,
    /// When this invocation started and ended being measured, in µs since the process started
    /// (one clock for every invocation of the process: `environment.sandbox_id` tells
    /// processes apart).
    pub began_us: f64,
    pub ended_us: f64,
    /// True when anything overlapped (`others_total` > 0): the figures in `shared_figures` then
    /// include the other invocations' work.
    pub figures_shared: bool,
    /// The figures of this response that are measured for the whole process, as paths into the
    /// response (`[]` = every element), listed only when `figures_shared`; empty otherwise.
    /// Per-thread figures (pbkdf2's `samples[].cpu_us`) and wall times are never in it.
    pub shared_figures: Vec<String>,
}

/// What the registry keeps about one running invocation.
struct Slot {
    at_start: u32,
    max: u32,
    total: u32,
}

struct Registry {
    next_id: u64,
    running: BTreeMap<u64, Slot>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next_id: 0,
    running: BTreeMap::new(),
});

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while the lock was held leaves the counts as they were: still usable.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An invocation being measured; ends when [`Running::finish`] is called or when dropped (an
/// error or a cancelled invocation still leaves the registry).
pub struct Running {
    id: u64,
    began: Instant,
    done: bool,
}

/// The counts of one finished invocation (before the response adds its shared figures).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counts {
    pub others_at_start: u32,
    pub others_max: u32,
    pub others_total: u32,
    pub began_us: f64,
    pub ended_us: f64,
}

impl Counts {
    /// The response's field, with `process_wide` (the response's process-wide figures) listed
    /// when anything overlapped.
    pub fn overlap(self, process_wide: &[&str]) -> Overlap {
        let shared = self.others_total > 0;
        Overlap {
            others_at_start: self.others_at_start,
            others_max: self.others_max,
            others_total: self.others_total,
            began_us: self.began_us,
            ended_us: self.ended_us,
            figures_shared: shared,
            shared_figures: if shared {
                process_wide.iter().map(|s| s.to_string()).collect()
            } else {
                Vec::new()
            },
        }
    }
}

/// Registers an invocation that starts now.
pub fn begin() -> Running {
    let mut reg = registry();
    let began = Instant::now();
    let others = reg.running.len() as u32;
    for slot in reg.running.values_mut() {
        slot.total += 1;
        slot.max = slot.max.max(others);
    }
    let id = reg.next_id;
    reg.next_id += 1;
    reg.running.insert(
        id,
        Slot {
            at_start: others,
            max: others,
            total: others,
        },
    );
    Running {
        id,
        began,
        done: false,
    }
}

impl Running {
    /// Ends the invocation's measured stretch and returns its counts.
    pub fn finish(mut self) -> Counts {
        self.done = true;
        let mut reg = registry();
        let ended = Instant::now();
        let slot = reg.running.remove(&self.id).unwrap_or(Slot {
            at_start: 0,
            max: 0,
            total: 0,
        });
        Counts {
            others_at_start: slot.at_start,
            others_max: slot.max,
            others_total: slot.total,
            began_us: round(since_start_us(self.began), 3),
            ended_us: round(since_start_us(ended), 3),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done {
            registry().running.remove(&self.id);
        }
    }
}

/// Invocations of this process running now (for tests and the memory lock's messages).
pub fn running_now() -> usize {
    registry().running.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The registry is process-wide and other tests of this binary register too: these tests
    // check what holds whatever else runs (counts at least what this test caused).

    #[test]
    fn nested_invocations_count_each_other() {
        let a = begin();
        let b = begin();
        let c = begin();
        let cb = c.finish();
        let bb = b.finish();
        let ab = a.finish();
        // a saw b and c start; b started after a and saw c; c started after both.
        assert!(ab.others_total >= 2, "{ab:?}");
        assert!(ab.others_max >= 2, "{ab:?}");
        assert!(bb.others_at_start >= 1 && bb.others_total >= 2, "{bb:?}");
        assert!(cb.others_at_start >= 2 && cb.others_max >= 2, "{cb:?}");
        assert!(ab.began_us <= bb.began_us && bb.began_us <= cb.began_us);
        assert!(cb.ended_us <= bb.ended_us && bb.ended_us <= ab.ended_us);
        for x in [ab, bb, cb] {
            assert!(x.others_at_start <= x.others_max && x.others_max <= x.others_total);
        }
    }

    #[test]
    fn a_dropped_invocation_leaves_the_registry() {
        let a = begin();
        let id = a.id;
        drop(a);
        assert!(!registry().running.contains_key(&id));
    }

    #[test]
    fn shared_figures_are_listed_only_when_something_overlapped() {
        let alone = Counts {
            others_at_start: 0,
            others_max: 0,
            others_total: 0,
            began_us: 1.0,
            ended_us: 2.0,
        };
        let o = alone.overlap(&["summary.cpu_ms"]);
        assert!(!o.figures_shared && o.shared_figures.is_empty());
        let o = Counts {
            others_total: 1,
            ..alone
        }
        .overlap(&["summary.cpu_ms"]);
        assert!(o.figures_shared);
        assert_eq!(o.shared_figures, vec!["summary.cpu_ms".to_string()]);
    }
}
