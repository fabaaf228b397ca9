//! Lambda's resource and price rules, written once. The probe never applies them to itself (a
//! workload never knows about Lambda); the tools do: `emulate` sets a memory size's limits with
//! them, `report` draws them beside measurements, `predict` turns one run into every size.
//!
//! Sources: Lambda's documentation (memory 128–10,240 MB in 1 MB steps; 1,769 MB is the
//! equivalent of one vCPU; CPU proportional to memory; prices; 1 ms billing; INIT billed for
//! every on-demand function since 1 August 2025), and the visible cores as measured from inside
//! the sandbox. What AWS does not document is said so where it is used.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod managed;

/// Lambda's memory sizes in MB (Lambda's "MB" are MiB: 2^20 bytes), in steps of 1 MB.
pub const MIN_MEMORY_MB: u32 = 128;
pub const MAX_MEMORY_MB: u32 = 10_240;
pub const MEMORY_STEP_MB: u32 = 1;

/// At 1,769 MB a function gets one vCPU-second per second; the share is proportional to memory.
pub const MB_PER_VCPU: f64 = 1769.0;
/// The memory size of one full vCPU, as a size you can configure.
pub const ONE_VCPU_MB: u32 = 1769;

/// The cores a function sees, by memory size: 2 up to 3,008 MB, then one more from each of
/// these sizes on (measured from inside Lambda; AWS documents only "up to 6 vCPUs").
pub const CORE_STEPS: [(u32, u32); 4] = [(3009, 3), (5308, 4), (7077, 5), (8846, 6)];
/// The cores below the first step.
pub const BASE_CORES: u32 = 2;

/// The CPU share is enforced per period: the function runs for its share of each period, then
/// waits for the next one. AWS does not document the period. Third-party measurements on real
/// functions report pauses every ~20 ms at 128 MB; Linux's CFS default is 100 ms. The probe's
/// `cpu-timeline` workload measures it from inside a sandbox; this is the figure used when no
/// measurement is given.
pub const REPORTED_PERIOD_MS: f64 = 20.0;
/// Linux's default CFS period, for comparison (and what a host without a setting uses).
pub const LINUX_DEFAULT_PERIOD_MS: f64 = 100.0;

/// The longest a function may run: a timeout of at most 900 s.
pub const MAX_TIMEOUT_MS: u64 = 900_000;

/// Price of a request, in USD: $0.20 per million.
pub const REQUEST_USD: f64 = 0.20 / 1_000_000.0;
/// Duration is billed in steps of 1 ms, rounded up.
pub const BILLING_STEP_MS: f64 = 1.0;
/// From this date, INIT (a cold start's init phase) is billed for every on-demand function,
/// managed runtimes included; custom runtimes (`provided.*`, this probe) always were.
pub const INIT_BILLED_SINCE: &str = "2025-08-01";

