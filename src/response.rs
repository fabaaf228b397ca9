//! The response contract, typed both ways: the probe serializes it, and every reader (`run
//! --summary`, `emulate`, `report`, `predict`) deserializes the same types. `schema_version`
//! goes up whenever a field changes meaning or goes away (README lists the changes).

use crate::error::ErrorType;
use crate::host::{Environment, Overlap};
use crate::measure::Span;
use crate::workloads::Results;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// 2: typed results (this layout); `summary.minflt`/`majflt` became `new_pages`/`major_faults`;
/// `truncated_reason` gained `thread_pool`; `overlap` (invocations sharing the process, Lambda
/// Managed Instances), `environment.max_concurrency`, and the memory workloads'
/// `summary.memory_lock`. See README, "The response".
pub const SCHEMA_VERSION: u32 = 2;

/// One successful invocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Response {
    pub schema_version: u32,
    /// `workload`, `params` (the request as it ran, defaults filled in), `summary` and
    /// `samples` (the workload's per-iteration rows).
    #[serde(flatten)]
    pub result: Results,
    pub environment: Environment,
    /// True when the workload stopped early; `samples` then hold what was measured.
    pub truncated: bool,
    pub truncated_reason: Option<TruncatedReason>,
    /// Other invocations of the same process that ran during this one (Lambda Managed
    /// Instances), and which figures therefore include their work.
    pub overlap: Overlap,
}

/// The common figures measured for the whole process (see `Workload::PROCESS_WIDE`).
pub const COMMON_PROCESS_WIDE: [&str; 4] = [
    "summary.cpu_ms",
    "summary.effective_vcpu",
    "summary.new_pages",
    "summary.major_faults",
];

impl Response {
    pub fn workload(&self) -> &'static str {
        self.result.workload()
    }

    /// The vCPUs this invocation's own work kept busy: `summary.effective_vcpu` when nothing
    /// shared the process; when something did (that figure is then the process's), its
    /// threads' own CPU ÷ its wall time, where the workload measures CPU per thread; else
    /// `None`, never the shared figure.
    pub fn own_effective_vcpu(&self) -> Option<f64> {
        let c = self.result.common();
        if !self.overlap.figures_shared {
            return c.effective_vcpu;
        }
        let cpu_ms = self.result.thread_cpu_ms()?;
        (c.wall_ms * 1000.0 >= crate::measure::clock::MIN_RATIO_WALL_US as f64)
            .then(|| crate::measure::stats::round(cpu_ms / c.wall_ms, 3))
    }
}

/// Why a workload stopped before doing everything it was asked.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TruncatedReason {
    /// The invocation deadline (minus the safety margin) came first.
    Deadline,
    /// The sandbox refused to start the threads asked for (a limit of the sandbox, not time).
    ThreadPool,
}

impl TruncatedReason {
    pub fn name(self) -> &'static str {
        match self {
            TruncatedReason::Deadline => "deadline",
            TruncatedReason::ThreadPool => "thread_pool",
        }
    }
}

/// The figures every workload has, measured by `handle` around the run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Common {
    pub wall_ms: f64,
    /// Process user + system CPU time over the run (with other invocations running in the
    /// process, theirs too: see `overlap`).
    pub cpu_ms: f64,
    /// cpu_ms ÷ wall_ms: the vCPUs the run kept busy on average; null for runs under 1 ms.
    pub effective_vcpu: Option<f64>,
    /// Minor page faults over the run: pages mapped for the first time (first touches).
    pub new_pages: u64,
    /// Major page faults (pages read from disk).
    pub major_faults: u64,
}

/// `summary`: the common figures, then the workload's own, in one object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Summary_{F}")]
pub struct Summary<F> {
    #[serde(flatten)]
    pub common: Common,
    #[serde(flatten)]
    pub figures: F,
}

impl<F> Summary<F> {
    pub fn new(span: &Span, figures: F) -> Self {
        let f = span.figures();
        Self {
            common: Common {
                wall_ms: f.wall_ms,
                cpu_ms: f.cpu_ms,
                effective_vcpu: f.effective_vcpu,
                new_pages: span.new_pages,
                major_faults: span.major_faults,
            },
            figures,
        }
    }

    pub fn common(&self) -> Common {
        self.common
    }
}

/// A function error as Lambda returns it (and `run` prints it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FunctionError {
    #[serde(rename = "errorType")]
    pub error_type: String,
    #[serde(rename = "errorMessage")]
    pub error_message: String,
}

impl FunctionError {
    /// The probe's own error type, if it is one of them.
    pub fn probe_error_type(&self) -> Option<ErrorType> {
        ErrorType::parse(&self.error_type)
    }
}

/// What an invocation answered: a response or a function error.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Response(Box<Response>),
    Error(FunctionError),
}

/// Just enough of an answer to tell which it is, before it is read whole.
#[derive(Deserialize)]
struct Shape {
    schema_version: Option<u32>,
    #[serde(rename = "errorType")]
    error_type: Option<serde::de::IgnoredAny>,
    workload: Option<serde::de::IgnoredAny>,
}

impl Answer {
    /// Reads an answer, with a message that says what is wrong when it is not one.
    pub fn from_value(value: serde_json::Value) -> Result<Answer, String> {
        let shape: Shape = serde_json::from_value(value.clone())
            .map_err(|e| format!("not a lambda-probe answer: {e}"))?;
        if shape.error_type.is_some() {
            return serde_json::from_value(value)
                .map(Answer::Error)
                .map_err(|e| format!("a function error without its errorMessage: {e}"));
        }
        match (shape.schema_version, shape.workload) {
            (Some(SCHEMA_VERSION), _) => {}
            (Some(v), _) => {
                return Err(format!(
                    "schema_version {v}: written by {} probe (this one reads {SCHEMA_VERSION}; README, \"The response\", lists the changes): run it again with this version",
                    if v < SCHEMA_VERSION { "an older" } else { "a newer" }
                ))
            }
            (None, Some(_)) => {
                return Err("no schema_version: not a lambda-probe response".into());
            }
            (None, None) => {
                return Err(
                    "neither a lambda-probe response (no schema_version, no workload) nor a function error (no errorType)".into(),
                )
            }
        }
        serde_path_to_error::deserialize::<_, Response>(value)
            .map(|r| Answer::Response(Box::new(r)))
            .map_err(|e| format!("not a lambda-probe response: `{}`: {}", e.path(), e.inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_told_apart_with_reasons() {
        let e = Answer::from_value(json!({"errorType": "OverBudget", "errorMessage": "too big"}))
            .unwrap();
        match e {
            Answer::Error(f) => assert_eq!(f.probe_error_type(), Some(ErrorType::OverBudget)),
            other => panic!("{other:?}"),
        }
        let old = Answer::from_value(json!({"schema_version": 1, "workload": "env"})).unwrap_err();
        assert!(
            old.contains("schema_version 1") && old.contains("older"),
            "{old}"
        );
        let none = Answer::from_value(json!({"hello": 1})).unwrap_err();
        assert!(none.contains("neither"), "{none}");
        let broken =
            Answer::from_value(json!({"schema_version": SCHEMA_VERSION, "workload": "env"}))
                .unwrap_err();
        assert!(broken.contains("not a lambda-probe response"), "{broken}");
        assert!(Answer::from_value(json!([1])).is_err());
    }
}
