//! What a Power Tuning run of an input would cost and pick, by the prediction: its invocations
//! at every `powerValues` size (cold ones with their INIT billed), its executor and its Step
//! Functions transitions, the longest executor step against Lambda's timeout, and the size its
//! strategy would choose. `make estimate` prints this for bench-payloads/power-tuning/.
//!
//! Power Tuning's own figures (how it invokes, its executor, its transitions) are from its code
//! (4.4.0; the project's notes on it): each size gets a new version, so its first invocation is
//! cold (every one with `onlyColdStarts`, or with `parallelInvocation`); the executor waits for
//! a size's `num` invocations in series (in parallel: the slowest); the analyzer averages
//! durations with the top and bottom 20% left out, so a lone cold start does not count.

use super::{Group, Options};
use lambda_probe::lambda_model::{self as lm, Arch};
use lambda_probe::workloads::Host;
use serde::Serialize;
use serde_json::Value;

/// Power Tuning's executor: a Node.js function on x86_64 with 128 MB (its template).
const EXECUTOR_MB: u32 = 128;
const EXECUTOR_ARCH: Arch = Arch::X86_64;
/// Step Functions standard workflows: USD per state transition ($0.025 per 1,000).
const STATE_TRANSITION_USD: f64 = 0.025 / 1000.0;

/// One Power Tuning execution input, the parts that decide its cost and choice.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub name: String,
    pub num: u32,
    pub power_values: Vec<u32>,
    pub strategy: Strategy,
    pub parallel: bool,
    pub only_cold_starts: bool,
    pub payload: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    Cost,
    Speed,
    Balanced { weight: f64 },
}

impl Strategy {
    fn words(self) -> String {
        match self {
            Strategy::Cost => "cost".into(),
            Strategy::Speed => "speed".into(),
            Strategy::Balanced { weight } => format!("balanced {weight}"),
        }
    }
}

/// Reads an execution input (as in bench-payloads/power-tuning/).
pub fn read(path: &str) -> Result<Input, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{path}: not JSON: {e}"))?;
    let num = v["num"]
        .as_u64()
        .filter(|&n| n >= 1)
        .ok_or_else(|| format!("{path}: `num` must be a count"))? as u32;
    let power_values: Vec<u32> = v["powerValues"]
        .as_array()
        .ok_or_else(|| format!("{path}: `powerValues` must list memory sizes"))?
        .iter()
        .map(|m| {
            m.as_u64()
                .and_then(|m| u32::try_from(m).ok())
                .filter(|&m| lm::check_memory_mb(m).is_ok())
                .ok_or_else(|| format!("{path}: `powerValues`: {m} is not a Lambda memory size"))
        })
        .collect::<Result<_, _>>()?;
    let strategy = match v["strategy"].as_str().unwrap_or("cost") {
        "cost" => Strategy::Cost,
        "speed" => Strategy::Speed,
        "balanced" => Strategy::Balanced {
            weight: v["balancedWeight"].as_f64().unwrap_or(0.5),
        },
        other => return Err(format!("{path}: unknown strategy {other:?}")),
    };
    Ok(Input {
        name: std::path::Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.to_string()),
        num,
        power_values,
        strategy,
        parallel: v["parallelInvocation"].as_bool().unwrap_or(false),
        only_cold_starts: v["onlyColdStarts"].as_bool().unwrap_or(false),
        payload: v.get("payload").cloned().unwrap_or(Value::Null),
    })
}

/// The function an input's payload runs, keyed as runs are (`runs::function_key`); the
/// defaults that depend on the sandbox (pbkdf2's threads) as a sandbox of `cores` fills them.
pub fn function_of(input: &Input, cores: usize) -> Result<String, String> {
    let request = lambda_probe::request::parse(input.payload.clone(), Host { cores })
        .map_err(|e| format!("{}: the payload: {}", input.name, e.message))?;
    Ok(format!("{} {}", request.workload(), request.params_json()))
}

/// A sweep, priced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sweep {
    pub input: String,
    pub arch: Arch,
    pub invocations: u32,
    pub cold_starts: u32,
    pub function_usd: f64,
    pub executor_usd: f64,
    pub step_functions_usd: f64,
    pub total_usd: f64,
    /// The longest executor step: one size's invocations, in series (or the slowest).
    pub longest_step_ms: f64,
    pub longest_step_mb: u32,
    /// Over Lambda's longest timeout (the executor's limit).
    pub over_timeout: bool,
    /// The size its strategy would pick, by the predicted averages.
    pub pick_mb: Option<u32>,
    /// Sizes where the run would not fit (its invocations error).
    pub refused_mb: Vec<u32>,
}

