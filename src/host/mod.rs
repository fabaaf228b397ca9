//! What this sandbox is: architecture, cores, CPU, cgroup limits, memory, pages, kernel, and
//! where this invocation falls in the life of the process. Written once and shared: the probe
//! reports it, `emulate` creates its cgroups with the same discovery and parsing.
//! Anything unreadable is `null` with a `…_unavailable` reason, never a made-up value.

pub mod cgroup;
pub mod cpu;
pub mod overlap;
pub mod process;

pub use cgroup::{CgroupLimits, CgroupVersion};
pub use cpu::{page_size_bytes, sandbox_cores};
pub use overlap::Overlap;
pub use process::{begin_invocation, mark_process_start, sandbox_id, since_start_us, Invocation};

use crate::measure::stats::round;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Environment {
    /// The kernel's name for the architecture (`x86_64`, `aarch64`).
    pub arch: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (or `lambda-probe run --memory-mb`); null outside
    /// Lambda.
    pub memory_mb: Option<u32>,
    /// `AWS_LAMBDA_MAX_CONCURRENCY`: the invocations Lambda may send this process at once
    /// (Lambda Managed Instances, where the runtime starts that many workers); null where it
    /// is not set (on-demand Lambda: one at a time).
    pub max_concurrency: Option<u32>,
    /// What `std::thread::available_parallelism` says (it honours affinity and cgroup quota).
    pub visible_cores: usize,
    /// Cores online in the kernel (`_SC_NPROCESSORS_ONLN`).
    pub online_cores: Option<usize>,
    /// Cores this process may run on (`sched_getaffinity`).
    pub affinity_cores: Option<usize>,
    pub cpu_model: Option<String>,
    /// The CPU features that matter to these workloads, as detected at run time.
    pub cpu_features: Vec<String>,
    #[serde(flatten)]
    pub cgroup: CgroupLimits,
    pub page_size_bytes: u64,
    pub thp_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thp_mode_unavailable: Option<String>,
    pub kernel_release: Option<String>,
    pub function_name: Option<String>,
    pub function_version: Option<String>,
    pub sandbox_id: String,
    #[serde(flatten)]
    pub invocation: Invocation,
    /// Steal and throttling over this invocation's run.
    pub during_run: RunCounters,
}

impl Environment {
    /// Lambda's name for the architecture this ran on (`arm64`, `x86_64`).
    pub fn lambda_arch(&self) -> Option<crate::lambda_model::Arch> {
        crate::lambda_model::Arch::parse(&self.arch)
    }
}

/// Takes the environment snapshot for one invocation.
pub fn snapshot(invocation: Invocation, during_run: RunCounters) -> Environment {
    let thp = read_thp_mode();
    Environment {
        arch: std::env::consts::ARCH.to_string(),
        memory_mb: lambda_memory_mb(),
        max_concurrency: lambda_max_concurrency(),
        visible_cores: cpu::visible_cores(),
        online_cores: cpu::online_cores(),
        affinity_cores: cpu::affinity_cores(),
        cpu_model: cpu::cpu_model(),
        cpu_features: cpu::cpu_features(),
        cgroup: CgroupLimits::read(),
        page_size_bytes: page_size_bytes(),
        thp_mode: thp.as_ref().ok().cloned(),
        thp_mode_unavailable: thp.err(),
        kernel_release: read_trimmed("/proc/sys/kernel/osrelease"),
        function_name: std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        function_version: std::env::var("AWS_LAMBDA_FUNCTION_VERSION").ok(),
        sandbox_id: sandbox_id().to_string(),
        invocation,
        during_run,
    }
}

pub fn lambda_memory_mb() -> Option<u32> {
    MEMORY_MB_GIVEN.get().copied().or_else(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
            .ok()
            .and_then(|v| v.trim().parse().ok())
    })
}

/// The memory size `lambda-probe run --memory-mb` gave this process, in place of
/// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`: kept here rather than written into the environment,
/// which other threads may be reading.
static MEMORY_MB_GIVEN: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Runs this process as a function of `memory_mb` (see [`lambda_memory_mb`]): once, before
/// the first invocation; a later call changes nothing.
pub fn give_memory_mb(memory_mb: u32) {
    let _ = MEMORY_MB_GIVEN.set(memory_mb);
}

