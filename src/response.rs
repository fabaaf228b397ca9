//! The response contract. `schema_version` changes whenever a field changes meaning or goes away.

use crate::environment::Environment;
use crate::measure::stats::round;
use crate::measure::Span;
use serde::Serialize;
use serde_json::{Map, Value};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize)]
pub struct Response {
    pub schema_version: u32,
    pub workload: &'static str,
    /// The request as it ran, defaults filled in.
    pub params: Value,
    pub environment: Environment,
    pub summary: Summary,
    /// The workload's per-iteration rows.
    pub samples: Value,
    /// True when the workload stopped early; `samples` then hold what was measured.
    pub truncated: bool,
    pub truncated_reason: Option<TruncatedReason>,
    /// The workload's headline figures, published as CloudWatch metrics (not in the JSON).
    #[serde(skip)]
    pub metrics: Vec<crate::telemetry::Metric>,
    /// Whether the full result goes to the log too (`"log_result"` in the event).
    #[serde(skip)]
    pub log_result: bool,
}

/// Why a workload stopped before doing everything it was asked.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TruncatedReason {
    /// The invocation deadline (minus the safety margin) came first.
    Deadline,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub wall_ms: f64,
    /// Process user + system CPU time over the run.
    pub cpu_ms: f64,
    /// cpu_ms ÷ wall_ms: the vCPUs the run kept busy on average.
    pub effective_vcpu: Option<f64>,
    /// Minor page faults over the run (first touches of memory).
    pub minflt: u64,
    pub majflt: u64,
    /// The workload's own figures.
    #[serde(flatten)]
    pub workload: Map<String, Value>,
}

impl Summary {
    pub fn new(span: &Span, workload: Map<String, Value>) -> Self {
        Self {
            wall_ms: round(span.wall_ms(), 3),
            cpu_ms: round(span.cpu_ms(), 3),
            effective_vcpu: span.effective_vcpu().map(|v| round(v, 3)),
            minflt: span.minflt,
            majflt: span.majflt,
            workload,
        }
    }
}