pub fn sweep(g: &Group, input: &Input, options: &Options) -> Sweep {
    let mut function_usd = 0.0;
    let mut executor_usd = 0.0;
    let (mut longest_ms, mut longest_mb) = (0.0f64, 0);
    let mut cold_starts = 0;
    let mut averages = Vec::new();
    let mut refused = Vec::new();
    for &m in &input.power_values {
        let ms = g.at(m, options).predicted_ms;
        if g.refused_at(m).is_some() {
            refused.push(m);
        }
        let cold = if input.only_cold_starts || input.parallel {
            input.num
        } else {
            1
        };
        cold_starts += cold;
        let warm = input.num - cold;
        function_usd += cold as f64 * lm::invocation_cost(g.arch, m, ms, g.init_ms).total_usd
            + warm as f64 * lm::invocation_cost(g.arch, m, ms, 0.0).total_usd;
        let step_ms = if input.parallel {
            ms + g.init_ms
        } else {
            input.num as f64 * ms + cold as f64 * g.init_ms
        };
        executor_usd += lm::invocation_cost(EXECUTOR_ARCH, EXECUTOR_MB, step_ms, 0.0).total_usd;
        if step_ms > longest_ms {
            (longest_ms, longest_mb) = (step_ms, m);
        }
        // What the analyzer averages: warm invocations, or cold ones (INIT included) when
        // every invocation is cold.
        let seen_ms = if input.only_cold_starts {
            ms + g.init_ms
        } else {
            ms
        };
        let cost = lm::invocation_cost(g.arch, m, seen_ms, 0.0).duration_usd;
        if !refused.contains(&m) {
            averages.push((m, seen_ms, cost));
        }
    }
    let sizes = input.power_values.len() as u32;
    let transitions = if input.only_cold_starts {
        6 + sizes + 2 * sizes * input.num
    } else {
        6 + 3 * sizes
    };
    let step_functions_usd = transitions as f64 * STATE_TRANSITION_USD;
    Sweep {
        input: input.name.clone(),
        arch: g.arch,
        invocations: sizes * input.num,
        cold_starts,
        function_usd,
        executor_usd,
        step_functions_usd,
        total_usd: function_usd + executor_usd + step_functions_usd,
        longest_step_ms: longest_ms,
        longest_step_mb: longest_mb,
        over_timeout: longest_ms > lm::MAX_TIMEOUT_MS as f64,
        pick_mb: pick(&averages, input.strategy),
        refused_mb: refused,
    }
}

/// Power Tuning's analyzer on (size, average duration, average cost) rows.
fn pick(rows: &[(u32, f64, f64)], strategy: Strategy) -> Option<u32> {
    let by = |key: &dyn Fn(&(u32, f64, f64)) -> f64| {
        rows.iter()
            .min_by(|a, b| key(a).total_cmp(&key(b)))
            .map(|r| r.0)
    };
    match strategy {
        Strategy::Cost => by(&|r| r.2),
        Strategy::Speed => by(&|r| r.1),
        Strategy::Balanced { weight } => {
            let max_ms = rows.iter().map(|r| r.1).fold(0.0, f64::max);
            let max_cost = rows.iter().map(|r| r.2).fold(0.0, f64::max);
            let norm = |v: f64, max: f64| if max > 0.0 { v / max } else { 0.0 };
            by(&|r| weight * norm(r.2, max_cost) + (1.0 - weight) * norm(r.1, max_ms))
        }
    }
}

/// The sweeps as a table, and what could not be priced.
pub fn table(sweeps: &[Sweep], inputs: &[Input], missing: &[String]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "Power Tuning sweeps, by the prediction (list prices; INIT billed on cold starts):\n\n\
         | input | arch | invocations | function | executor | Step Functions | total | longest executor step | its pick |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for s in sweeps {
        let strategy = inputs
            .iter()
            .find(|i| i.name == s.input)
            .map(|i| i.strategy.words())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} ({} cold) | ${:.4} | ${:.4} | ${:.4} | ${:.4} | {} at {} MB{} | {} |",
            s.input,
            s.arch,
            s.invocations,
            s.cold_starts,
            s.function_usd,
            s.executor_usd,
            s.step_functions_usd,
            s.total_usd,
            duration(s.longest_step_ms),
            s.longest_step_mb,
            if s.over_timeout {
                " (over Lambda's 900 s)"
            } else {
                ""
            },
            match s.pick_mb {
                Some(m) => format!("{m} MB ({strategy})"),
                None => "none fits".into(),
            } + &if s.refused_mb.is_empty() {
                String::new()
            } else {
                format!(
                    "; errors (does not fit) at {} MB",
                    s.refused_mb
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    for m in missing {
        let _ = writeln!(out, "\n{m}");
    }
    out
}

fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_analyzer_picks_by_its_strategy() {
        // (MB, ms, cost): a CPU-bound curve, flat cost below the knee.
        let rows = [
            (128, 13_820.0, 2.3e-5),
            (1769, 1000.0, 2.3e-5),
            (3008, 1000.0, 3.9e-5),
        ];
        assert_eq!(pick(&rows, Strategy::Speed), Some(1769));
        assert_eq!(pick(&rows, Strategy::Cost), Some(128));
        assert_eq!(pick(&rows, Strategy::Balanced { weight: 0.5 }), Some(1769));
        assert_eq!(pick(&[], Strategy::Cost), None);
    }
}
