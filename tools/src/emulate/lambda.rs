//! What one Lambda memory size gets (by the probe's Lambda model), or one Lambda Managed
//! Instances environment at one concurrency, and what of it this host can reproduce.

use lambda_probe::lambda_model::managed::{self, environment_memory_mb};
use lambda_probe::lambda_model::{check_memory_mb, vcpu_share, visible_cores};
use lambda_probe::measure::stats::round;
use serde::{Deserialize, Serialize};

/// A Lambda Managed Instances execution environment (`--managed`), and how many invocations it
/// serves at once at this level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Managed {
    pub vcpus: u32,
    pub gib_per_vcpu: f64,
    /// Invocations at once in the one probe process (`run --concurrency`), and its
    /// `AWS_LAMBDA_MAX_CONCURRENCY`.
    pub concurrency: u32,
}

/// What one memory size gets here: Lambda's figures, what is applied, and what differs.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub memory_mb: u32,
    /// Lambda's share; applied as the CFS quota as is, never capped to the host.
    pub vcpu: f64,
    /// The cores Lambda shows.
    pub lambda_cores: u32,
    /// The host CPUs the run may use (the first `lambda_cores` of the host's, at most).
    pub cpus: Vec<u32>,
    /// Where this host cannot give what Lambda would, in words; empty when faithful.
    pub not_reproducible: Vec<String>,
    /// Set for a Lambda Managed Instances environment: whole cores and no CFS quota.
    pub managed: Option<Managed>,
    /// The CFS period to enforce the quota over (`--period-ms`); `None`: the kernel's, as the
    /// run's cgroup has it (100 ms on Linux).
    pub period_us: Option<u64>,
}

impl Plan {
    /// `host_cpus`: the CPUs the parent cgroup may use; `host_memory_bytes`: MemTotal.
    pub fn new(memory_mb: u32, host_cpus: &[u32], host_memory_bytes: Option<u64>) -> Plan {
        let vcpu = vcpu_share(memory_mb);
        let lambda_cores = visible_cores(memory_mb);
        let host = host_cpus.len() as u32;
        let cpus: Vec<u32> = host_cpus
            .iter()
            .copied()
            .take(lambda_cores as usize)
            .collect();
        let mut not_reproducible = Vec::new();
        if lambda_cores > host {
            not_reproducible.push(format!(
                "Lambda shows {lambda_cores} cores at {memory_mb} MB; this host has {host}, so the run saw {host}"
            ));
        }
        if vcpu > host as f64 {
            not_reproducible.push(format!(
                "Lambda gives {:.3} vCPU at {memory_mb} MB; this host has {host} cores, so the run got at most {host}",
                round(vcpu, 3)
            ));
        }
        if let Some(total) = host_memory_bytes {
            if mib_to_bytes(memory_mb) > total {
                not_reproducible.push(format!(
                    "the {memory_mb} MB limit is above this host's {} MiB of memory",
                    total >> 20
                ));
            }
        }
        Plan {
            memory_mb,
            vcpu,
            lambda_cores,
            cpus,
            not_reproducible,
            managed: None,
            period_us: None,
        }
    }

    /// A Lambda Managed Instances environment of `vcpus` vCPUs at `gib_per_vcpu` GiB each,
    /// serving `concurrency` invocations at once: `vcpus` whole cores of this host (cpuset) and
    /// no CFS quota (the environment's vCPUs are an instance's, shared by the invocations the
    /// way the kernel shares cores among threads), memory = ratio × vCPUs.
    pub fn managed(
        vcpus: u32,
        gib_per_vcpu: f64,
        concurrency: u32,
        host_cpus: &[u32],
        host_memory_bytes: Option<u64>,
    ) -> Result<Plan, String> {
        let memory_mb = environment_memory_mb(vcpus, gib_per_vcpu)?;
        managed::check_concurrency(concurrency)?;
        let host = host_cpus.len() as u32;
        let mut not_reproducible = Vec::new();
        if vcpus > host {
            not_reproducible.push(format!(
                "the environment has {vcpus} vCPUs; this host has {host} cores, so the run got {host}"
            ));
        }
        if let Some(total) = host_memory_bytes {
            if mib_to_bytes(memory_mb) > total {
                not_reproducible.push(format!(
                    "the {memory_mb} MB limit is above this host's {} MiB of memory",
                    total >> 20
                ));
            }
        }
        Ok(Plan {
            memory_mb,
            vcpu: vcpus as f64,
            lambda_cores: vcpus,
            cpus: host_cpus.iter().copied().take(vcpus as usize).collect(),
            not_reproducible,
            managed: Some(Managed {
                vcpus,
                gib_per_vcpu,
                concurrency,
            }),
            period_us: None,
        })
    }

    /// Invocations the probe process serves at once: 1 on demand.
    pub fn concurrency(&self) -> u32 {
        self.managed.as_ref().map_or(1, |m| m.concurrency)
    }