/// `AWS_LAMBDA_MAX_CONCURRENCY` as the runtime reads it (a number above 0), else `None`.
pub fn lambda_max_concurrency() -> Option<u32> {
    std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&c| c > 0)
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The bracketed word of `/sys/kernel/mm/transparent_hugepage/enabled`.
fn read_thp_mode() -> Result<String, String> {
    let path = "/sys/kernel/mm/transparent_hugepage/enabled";
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    parse_bracketed(&text).ok_or_else(|| format!("{path}: no [selected] mode in {text:?}"))
}

fn parse_bracketed(text: &str) -> Option<String> {
    let start = text.find('[')?;
    let end = text[start..].find(']')? + start;
    Some(text[start + 1..end].to_string())
}

// ---------------------------------------------------------------- counters over a run

/// Steal time and cgroup throttling over one invocation's run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct RunCounters {
    /// Time the hypervisor ran something else while this VM wanted the CPU (all CPUs).
    pub steal_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal_unavailable: Option<String>,
    /// CFS periods in which the cgroup hit its quota, and the time it spent throttled.
    pub nr_throttled: Option<u64>,
    pub throttled_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling_unavailable: Option<String>,
}

/// Readings taken before the run, closed by [`RunCountersStart::finish`].
pub struct RunCountersStart {
    steal: Result<u64, String>,
    throttle: Result<cgroup::Throttling, String>,
}

fn own_throttling() -> Result<cgroup::Throttling, String> {
    cgroup::read_throttling(&cgroup::controller_dir("cpu")?)
}

impl RunCountersStart {
    pub fn now() -> Self {
        Self {
            steal: read_steal_ticks(),
            throttle: own_throttling(),
        }
    }

    pub fn finish(self) -> RunCounters {
        let ticks_per_s = cpu::sysconf(libc::_SC_CLK_TCK).unwrap_or(100) as f64;
        let (steal_ms, steal_unavailable) = match (self.steal, read_steal_ticks()) {
            (Ok(a), Ok(b)) => (
                Some(b.saturating_sub(a) as f64 * 1000.0 / ticks_per_s),
                None,
            ),
            (Err(e), _) | (_, Err(e)) => (None, Some(e)),
        };
        let (nr_throttled, throttled_ms, throttling_unavailable) =
            match (self.throttle, own_throttling()) {
                (Ok(a), Ok(b)) => (
                    Some(b.nr_throttled.saturating_sub(a.nr_throttled)),
                    Some(round((b.throttled_ms - a.throttled_ms).max(0.0), 3)),
                    None,
                ),
                (Err(e), _) | (_, Err(e)) => (None, None, Some(e)),
            };
        RunCounters {
            steal_ms,
            steal_unavailable,
            nr_throttled,
            throttled_ms,
            throttling_unavailable,
        }
    }
}

/// The steal column of the aggregate `cpu` line of /proc/stat, in clock ticks.
fn read_steal_ticks() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/stat").map_err(|e| format!("/proc/stat: {e}"))?;
    parse_steal_ticks(&text).ok_or_else(|| "/proc/stat: no steal column on the cpu line".into())
}

fn parse_steal_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    line.split_whitespace().nth(8)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            parse_bracketed("always [madvise] never\n").as_deref(),
            Some("madvise")
        );
        assert_eq!(
            parse_steal_ticks("cpu  10 0 20 300 4 0 1 77 0 0\ncpu0 1 2 3\n"),
            Some(77)
        );
    }

    #[test]
    fn snapshot_reads_this_machine_and_round_trips() {
        let env = snapshot(begin_invocation(), RunCountersStart::now().finish());
        assert!(env.visible_cores >= 1);
        assert!(env.page_size_bytes >= 4096);
        assert_eq!(env.sandbox_id.len(), 16);
        assert!(env.affinity_cores.unwrap() >= 1);
        // A null figure always comes with its reason.
        assert_eq!(
            env.cgroup.cpu_quota_vcpu.is_none(),
            env.cgroup.cpu_quota_unavailable.is_some()
        );
        assert_eq!(
            env.cgroup.memory_limit_bytes.is_none(),
            env.cgroup.memory_limit_unavailable.is_some()
        );
        assert_eq!(
            env.during_run.steal_ms.is_none(),
            env.during_run.steal_unavailable.is_some()
        );
        let json = serde_json::to_string(&env).unwrap();
        let back: Environment = serde_json::from_str(&json).unwrap();
        assert_eq!(back, env);
    }
}
