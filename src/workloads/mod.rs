//! One match from request to workload. Each workload takes typed parameters and a deadline and
//! returns typed samples and figures; none of them knows about Lambda.

pub mod io;
pub mod pbkdf2;

// ---- memory workloads (alloc, memset) and what they share
pub mod alloc;
pub mod memory;
pub mod memset;

use crate::error::ProbeError;
use crate::measure::Deadline;
use crate::request::Request;
use crate::response::TruncatedReason;
use crate::telemetry::Metric;
use serde::Serialize;
use serde_json::{Map, Value};

/// What a workload hands back, in the shape the response carries.
#[derive(Debug, Default)]
pub struct Output {
    pub samples: Value,
    pub figures: Map<String, Value>,
    pub truncated: Option<TruncatedReason>,
    /// Headline figures for the EMF record (see telemetry.rs).
    pub metrics: Vec<Metric>,
}

impl Output {
    pub fn new(
        samples: impl Serialize,
        figures: impl Serialize,
        truncated: Option<TruncatedReason>,
    ) -> Self {
        let figures = match serde_json::to_value(figures) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Self {
            samples: serde_json::to_value(samples).unwrap_or(Value::Null),
            figures,
            truncated,
            metrics: Vec::new(),
        }
    }

    pub fn with_metrics(mut self, metrics: Vec<Metric>) -> Self {
        self.metrics = metrics;
        self
    }
}

/// Runs the requested workload. CPU-bound work goes to the blocking pool so it never stalls the
/// runtime's poll loop.
pub async fn run(request: &Request, deadline: Deadline) -> Result<Output, ProbeError> {
    match request {
        Request::Env => Ok(Output {
            samples: Value::Array(Vec::new()),
            ..Output::default()
        }),
        Request::Pbkdf2(p) => {
            let p = p.clone();
            blocking(move || {
                let r = pbkdf2::run(&p, deadline);
                Output::new(&r.samples, &r.figures, r.truncated).with_metrics(r.metrics())
            })
            .await
        }
        Request::Alloc(p) => {
            let p = p.clone();
            blocking(move || {
                // Purge first: the guard then sees the probe's true footprint.
                alloc::release()?;
                let budget = guard(&alloc::need(&p, page_bytes()))?;
                let r = alloc::run(&p, deadline)?;
                Ok(with_budget(
                    Output::new(&r.samples, &r.figures, r.truncated).with_metrics(r.metrics()),
                    &budget,
                ))
            })
            .await?
        }
        Request::Memset(p) => {
            let p = p.clone();
            blocking(move || {
                alloc::release()?;
                let budget = guard(&memset::need(&p, page_bytes()))?;
                let r = memset::run(&p, deadline)?;
                Ok(with_budget(
                    Output::new(&r.samples, &r.figures, r.truncated).with_metrics(r.metrics()),
                    &budget,
                ))
            })
            .await?
        }
        // io waits on the network: it runs on the async runtime itself, as a task on the
        // runtime's worker threads (where its calls and their connections run too), not on the
        // thread that polls the handler.
        Request::Io(p) => {
            let prefix = io::key_prefix(
                crate::environment::sandbox_id(),
                crate::environment::invocation_index(),
            );
            let p = p.clone();
            let r = tokio::spawn(async move { io::run_configured(&p, prefix, deadline).await })
                .await
                .map_err(|e| ProbeError::internal(format!("io task failed: {e}")))??;
            Ok(Output::new(&r.samples, &r.figures, r.truncated).with_metrics(r.metrics()))
        }
    }
}

// ---- memory guard glue for the memory workloads

fn page_bytes() -> u64 {
    crate::environment::page_size_bytes()
}

/// Refuses a request that would not fit in the function's memory (`OverBudget`).
fn guard(need: &crate::budget::Need) -> Result<crate::budget::Budget, ProbeError> {
    let budget = crate::budget::Budget::read()?;
    budget.check(need)?;
    Ok(budget)
}

/// Every memory workload reports the budget it was checked against.
fn with_budget(mut out: Output, budget: &crate::budget::Budget) -> Output {
    if let Ok(v) = serde_json::to_value(budget) {
        out.figures.insert("memory_budget".into(), v);
    }
    out
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ProbeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ProbeError::internal(format!("workload thread failed: {e}")))
}