/// A Lambda architecture, as Lambda spells it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Arch {
    #[serde(rename = "arm64")]
    Arm64,
    #[serde(rename = "x86_64")]
    X86_64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::Arm64, Arch::X86_64];

    /// Lambda's name: `arm64` or `x86_64`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::X86_64 => "x86_64",
        }
    }

    /// From Lambda's name or the kernel's (`aarch64`); `None` for anything else.
    pub fn parse(name: &str) -> Option<Arch> {
        match name {
            "arm64" | "aarch64" => Some(Arch::Arm64),
            "x86_64" | "amd64" => Some(Arch::X86_64),
            _ => None,
        }
    }

    /// The architecture this program was built for.
    pub fn this_build() -> Option<Arch> {
        Arch::parse(std::env::consts::ARCH)
    }

    /// On-demand duration price, USD per GB-second (us-east-1 list price, first tier).
    pub fn usd_per_gb_s(self) -> f64 {
        match self {
            Arch::X86_64 => 0.000_016_666_7,
            Arch::Arm64 => 0.000_013_333_4,
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a memory size is not one Lambda accepts, in words; `Ok` for a valid size.
pub fn check_memory_mb(memory_mb: u32) -> Result<(), String> {
    if (MIN_MEMORY_MB..=MAX_MEMORY_MB).contains(&memory_mb) {
        Ok(())
    } else {
        Err(format!(
            "{memory_mb} MB is not a Lambda memory size ({MIN_MEMORY_MB}..={MAX_MEMORY_MB} MB, in steps of {MEMORY_STEP_MB} MB)"
        ))
    }
}

/// The vCPU-seconds per second a function of `memory_mb` gets: M ÷ 1,769. At 10,240 MB this
/// is 5.79, below the 6 cores it sees, so the share never reaches the cores.
pub fn vcpu_share(memory_mb: u32) -> f64 {
    memory_mb as f64 / MB_PER_VCPU
}

/// The smallest memory size whose share reaches `vcpu` vCPU-seconds per second, within Lambda's
/// range: 1 vCPU → 1,769 MB, 2 → 3,538 MB; 6 → 10,240 MB (the most there is, 5.79).
pub fn memory_for_vcpu(vcpu: f64) -> u32 {
    let mb = (vcpu * MB_PER_VCPU).ceil();
    mb.clamp(MIN_MEMORY_MB as f64, MAX_MEMORY_MB as f64) as u32
}

/// The cores a function of `memory_mb` sees.
pub fn visible_cores(memory_mb: u32) -> u32 {
    CORE_STEPS
        .iter()
        .rev()
        .find(|&&(from, _)| memory_mb >= from)
        .map(|&(_, cores)| cores)
        .unwrap_or(BASE_CORES)
}

/// The vCPUs a phase that keeps `threads` threads busy can use at `memory_mb`:
/// min(M ÷ 1,769, visible cores, threads), and what bounds it.
pub fn usable_vcpu(memory_mb: u32, threads: f64) -> (f64, CpuBound) {
    let share = vcpu_share(memory_mb);
    let cores = visible_cores(memory_mb) as f64;
    let threads = threads.max(0.0);
    if threads <= share && threads <= cores {
        (threads, CpuBound::Threads)
    } else if cores < share {
        (cores, CpuBound::Cores)
    } else {
        (share, CpuBound::CpuShare)
    }
}

/// What limits a phase's CPU at a memory size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CpuBound {
    /// M ÷ 1,769: more memory would make it faster.
    CpuShare,
    /// The cores the sandbox shows.
    Cores,
    /// The threads the work keeps busy: more memory buys nothing.
    Threads,
}

/// The CPU a function gets per enforcement period, in ms of CPU time (all cores together).
pub fn quota_per_period_ms(memory_mb: u32, period_ms: f64) -> f64 {
    vcpu_share(memory_mb) * period_ms
}

/// Every memory size Lambda accepts where its CPU model changes: one vCPU, and both sides of
/// each visible-core step.
pub fn model_edges_mb() -> Vec<u32> {
    let mut v = vec![ONE_VCPU_MB];
    for (from, _) in CORE_STEPS {
        v.push(from - 1);
        v.push(from);
    }
    v
}

/// Billed duration for a measured one: rounded up to the billing step.
pub fn billed_ms(duration_ms: f64) -> f64 {
    (duration_ms.max(0.0) / BILLING_STEP_MS).ceil() * BILLING_STEP_MS
}

/// GB-seconds of a billed duration at a memory size (Lambda's GB here is 1,024 MB).
pub fn gb_seconds(memory_mb: u32, billed_ms: f64) -> f64 {
    memory_mb as f64 / 1024.0 * billed_ms / 1000.0
}

/// What one invocation costs on demand, in USD.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InvocationCost {
    /// The handler's duration, billed (rounded up to 1 ms).
    pub billed_ms: f64,
    /// The INIT duration billed on a cold start (0 on a warm one).
    pub init_billed_ms: f64,
    pub duration_usd: f64,
    pub request_usd: f64,
    pub total_usd: f64,
}

