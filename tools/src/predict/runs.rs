//! A probe result as the model's input: what share of CPU the run had, on how many cores, which
//! architecture, and its phases; or why it cannot be one, in words.

use super::model::Measured;
use lambda_probe::lambda_model::{self as lm, Arch};
use lambda_probe::response::{Answer, Response};
use lambda_probe::workloads::Results;
use serde_json::Value;

/// One successful run, ready for the model.
#[derive(Clone, Debug)]
pub struct Run {
    /// File (and line) it came from.
    pub origin: String,
    pub arch: Arch,
    /// The Lambda memory size it ran at (or was emulated at), if known.
    pub memory_mb: Option<u32>,
    pub measured: Measured,
    /// Where `measured.share_vcpu` came from, in words.
    pub share_from: String,
    pub cold: bool,
    /// Process start → first invocation (the probe's INIT), ms.
    pub init_ms: f64,
    pub page_bytes: u64,
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

/// What a probe answer is to `predict`: a run, or the reason it is not one.
pub fn read(origin: &str, value: &Value) -> Result<Run, String> {
    let answer = Answer::from_value(value.clone()).map_err(|e| format!("{origin}: {e}"))?;
    let response = match answer {
        Answer::Response(r) => r,
        Answer::Error(e) => {
            return Err(format!(
                "{origin}: a function error ({}: {}), not a run: predict needs a run that answered",
                e.error_type, e.error_message
            ))
        }
    };
    // emulate's own line: `"emulated": null` means it ran without limits (--unthrottled).
    let emulate_line = value.get("emulate_run").is_some();
    let emulated = value.get("emulated").filter(|e| e.is_object());
    let emulated_mb = emulated
        .and_then(|e| e.get("memory_mb"))
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok());
    from_response(
        origin,
        &response,
        emulate_line && emulated.is_none(),
        emulated_mb,
    )
}

/// `unthrottled`: an `emulate --unthrottled` line (a memory size was set, no limit applied).
pub fn from_response(
    origin: &str,
    r: &Response,
    unthrottled: bool,
    emulated_mb: Option<u32>,
) -> Result<Run, String> {
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
    let memory_mb = env.memory_mb.or(emulated_mb);
    let cores = env
        .affinity_cores
        .unwrap_or(env.visible_cores)
        .max(1)
        .min(u32::MAX as usize) as u32;
    let cg = &env.cgroup;
    let period_ms = cg.cpu_period_us.map(|us| us as f64 / 1000.0);
    let (share_vcpu, share_from) = match (cg.cpu_quota_vcpu, memory_mb) {
        (Some(q), _) => (
            Some(q),
            format!(
                "its CPU quota, {q:.3} vCPU{}",
                period_ms
                    .map(|p| format!(" per {p:.0} ms period"))
                    .unwrap_or_default()
            ),
        ),
        (None, Some(_)) if unthrottled => (
            None,
            format!("no CPU limit (emulate --unthrottled): its {cores} cores"),
        ),
        (None, Some(m)) => {
            lm::check_memory_mb(m).map_err(|e| format!("{origin}: {e}"))?;
            (
                Some(lm::vcpu_share(m)),
                format!("Lambda's rule at {m} MB: {:.3} vCPU", lm::vcpu_share(m)),
            )
        }
        (None, None) if cg.cpu_cgroup.is_some() => (
            None,
            format!("no CPU limit (its cgroup has no quota): its {cores} cores"),
        ),
        (None, None) => {
            return Err(format!(
                "{origin}: no memory size (environment.memory_mb is null) and no CPU quota ({}): \
                 what share of CPU the run had is unknown. Run it in Lambda, under `emulate`, \
                 or with AWS_LAMBDA_FUNCTION_MEMORY_SIZE set",
                cg.cpu_quota_unavailable
                    .as_deref()
                    .unwrap_or("the cgroup could not be read")
            ))
        }
    };
    let common = r.result.common();
    if r.result.phases().is_empty() {
        return Err(format!(
            "{origin}: a {} run has no phases to project (it measures the sandbox, not work)",
            r.workload()
        ));
    }
    Ok(Run {
        origin: origin.to_string(),
        arch,
        memory_mb,
        measured: Measured {
            share_vcpu,
            cores,
            wall_ms: common.wall_ms,
            cpu_ms: common.cpu_ms,
        },
        share_from,
        cold: env.invocation.cold_start,
        init_ms: env.invocation.init_ms,
        page_bytes: env.page_size_bytes,
        results: r.result.clone(),
    })
}
