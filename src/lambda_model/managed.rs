//! Lambda Managed Instances (LMI): a function runs in execution environments on EC2 capacity
//! that a capacity provider manages; it chooses its memory per vCPU instead of getting
//! M ÷ 1,769 vCPU, and one environment serves several invocations at once. Written once, as
//! documented; what is not documented is said so.
//!
//! Sources: the Lambda API reference (`LambdaManagedInstancesCapacityProviderConfig`), the
//! CloudFormation resource schema, the SAM documentation of `CapacityProviderConfig`, Lambda's
//! "Rust support for Lambda Managed Instances" and "best practices" pages.

/// `ExecutionEnvironmentMemoryGiBPerVCpu`: the API and CloudFormation accept a number from 2.0
/// to 8.0…
pub const MIN_GIB_PER_VCPU: f64 = 2.0;
pub const MAX_GIB_PER_VCPU: f64 = 8.0;
/// …but SAM's documentation says "The supported memory-to-CPU ratios are 2GB, 4GB, or 8GB per
/// CPU": the template offers only these.
pub const SUPPORTED_GIB_PER_VCPU: [f64; 3] = [2.0, 4.0, 8.0];

/// `PerExecutionEnvironmentMaxConcurrency`: 1 to 1,600 invocations at once per execution
/// environment (the runtime reads it as `AWS_LAMBDA_MAX_CONCURRENCY`).
pub const MIN_CONCURRENCY: u32 = 1;
pub const MAX_CONCURRENCY: u32 = 1600;
/// When the function does not set it, Rust gets "8 concurrent requests per vCPU".
pub const RUST_DEFAULT_CONCURRENCY_PER_VCPU: u32 = 8;

/// "The minimum supported function size is 2GB and 1 vCPU."
pub const MIN_MEMORY_MB: u32 = 2048;
/// CloudFormation's `MemorySize` maximum, which LMI functions can use (on-demand functions
/// stop at `super::MAX_MEMORY_MB`).
pub const MAX_MEMORY_MB: u32 = 32_768;

/// The vCPUs of an execution environment of `memory_mb` at `gib_per_vcpu`: memory ÷ ratio.
/// AWS does not state this formula (only that the ratio is "memory per vCPU"); the probe's
/// `visible_cores` and `cpu_quota_vcpu` show what a deployment really gives.
pub fn vcpus(memory_mb: u32, gib_per_vcpu: f64) -> f64 {
    memory_mb as f64 / 1024.0 / gib_per_vcpu
}

/// The concurrency a Rust function gets when it sets none: 8 per vCPU, within the range.
pub fn rust_default_concurrency(vcpus: f64) -> u32 {
    ((RUST_DEFAULT_CONCURRENCY_PER_VCPU as f64 * vcpus).round() as u32)
        .clamp(MIN_CONCURRENCY, MAX_CONCURRENCY)
}

/// The memory of an environment of `vcpus` vCPUs at `gib_per_vcpu` GiB each, in MB (Lambda's MB
/// are MiB), checked against LMI's sizes: the inverse of [`vcpus`].
pub fn environment_memory_mb(vcpus: u32, gib_per_vcpu: f64) -> Result<u32, String> {
    check_gib_per_vcpu(gib_per_vcpu)?;
    let mb = (vcpus as f64 * gib_per_vcpu * 1024.0).round();
    if vcpus == 0 || mb < MIN_MEMORY_MB as f64 || mb > MAX_MEMORY_MB as f64 {
        return Err(format!(
            "{vcpus} vCPU at {gib_per_vcpu} GiB each is {mb} MB; a Lambda Managed Instances function has {MIN_MEMORY_MB}..={MAX_MEMORY_MB} MB"
        ));
    }
    Ok(mb as u32)
}

/// The vCPUs each of `concurrency` invocations gets in an environment of `vcpus` when all of
/// them are busy with `threads` threads each: an equal share of the cores, at most its
/// threads. A model for comparison (the kernel's scheduler shares the cores, no quota divides
/// them), not a documented rule.
pub fn fair_share_vcpu(vcpus: f64, concurrency: u32, threads: f64) -> f64 {
    threads.min(vcpus / concurrency.max(1) as f64)
}

/// Why a memory-per-vCPU ratio is not one LMI supports; `Ok` for 2, 4 or 8.
pub fn check_gib_per_vcpu(gib_per_vcpu: f64) -> Result<(), String> {
    if SUPPORTED_GIB_PER_VCPU.contains(&gib_per_vcpu) {
        Ok(())
    } else {
        Err(format!(
            "{gib_per_vcpu} GiB per vCPU is not a supported Lambda Managed Instances ratio (2, 4 or 8)"
        ))
    }
}

/// Why a per-environment concurrency is out of LMI's range; `Ok` within 1..=1600.
pub fn check_concurrency(concurrency: u32) -> Result<(), String> {
    if (MIN_CONCURRENCY..=MAX_CONCURRENCY).contains(&concurrency) {
        Ok(())
    } else {
        Err(format!(
            "{concurrency} is not a Lambda Managed Instances concurrency ({MIN_CONCURRENCY}..={MAX_CONCURRENCY} per execution environment)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_ranges_and_the_rust_default() {
        assert!(SUPPORTED_GIB_PER_VCPU
            .iter()
            .all(|r| (MIN_GIB_PER_VCPU..=MAX_GIB_PER_VCPU).contains(r)));
        assert!(check_gib_per_vcpu(4.0).is_ok());
        assert!(check_gib_per_vcpu(3.0).unwrap_err().contains("2, 4 or 8"));
        assert!(check_concurrency(1).is_ok() && check_concurrency(1600).is_ok());
        assert!(check_concurrency(0).is_err() && check_concurrency(1601).is_err());
        // The smallest function: 2 GiB at 2 GiB per vCPU is 1 vCPU, 8 invocations by default.
        assert_eq!(vcpus(MIN_MEMORY_MB, 2.0), 1.0);
        assert_eq!(vcpus(4096, 2.0), 2.0);
        assert_eq!(rust_default_concurrency(vcpus(4096, 2.0)), 16);
        assert_eq!(rust_default_concurrency(1000.0), MAX_CONCURRENCY);
        const { assert!(MAX_MEMORY_MB > super::super::MAX_MEMORY_MB) };
        assert_eq!(environment_memory_mb(2, 2.0), Ok(4096));
        assert_eq!(environment_memory_mb(1, 8.0), Ok(8192));
        assert!(environment_memory_mb(0, 2.0).is_err());
        assert!(environment_memory_mb(1, 3.0)
            .unwrap_err()
            .contains("2, 4 or 8"));
        assert!(environment_memory_mb(16, 4.0)
            .unwrap_err()
            .contains("32768"));
        // Four single-thread invocations on two vCPUs: half a vCPU each.
        assert_eq!(fair_share_vcpu(2.0, 4, 1.0), 0.5);
        assert_eq!(fair_share_vcpu(2.0, 1, 1.0), 1.0);
        assert_eq!(fair_share_vcpu(2.0, 2, 4.0), 1.0);
    }
}
