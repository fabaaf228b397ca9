//! lambda-probe: one Lambda function that measures what a memory size buys.
//!
//! The whole path of one invocation, on one screen:
//! event JSON → [`request::parse_event`] (the envelope) → [`workloads::Request`] (the
//! workload's typed parameters) → its run → [`response::Response`] → JSON.

pub mod budget;
pub mod cli;
pub mod error;
pub mod host;
pub mod lambda;
pub mod lambda_model;
pub mod measure;
pub mod request;
pub mod response;
pub mod schema;
pub mod telemetry;
pub mod workloads;

/// jemalloc for every allocation, as in the 2020 experiment: the alloc workload measures it.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use error::ProbeError;
use host::RunCountersStart;
use measure::clock::SpanStart;
use measure::Deadline;
use request::Options;
use response::{Response, SCHEMA_VERSION};
use serde_json::Value;
use workloads::{Context, Host};

/// Handles one event: parse, run, measure, answer. The Lambda runtime and the local `run`
/// command both call this and nothing else. Several may run at once in one process (Lambda
/// Managed Instances, `run --concurrency`): each registers for the whole of its measured run,
/// so its response says which others overlapped it.
pub async fn handle(event: Value, deadline: Deadline) -> Result<(Response, Options), ProbeError> {
    let running = host::overlap::begin();
    let invocation = host::begin_invocation();
    let host = Host {
        cores: host::sandbox_cores(),
    };
    let (request, options) = request::parse_event(event, host)?;
    let ctx = Context {
        deadline,
        sandbox_id: host::sandbox_id().to_string(),
        invocation_index: invocation.invocation_index,
    };

    let counters = RunCountersStart::now();
    let span = SpanStart::now();
    let (result, truncated) = request.run(ctx, || span.close()).await?;
    let during_run = counters.finish();
    // Closed after the last process-wide reading, so any overlap with it is counted.
    let overlap = running.finish().overlap(&result.process_wide_figures());

    let response = Response {
        schema_version: SCHEMA_VERSION,
        result,
        environment: host::snapshot(invocation, during_run),
        truncated: truncated.is_some(),
        truncated_reason: truncated,
        overlap,
    };
    Ok((response, options))
}
