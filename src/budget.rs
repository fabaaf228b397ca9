//! The memory guard: before a workload allocates, compare what the request needs with what the
//! function has, so no payload gets the probe OOM-killed. Over budget → `OverBudget`, with the
//! numbers and the largest value of each field that would fit.
//!
//! The memory the function has is the smallest of what is known: the Lambda memory size
//! (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, MiB), the cgroup memory limit, and the kernel's
//! `MemAvailable` plus what the probe already holds. From it come off a safety margin and the
//! probe's own footprint (its resident set now).

use crate::error::ProbeError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const MIB: u64 = 1 << 20;
/// Kept back for what no request counts: page tables, allocator metadata, the response being
/// built and posted, the runtime's buffers. A fixed part for small functions and a
/// proportional part for large ones.
pub const SAFETY_MARGIN_FIXED_BYTES: u64 = 16 * MIB;
pub const SAFETY_MARGIN_DIVISOR: u64 = 64;
/// The footprint assumed when the resident set cannot be read (far above the probe's usual
/// few MiB, so the guard errs on the side of refusing).
pub const UNKNOWN_FOOTPRINT_BYTES: u64 = 64 * MIB;

/// What the function has, where that came from, and what is usable by a request.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Budget {
    pub memory_bytes: u64,
    /// Which limit was the smallest: `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, `cgroup memory
    /// limit` or `MemAvailable + probe footprint`.
    pub memory_source: String,
    pub safety_margin_bytes: u64,
    /// The probe's resident set when the request was checked.
    pub own_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_bytes_unavailable: Option<String>,
    pub usable_bytes: u64,
}

/// The facts a budget is computed from (read from the system, or given by a test).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub lambda_memory_mib: Option<u64>,
    pub cgroup_limit_bytes: Option<u64>,
    pub mem_available_bytes: Option<u64>,
    /// Resident set, or why it could not be read.
    pub own_bytes: Result<u64, String>,
}

impl Budget {
    /// Reads this function's memory facts now.
    pub fn read() -> Result<Budget, ProbeError> {
        Budget::from_facts(&Facts {
            lambda_memory_mib: crate::host::lambda_memory_mb().map(u64::from),
            cgroup_limit_bytes: crate::host::CgroupLimits::read().memory_limit_bytes,
            mem_available_bytes: crate::host::cgroup::memory_available_bytes(),
            own_bytes: resident_bytes(),
        })
    }

    pub fn from_facts(f: &Facts) -> Result<Budget, ProbeError> {
        let (own_bytes, own_bytes_unavailable) = match &f.own_bytes {
            Ok(b) => (*b, None),
            Err(e) => (
                UNKNOWN_FOOTPRINT_BYTES,
                Some(format!(
                    "{e}; assumed {} MiB",
                    UNKNOWN_FOOTPRINT_BYTES / MIB
                )),
            ),
        };
        let candidates = [
            (
                f.lambda_memory_mib.map(|m| m.saturating_mul(MIB)),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            ),
            (f.cgroup_limit_bytes, "cgroup memory limit"),
            (
                f.mem_available_bytes.map(|a| a.saturating_add(own_bytes)),
                "MemAvailable + probe footprint",
            ),
        ];
        let (memory_bytes, memory_source) = candidates
            .iter()
            .filter_map(|&(v, name)| v.map(|v| (v, name)))
            .min_by_key(|&(v, _)| v)
            .ok_or_else(|| {
                ProbeError::over_budget(
                    "cannot tell how much memory the function has (no \
                     AWS_LAMBDA_FUNCTION_MEMORY_SIZE, no cgroup memory limit, no MemAvailable \
                     in /proc/meminfo), so no memory workload runs",
                )
            })?;
        let safety_margin_bytes = SAFETY_MARGIN_FIXED_BYTES + memory_bytes / SAFETY_MARGIN_DIVISOR;
        Ok(Budget {
            memory_bytes,
            memory_source: memory_source.to_string(),
            safety_margin_bytes,
            own_bytes,
            own_bytes_unavailable,
            usable_bytes: memory_bytes
                .saturating_sub(safety_margin_bytes)
                .saturating_sub(own_bytes),
        })
    }

    /// Ok when `need` fits in the usable memory; otherwise `OverBudget` with every number and
    /// the largest value of each field that fits.
    pub fn check(&self, need: &Need) -> Result<(), ProbeError> {
        if need.bytes <= self.usable_bytes {
            return Ok(());
        }
        let fits: Vec<String> = need
            .fits
            .iter()
            .map(|fit| match fit.largest(self.usable_bytes) {
                Some(v) => format!("`{}` ≤ {v} ({})", fit.field, fit.context),
                None => format!("no `{}` fits ({})", fit.field, fit.context),
            })
            .collect();
        Err(ProbeError::over_budget(format!(
            "{}: the request needs {} ({}) but {} is usable: {} of memory ({}) − {} safety \
             margin − {} the probe already holds{}. Largest that fits: {}",
            need.workload,
            bytes(need.bytes),
            need.what,
            bytes(self.usable_bytes),
            bytes(self.memory_bytes),
            self.memory_source,
            bytes(self.safety_margin_bytes),
            bytes(self.own_bytes),
            self.own_bytes_unavailable
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
            fits.join(", or ")
        )))
    }
}

impl Budget {
    /// One line of the human summary.
    pub fn summary_line(&self) -> String {
        format!(
            "  memory: {:.0} MiB ({}), {:.0} MiB usable after the safety margin and the probe's {:.0} MiB\n",
            self.memory_bytes as f64 / MIB as f64,
            self.memory_source,
            self.usable_bytes as f64 / MIB as f64,
            self.own_bytes as f64 / MIB as f64,
        )
    }
}