/// The on-demand cost of one invocation of `duration_ms` at `memory_mb`, plus `init_ms` of INIT
/// when it is a cold start (billed since 1 August 2025 for every on-demand function; pass 0 for
/// a warm invocation).
pub fn invocation_cost(
    arch: Arch,
    memory_mb: u32,
    duration_ms: f64,
    init_ms: f64,
) -> InvocationCost {
    let billed = billed_ms(duration_ms);
    let init_billed = billed_ms(init_ms);
    let duration_usd = gb_seconds(memory_mb, billed + init_billed) * arch.usd_per_gb_s();
    InvocationCost {
        billed_ms: billed,
        init_billed_ms: init_billed,
        duration_usd,
        request_usd: REQUEST_USD,
        total_usd: duration_usd + REQUEST_USD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_for_vcpu_is_the_share_inverted_within_the_range() {
        assert_eq!(memory_for_vcpu(1.0), 1769);
        assert_eq!(memory_for_vcpu(2.0), 3538);
        assert_eq!(vcpu_share(memory_for_vcpu(0.5)), 885.0 / 1769.0);
        assert_eq!(memory_for_vcpu(0.01), MIN_MEMORY_MB);
        assert_eq!(memory_for_vcpu(6.0), MAX_MEMORY_MB);
        assert_eq!(memory_for_vcpu(64.0), MAX_MEMORY_MB);
    }

    #[test]
    fn share_is_proportional_to_memory() {
        assert_eq!(vcpu_share(1769), 1.0);
        assert!((vcpu_share(884) - 0.4997).abs() < 1e-4);
        assert_eq!(vcpu_share(3538), 2.0);
        assert!((vcpu_share(10_240) - 5.7886).abs() < 1e-4);
        assert!((vcpu_share(128) - 0.0724).abs() < 1e-4);
    }

    #[test]
    fn cores_follow_the_measured_steps() {
        for (mb, cores) in [
            (128, 2),
            (3008, 2),
            (3009, 3),
            (5307, 3),
            (5308, 4),
            (7076, 4),
            (7077, 5),
            (8845, 5),
            (8846, 6),
            (10_240, 6),
        ] {
            assert_eq!(visible_cores(mb), cores, "{mb} MB");
        }
        assert_eq!(
            model_edges_mb(),
            vec![1769, 3008, 3009, 5307, 5308, 7076, 7077, 8845, 8846]
        );
    }

    #[test]
    fn usable_vcpu_is_the_smallest_bound() {
        // One thread: the share below 1,769 MB, the thread above.
        assert_eq!(usable_vcpu(884, 1.0).1, CpuBound::CpuShare);
        assert_eq!(usable_vcpu(1769, 1.0), (1.0, CpuBound::Threads));
        assert_eq!(usable_vcpu(4000, 1.0), (1.0, CpuBound::Threads));
        // Two threads at 2,048 MB: 1.158 vCPU, the share.
        let (v, b) = usable_vcpu(2048, 2.0);
        assert!((v - 1.1577).abs() < 1e-3 && b == CpuBound::CpuShare);
        // Eight threads at 10,240 MB: 5.79 vCPU (6 cores shown, the share is lower).
        assert_eq!(usable_vcpu(10_240, 8.0).1, CpuBound::CpuShare);
        // Eight threads at 3,008 MB: the share is 1.70, under the 2 cores.
        assert_eq!(usable_vcpu(3008, 8.0).1, CpuBound::CpuShare);
        // A core-bound case: 3 threads at 3,538 MB would get 2.0 share, 3 cores: the share.
        assert_eq!(usable_vcpu(3538, 3.0).1, CpuBound::CpuShare);
        // Cores bound only where the share passes them: never below 10,240 MB.
        assert!((MIN_MEMORY_MB..=MAX_MEMORY_MB)
            .step_by(64)
            .all(|m| usable_vcpu(m, 64.0).1 != CpuBound::Cores));
        // A wait-only phase (no busy thread) uses no CPU.
        assert_eq!(usable_vcpu(1024, 0.0), (0.0, CpuBound::Threads));
    }

    #[test]
    fn billing_rounds_up_to_the_ms_and_adds_init_and_the_request() {
        assert_eq!(billed_ms(0.2), 1.0);
        assert_eq!(billed_ms(12.0), 12.0);
        assert_eq!(billed_ms(12.001), 13.0);
        let c = invocation_cost(Arch::Arm64, 1024, 999.5, 0.0);
        assert_eq!(c.billed_ms, 1000.0);
        assert!((c.duration_usd - 0.000_013_333_4).abs() < 1e-15);
        assert!((c.total_usd - (0.000_013_333_4 + 0.000_000_2)).abs() < 1e-15);
        let cold = invocation_cost(Arch::X86_64, 2048, 100.0, 50.2);
        assert_eq!(cold.init_billed_ms, 51.0);
        assert!((cold.duration_usd - 2.0 * 0.151 * 0.000_016_666_7).abs() < 1e-15);
    }

    #[test]
    fn memory_sizes_and_architectures() {
        assert!(check_memory_mb(128).is_ok() && check_memory_mb(10_240).is_ok());
        assert!(check_memory_mb(127).unwrap_err().contains("128..=10240"));
        assert!(check_memory_mb(10_241).is_err());
        assert_eq!(Arch::parse("aarch64"), Some(Arch::Arm64));
        assert_eq!(Arch::parse("x86_64"), Some(Arch::X86_64));
        assert_eq!(Arch::parse("riscv64"), None);
        assert_eq!(serde_json::to_string(&Arch::X86_64).unwrap(), "\"x86_64\"");
    }
}
