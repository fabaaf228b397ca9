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
/// command both call this and nothing else.
pub async fn handle(event: Value, deadline: Deadline) -> Result<(Response, Options), ProbeError> {
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

    let response = Response {
        schema_version: SCHEMA_VERSION,
        result,
        environment: host::snapshot(invocation, counters.finish()),
        truncated: truncated.is_some(),
        truncated_reason: truncated,
    };
    Ok((response, options))
}