/// `12.3 MiB (12897484 bytes)`: readable, and exact for whoever checks the arithmetic.
fn bytes(b: u64) -> String {
    format!("{:.1} MiB ({b} bytes)", b as f64 / MIB as f64)
}

/// What a request needs at its peak, and how each of its fields scales that need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub workload: &'static str,
    pub bytes: u64,
    /// How `bytes` is made up, in words.
    pub what: String,
    pub fits: Vec<Fit>,
}

/// One field's share of a need: `fixed_bytes + value × bytes_per_unit`, the other fields held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fit {
    pub field: &'static str,
    pub fixed_bytes: u64,
    pub bytes_per_unit: u64,
    /// The field's allowed range, and the step its largest value is rounded down to.
    pub min: u64,
    pub max: u64,
    pub multiple_of: u64,
    /// The other fields' values, e.g. "at 100 buffers".
    pub context: String,
}

impl Fit {
    /// The largest allowed value whose need fits in `usable` bytes.
    pub fn largest(&self, usable: u64) -> Option<u64> {
        let room = usable.checked_sub(self.fixed_bytes)?;
        let v = room / self.bytes_per_unit.max(1);
        let step = self.multiple_of.max(1);
        let v = (v / step * step).min(self.max);
        (v >= self.min).then_some(v)
    }
}

/// The probe's resident set (`/proc/self/statm`, second field, in pages).
pub fn resident_bytes() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/self/statm")
        .map_err(|e| format!("/proc/self/statm: {e}"))?;
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("/proc/self/statm: no resident field in {text:?}"))?;
    Ok(pages * crate::host::page_size_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;

    fn facts(lambda: Option<u64>, cgroup: Option<u64>, avail: Option<u64>) -> Facts {
        Facts {
            lambda_memory_mib: lambda,
            cgroup_limit_bytes: cgroup,
            mem_available_bytes: avail,
            own_bytes: Ok(8 * MIB),
        }
    }

    #[test]
    fn the_smallest_known_limit_is_the_memory() {
        let b = Budget::from_facts(&facts(Some(128), Some(1 << 30), Some(20 << 30))).unwrap();
        assert_eq!(b.memory_bytes, 128 * MIB);
        assert_eq!(b.memory_source, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
        assert_eq!(b.safety_margin_bytes, 16 * MIB + 2 * MIB);
        assert_eq!(b.usable_bytes, (128 - 18 - 8) * MIB);

        let b = Budget::from_facts(&facts(None, Some(512 * MIB), Some(20 << 30))).unwrap();
        assert_eq!(b.memory_source, "cgroup memory limit");
        assert_eq!(b.memory_bytes, 512 * MIB);

        // Outside Lambda with no cgroup limit: what the kernel says is free, plus what the
        // probe holds already (it is counted off again as the footprint).
        let b = Budget::from_facts(&facts(None, None, Some(1 << 30))).unwrap();
        assert_eq!(b.memory_source, "MemAvailable + probe footprint");
        assert_eq!(b.memory_bytes, (1 << 30) + 8 * MIB);
        assert_eq!(b.usable_bytes, (1 << 30) - 16 * MIB - b.memory_bytes / 64);

        // A Lambda size larger than the machine has: the machine wins.
        let b = Budget::from_facts(&facts(Some(4096), None, Some(1 << 30))).unwrap();
        assert_eq!(b.memory_source, "MemAvailable + probe footprint");

        let e = Budget::from_facts(&facts(None, None, None)).unwrap_err();
        assert_eq!(e.error_type, ErrorType::OverBudget);
    }

    #[test]
    fn an_unreadable_footprint_is_assumed_large_and_said() {
        let b = Budget::from_facts(&Facts {
            lambda_memory_mib: Some(1024),
            cgroup_limit_bytes: None,
            mem_available_bytes: None,
            own_bytes: Err("no statm".into()),
        })
        .unwrap();
        assert_eq!(b.own_bytes, UNKNOWN_FOOTPRINT_BYTES);
        assert!(b.own_bytes_unavailable.unwrap().contains("no statm"));
    }

    fn need(bytes: u64) -> Need {
        Need {
            workload: "memset",
            bytes,
            what: "one buffer".into(),
            fits: vec![Fit {
                field: "bytes",
                fixed_bytes: 1000,
                bytes_per_unit: 1,
                min: 4096,
                max: 1 << 34,
                multiple_of: 4096,
                context: "at 20 repeats".into(),
            }],
        }
    }

    #[test]
    fn over_budget_gives_the_numbers_and_the_largest_fit() {
        let b = Budget::from_facts(&facts(Some(128), None, None)).unwrap();
        assert!(b.check(&need(b.usable_bytes)).is_ok());
        let e = b.check(&need(b.usable_bytes + 1)).unwrap_err();
        assert_eq!(e.error_type, ErrorType::OverBudget);
        let largest = (b.usable_bytes - 1000) / 4096 * 4096;
        for part in [
            "memset: the request needs".to_string(),
            format!("{} bytes", b.usable_bytes + 1),
            format!("{} bytes) is usable", b.usable_bytes),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_string(),
            "safety margin".to_string(),
            format!("`bytes` ≤ {largest} (at 20 repeats)"),
        ] {
            assert!(e.message.contains(&part), "{part:?} not in {}", e.message);
        }
        let tiny = Budget::from_facts(&facts(Some(20), None, None)).unwrap();
        assert_eq!(tiny.usable_bytes, 0);
        let e = tiny.check(&need(5000)).unwrap_err();
        assert!(e.message.contains("no `bytes` fits"), "{}", e.message);
    }

    #[test]
    fn reads_this_machine() {
        assert!(resident_bytes().unwrap() > 0);
        let b = Budget::read().unwrap();
        assert!(b.memory_bytes > 0 && b.usable_bytes < b.memory_bytes);
    }
}