    /// "884 MB", or "2 vCPU × 4 at once" for a Lambda Managed Instances level.
    pub fn label(&self) -> String {
        match &self.managed {
            Some(m) => format!("{} vCPU × {} at once", m.vcpus, m.concurrency),
            None => format!("{} MB", self.memory_mb),
        }
    }

    /// The same plan with the quota enforced over `period_us` (`None`: the kernel's period).
    /// A quota below the kernel's 1 ms minimum is said, since the run then gets more than
    /// Lambda's share.
    pub fn with_period(mut self, period_us: Option<u64>) -> Plan {
        self.period_us = period_us;
        if let Some(p) = period_us {
            self.note_quota_floor(p);
        }
        self
    }

    /// Says so when the quota for `period_us` is below the kernel's 1 ms minimum.
    pub fn note_quota_floor(&mut self, period_us: u64) {
        let exact = self.vcpu * period_us as f64;
        if exact < MIN_QUOTA_US as f64 {
            let note = format!(
                "Lambda's {:.3} vCPU at {} MB is {exact:.0} µs per {} ms period, under the kernel's 1 ms minimum quota: the run got 1 ms per period ({:.3} vCPU); a longer period (--period-ms) avoids it",
                round(self.vcpu, 3),
                self.memory_mb,
                period_us as f64 / 1000.0,
                MIN_QUOTA_US as f64 / period_us as f64,
            );
            if !self.not_reproducible.contains(&note) {
                self.not_reproducible.push(note);
            }
        }
    }

    pub fn memory_bytes(&self) -> u64 {
        mib_to_bytes(self.memory_mb)
    }

    /// The CFS quota for `period_us`: the share times the period, at least the kernel's 1 ms;
    /// `None` (no quota) for a Lambda Managed Instances environment.
    pub fn quota_us(&self, period_us: u64) -> Option<u64> {
        if self.managed.is_some() {
            return None;
        }
        Some(((self.vcpu * period_us as f64).round() as u64).max(MIN_QUOTA_US))
    }
}

/// The kernel refuses CFS quotas under 1 ms.
pub const MIN_QUOTA_US: u64 = 1_000;
/// The CFS periods the kernel accepts: 1 ms to 1 s.
pub const MIN_PERIOD_MS: u64 = 1;
pub const MAX_PERIOD_MS: u64 = 1_000;

pub fn mib_to_bytes(mb: u32) -> u64 {
    (mb as u64) << 20
}

/// Lambda memory sizes in MB, in the order given (`--memory 128,256,1769`).
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryList(pub Vec<u32>);

impl MemoryList {
    pub fn parse(text: &str) -> Result<MemoryList, String> {
        parse_memory_list(text).map(MemoryList)
    }
}

/// Invocations at once, per level (`--concurrency 1,2,4`), in the order given.
#[derive(Clone, Debug, PartialEq)]
pub struct ConcurrencyList(pub Vec<u32>);

impl ConcurrencyList {
    pub fn parse(text: &str) -> Result<ConcurrencyList, String> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let k: u32 = part
                .parse()
                .map_err(|_| format!("--concurrency: {part:?} is not a whole number"))?;
            managed::check_concurrency(k).map_err(|e| format!("--concurrency: {e}"))?;
            out.push(k);
        }
        if out.is_empty() {
            return Err("--concurrency needs at least one level, e.g. 1,2,4".into());
        }
        Ok(ConcurrencyList(out))
    }
}

/// `--gib-per-vcpu`: 2, 4 or 8.
pub fn parse_gib_per_vcpu(text: &str) -> Result<f64, String> {
    let r: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of GiB"))?;
    managed::check_gib_per_vcpu(r)?;
    Ok(r)
}

