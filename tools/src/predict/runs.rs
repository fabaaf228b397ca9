//! A probe result as the model's input: what share of CPU the run had, on how many cores, which
//! architecture, and its phases; or why it cannot be one, in words.

use super::model::Measured;
use crate::report::input::{Row, Source};
use lambda_probe::lambda_model::{self as lm, Arch};
use lambda_probe::response::Response;
use lambda_probe::workloads::Results;
use serde_json::Value;

/// One successful run, ready for the model.
#[derive(Clone, Debug)]
pub struct Run {
    /// File (and line) it came from.
    pub origin: String,
    pub arch: Arch,
    /// The Lambda memory size it ran at (or was emulated at).
    pub memory_mb: u32,
    pub measured: Measured,
    /// Where `measured.share_vcpu` came from, in words.
    pub share_from: String,
    pub cold: bool,
    /// Process start → first invocation (the probe's INIT), ms.
    pub init_ms: f64,
    pub page_bytes: u64,
    /// Run under `emulate`'s limits, and the CFS period its cgroup had, if it read one.
    pub emulated: bool,
    pub period_ms: Option<f64>,
    /// A `cpu-timeline` run: the enforcement period it measured (None when never throttled).
    pub measured_period_ms: Option<f64>,
    pub results: Results,
}

impl Run {
    /// What identifies the function a run measured: the workload and its parameters as they
    /// ran (runs of the same function at different sizes share it).
    pub fn function(&self) -> String {
        function_key(&self.results)
    }

    pub fn workload(&self) -> &'static str {
        self.results.workload()
    }
}

/// `pbkdf2 {"hash":"sha512",…}`: the workload and its parameters as they ran.
pub fn function_key(results: &Results) -> String {
    let params = serde_json::to_value(results)
        .ok()
        .and_then(|v| v.get("params").cloned())
        .unwrap_or(Value::Null);
    format!("{} {}", results.workload(), params)
}

/// A row of `report`'s reader as the model's input, or why it cannot be one.
pub fn from_row(row: &Row) -> Result<Run, String> {
    if crate::report::figures::is_concurrent(row) {
        return Err(format!(
            "{}: it ran beside other invocations in its process (Managed Instances, or \
             `run --concurrency`): they shared its CPU, so it is not one invocation's on-demand \
             time; predict needs an on-demand run",
            row.origin
        ));
    }
    let mut run = from_response(&row.origin, &row.response, row.memory_mb)?;
    run.emulated = row.source == Source::Emulated;
    Ok(run)
}

/// `memory_mb`: the size it ran (or was emulated) at.
pub fn from_response(origin: &str, r: &Response, memory_mb: u32) -> Result<Run, String> {
    let env = &r.environment;
    let arch = Arch::parse(&env.arch).ok_or_else(|| {
        format!(
            "{origin}: unknown architecture {:?}: Lambda runs arm64 (aarch64) and x86_64",
            env.arch
        )
    })?;
    if r.truncated {
        return Err(format!(
            "{origin}: the run stopped early ({}): its phases are not the whole work; run it with a longer timeout",
            r.truncated_reason.map(|t| t.name()).unwrap_or("truncated")
        ));
    }
    lm::check_memory_mb(memory_mb).map_err(|e| format!("{origin}: {e}"))?;
    let cores = env
        .affinity_cores
        .unwrap_or(env.visible_cores)
        .clamp(1, u32::MAX as usize) as u32;
    // The quota it saw (emulate, a container, Lambda if it shows one); else Lambda's rule.
    let cg = &env.cgroup;
    let (share_vcpu, share_from) = match cg.cpu_quota_vcpu {
        Some(q) => (
            q,
            format!(
                "its CPU quota, {q:.3} vCPU{}",
                cg.cpu_period_us
                    .map(|p| format!(" per {} ms period", p / 1000))
                    .unwrap_or_default()
            ),
        ),
        None => (
            lm::vcpu_share(memory_mb),
            format!(
                "Lambda's rule at {memory_mb} MB: {:.3} vCPU{}",
                lm::vcpu_share(memory_mb),
                if cg.cpu_cgroup.is_some() {
                    " (its cgroup showed no quota)"
                } else {
                    ""
                }
            ),
        ),
    };
    let common = r.result.common();
    Ok(Run {
        origin: origin.to_string(),
        arch,
        memory_mb,
        measured: Measured {
            share_vcpu: Some(share_vcpu),
            cores,
            wall_ms: common.wall_ms,
            cpu_ms: common.cpu_ms,
        },
        share_from,
        cold: env.invocation.cold_start,
        init_ms: env.invocation.init_ms,
        page_bytes: env.page_size_bytes,
        emulated: false,
        period_ms: cg.cpu_period_us.map(|us| us as f64 / 1000.0),
        measured_period_ms: match &r.result {
            Results::CpuTimeline(t) => lambda_probe::workloads::cpu_timeline::measured_period_ms(t),
            _ => None,
        },
        results: r.result.clone(),
    })
}
