//! The Power Tuning inputs in bench-payloads/power-tuning/, the sizes they sweep, and which of
//! those sizes the probe would refuse their payload at (tests/payloads.rs, tests/log_tail.rs).

use lambda_probe::error::ErrorType;
use lambda_probe::request;
use lambda_probe::workloads::Host;
use serde_json::Value;

/// Every input sweeps both sides of each point where Lambda's CPU model changes: one vCPU at
/// 1,769 MB, two at 3,538 MB (where two threads stop gaining), and 2 → 3 → 4 → 5 → 6 visible
/// cores at 3,009 / 5,308 / 7,077 / 8,846 MB; less the sizes that refuse its payload.
pub const POWER_VALUES: [u64; 17] = [
    128, 256, 512, 1024, 1536, 1769, 2048, 3008, 3009, 3538, 5307, 5308, 7076, 7077, 8845, 8846,
    10240,
];
/// Accounts on the lower memory quota cannot set more than this; `<name>-max3008.json` sweeps
/// only the sizes up to it.
pub const QUOTA_CAP_MB: u64 = 3008;
pub const CAPPED_SUFFIX: &str = "-max3008";

/// The probe's resident set assumed when it checks a memory workload's need inside Lambda:
/// 32 MiB. Measured: ~5 MiB for the release build's `run` (README, "Memory guard"), 18.6 MiB for
/// the debug build serving the Runtime API through `cargo lambda watch` (tests/log_tail.rs checks
/// every run it makes stays under this). A larger footprint only refuses more; a size this
/// assumption wrongly keeps would end a Power Tuning run with an error, never in a
/// recommendation.
pub const ASSUMED_FOOTPRINT_BYTES: u64 = 32 << 20;
/// Lambda's page size on both architectures.
pub const LAMBDA_PAGE_BYTES: u64 = 4096;

const HOST: Host = Host { cores: 2 };

/// The sizes the input named `name` sweeps before refusals are taken out: all of
/// [`POWER_VALUES`], or those up to [`QUOTA_CAP_MB`] for a `-max3008` variant.
pub fn sweep_for(name: &str) -> Vec<u64> {
    let capped = name.ends_with(CAPPED_SUFFIX);
    POWER_VALUES
        .iter()
        .copied()
        .filter(|&m| !capped || m <= QUOTA_CAP_MB)
        .collect()
}

/// Every input in bench-payloads/power-tuning/, by name (file stem), sorted.
pub fn inputs() -> Vec<(String, Value)> {
    let dir = super::repo().join("bench-payloads/power-tuning");
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
            (p.file_stem().unwrap().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The sizes (MB) among `sizes` at which the probe answers `payload` with `OverBudget`, each
/// with the probe's own message, computed with the probe's own code: the parser's checks (io's
/// bytes in flight, whatever the memory) and the memory guard of alloc and memset
/// (`Budget::from_facts` with the workload's `need`), as inside Lambda: the function's memory
/// size is its smallest memory limit and the probe holds `footprint_bytes`. Any other refusal of
/// the parser is an error.
pub fn refused_sizes(
    payload: &Value,
    sizes: &[u64],
    footprint_bytes: u64,
) -> Result<Vec<(u64, String)>, String> {
    use lambda_probe::budget::{Budget, Facts};
    let request = match request::parse(payload.clone(), HOST) {
        Ok(r) => r,
        Err(e) if e.error_type == ErrorType::OverBudget => {
            return Ok(sizes.iter().map(|&m| (m, e.message.clone())).collect())
        }
        Err(e) => return Err(e.to_string()),
    };
    // Only the memory workloads have a guard (io's buffers are bounded by the parser).
    let Some(need) = request.need(LAMBDA_PAGE_BYTES) else {
        return Ok(Vec::new());
    };
    let mut refused = Vec::new();
    for &m in sizes {
        let budget = Budget::from_facts(&Facts {
            lambda_memory_mib: Some(m),
            cgroup_limit_bytes: None,
            mem_available_bytes: None,
            own_bytes: Ok(footprint_bytes),
        })
        .map_err(|e| e.to_string())?;
        if let Err(e) = budget.check(&need) {
            refused.push((m, e.message));
        }
    }
    Ok(refused)
}