/// Parses `128,256,1769`: Lambda memory sizes in MB, in the order given.
pub fn parse_memory_list(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let mb: u32 = part
            .parse()
            .map_err(|_| format!("--memory: {part:?} is not a whole number of MB"))?;
        check_memory_mb(mb).map_err(|e| format!("--memory: {e}"))?;
        out.push(mb);
    }
    if out.is_empty() {
        return Err("--memory needs at least one size in MB, e.g. 128,512,1769".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_for_a_period() {
        let p = Plan::new(884, &[0, 1], None);
        assert_eq!(p.quota_us(100_000), Some(49_972));
        assert_eq!(
            Plan::new(1769, &[0, 1], None).quota_us(100_000),
            Some(100_000)
        );
        // The kernel refuses quotas under 1 ms.
        assert_eq!(Plan::new(128, &[0, 1], None).quota_us(10_000), Some(1000));
        assert_eq!(p.memory_bytes(), 884 << 20);
    }

    #[test]
    fn a_period_below_the_quota_floor_is_said() {
        let p = Plan::new(1024, &[0, 1], None).with_period(Some(20_000));
        assert_eq!(p.period_us, Some(20_000));
        assert_eq!(p.quota_us(20_000), Some(11_577));
        assert!(p.not_reproducible.is_empty(), "{:?}", p.not_reproducible);
        // 128 MB over 10 ms: 724 µs, under the kernel's 1 ms.
        let p = Plan::new(128, &[0, 1], None).with_period(Some(10_000));
        assert_eq!(p.quota_us(10_000), Some(1_000));
        assert_eq!(p.not_reproducible.len(), 1, "{:?}", p.not_reproducible);
        assert!(p.not_reproducible[0].contains("0.100 vCPU"), "{:?}", p);
        // The kernel's period is checked once it is known, and said once.
        let mut p = Plan::new(128, &[0, 1], None);
        p.note_quota_floor(10_000);
        p.note_quota_floor(10_000);
        assert_eq!(p.not_reproducible.len(), 1);
        assert_eq!(Plan::new(128, &[0, 1], None).period_us, None);
    }

    #[test]
    fn what_the_host_cannot_give_is_said_not_capped() {
        let p = Plan::new(1769, &[0, 1], Some(24 << 30));
        assert_eq!(p.cpus, vec![0, 1]);
        assert!(p.not_reproducible.is_empty(), "{:?}", p.not_reproducible);

        // 3,538 MB: 2.0 vCPU fits two cores, but Lambda shows 3 cores.
        let p = Plan::new(3538, &[0, 1], Some(24 << 30));
        assert_eq!(p.vcpu, 2.0);
        assert_eq!(p.cpus, vec![0, 1]);
        assert_eq!(p.not_reproducible.len(), 1);
        assert!(p.not_reproducible[0].contains("3 cores"), "{:?}", p);

        // 5,308 MB: 3 vCPU and 4 cores on a 2-core host: both said; the quota stays Lambda's.
        let p = Plan::new(5308, &[2, 3], Some(24 << 30));
        assert!((p.vcpu - 3.0006).abs() < 1e-3);
        assert_eq!(p.cpus, vec![2, 3]);
        assert_eq!(p.not_reproducible.len(), 2, "{:?}", p.not_reproducible);
        assert!(p.quota_us(100_000) > Some(300_000));

        // A 6-core host takes only the first cores Lambda shows.
        let p = Plan::new(1024, &[0, 1, 2, 3, 4, 5], None);
        assert_eq!(p.cpus, vec![0, 1]);

        let p = Plan::new(10_240, &[0, 1, 2, 3, 4, 5, 6, 7], Some(4 << 30));
        assert!(p.not_reproducible.iter().any(|n| n.contains("memory")));
    }

    #[test]
    fn a_managed_environment_is_whole_cores_without_a_quota() {
        let p = Plan::managed(2, 2.0, 4, &[0, 1, 2, 3], Some(24 << 30)).unwrap();
        assert_eq!(p.memory_mb, 4096);
        assert_eq!(p.cpus, vec![0, 1]);
        assert_eq!(p.quota_us(100_000), None);
        assert_eq!(p.concurrency(), 4);
        assert_eq!(p.label(), "2 vCPU × 4 at once");
        assert!(p.not_reproducible.is_empty(), "{:?}", p.not_reproducible);
        // More vCPUs than the host has: said, not hidden.
        let p = Plan::managed(4, 2.0, 1, &[0, 1], Some(24 << 30)).unwrap();
        assert_eq!(p.cpus, vec![0, 1]);
        assert!(p.not_reproducible[0].contains("4 vCPUs"), "{p:?}");
        assert!(Plan::managed(2, 3.0, 1, &[0, 1], None).is_err());
        assert!(Plan::managed(2, 2.0, 0, &[0, 1], None).is_err());
        assert!(Plan::managed(16, 4.0, 1, &[0, 1], None).is_err());
        assert_eq!(Plan::new(1769, &[0, 1], None).concurrency(), 1);
    }

    #[test]
    fn concurrency_lists_and_ratios() {
        assert_eq!(ConcurrencyList::parse("1, 2,4").unwrap().0, vec![1, 2, 4]);
        assert!(ConcurrencyList::parse("0")
            .unwrap_err()
            .contains("1..=1600"));
        assert!(ConcurrencyList::parse("1601").is_err());
        assert!(ConcurrencyList::parse("two").is_err());
        assert!(ConcurrencyList::parse(",").is_err());
        assert_eq!(parse_gib_per_vcpu("4"), Ok(4.0));
        assert!(parse_gib_per_vcpu("3").unwrap_err().contains("2, 4 or 8"));
        assert!(parse_gib_per_vcpu("x").is_err());
    }

    #[test]
    fn memory_lists() {
        assert_eq!(
            parse_memory_list("128, 1769,3538").unwrap(),
            vec![128, 1769, 3538]
        );
        assert!(parse_memory_list("64").unwrap_err().contains("128..=10240"));
        assert!(parse_memory_list("10241").is_err());
        assert!(parse_memory_list("1gb").unwrap_err().contains("1gb"));
        assert!(parse_memory_list(",").is_err());
    }
}
