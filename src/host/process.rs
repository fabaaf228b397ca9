//! Where an invocation falls in the life of the process: its sandbox id, the invocation counter,
//! the cold start and the time from process start to the first invocation.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

struct Process {
    started: Instant,
    sandbox_id: String,
}

static PROCESS: OnceLock<Process> = OnceLock::new();
static INVOCATIONS: AtomicU64 = AtomicU64::new(0);
static INIT_MS: OnceLock<f64> = OnceLock::new();

fn process() -> &'static Process {
    PROCESS.get_or_init(|| Process {
        started: Instant::now(),
        sandbox_id: random_id(),
    })
}

/// Called first thing in `main`, so `init_ms` spans process start → first invocation.
pub fn mark_process_start() {
    process();
}

/// 16 hex digits from the kernel's RNG: tells sandboxes apart in merged results.
fn random_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        // Fall back on the process id and the clock: still unique enough to tell runs apart.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        bytes = (t ^ ((std::process::id() as u64) << 32)).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where this invocation falls in the life of the process.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Invocation {
    /// 1 for the first invocation this process serves.
    pub invocation_index: u64,
    pub cold_start: bool,
    /// Process start → first invocation, in ms (the same value on every invocation).
    pub init_ms: f64,
}

/// Counts this invocation; call once at the top of every invocation. Safe when many start at
/// once (Lambda Managed Instances): the counter is atomic, so indexes are unique and exactly
/// one invocation per process has `cold_start` true.
pub fn begin_invocation() -> Invocation {
    let p = process();
    let index = INVOCATIONS.fetch_add(1, Ordering::SeqCst) + 1;
    let init_ms = *INIT_MS.get_or_init(|| p.started.elapsed().as_secs_f64() * 1000.0);
    Invocation {
        invocation_index: index,
        cold_start: index == 1,
        init_ms: crate::measure::stats::round(init_ms, 3),
    }
}

/// `at` on the process's own clock: µs since the process started (`mark_process_start`). The
/// clock of `overlap.began_us`/`ended_us` and of the memory workloads' `memory_lock`.
pub fn since_start_us(at: Instant) -> f64 {
    at.saturating_duration_since(process().started).as_nanos() as f64 / 1000.0
}

/// This process's sandbox id (as in `environment.sandbox_id`).
pub fn sandbox_id() -> &'static str {
    &process().sandbox_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_index_counts_and_only_the_first_is_cold() {
        // Other tests in this binary may invoke too: check relative order, not absolute values.
        let a = begin_invocation();
        let b = begin_invocation();
        assert!(b.invocation_index > a.invocation_index);
        assert!(!b.cold_start);
        assert_eq!(a.init_ms, b.init_ms);
        assert_eq!(sandbox_id().len(), 16);
    }
}
