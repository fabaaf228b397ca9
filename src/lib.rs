//! lambda-probe: one Lambda function that measures what a memory size buys.
//!
//! The whole path of one invocation, on one screen:
//! event JSON → [`request::parse`] → [`workloads::run`] → [`response::Response`] → JSON.

pub mod budget;
pub mod environment;
pub mod error;
pub mod measure;
pub mod output;
pub mod request;
pub mod response;
pub mod telemetry;
pub mod workloads;

/// jemalloc for every allocation, as in the 2020 experiment: the alloc workload measures it.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use environment::RunCountersStart;
use error::ProbeError;
use measure::clock::SpanStart;
use measure::Deadline;
use response::{Response, Summary, SCHEMA_VERSION};
use serde_json::Value;

/// Handles one event: parse, run, measure, answer. The Lambda runtime and the local `run`
/// command both call this and nothing else.
pub async fn handle(event: Value, deadline: Deadline) -> Result<Response, ProbeError> {
    let invocation = environment::begin_invocation();
    let host = request::Host {
        cores: environment::sandbox_cores(),
    };
    let (request, options) = request::parse_event(event, host)?;

    let counters = RunCountersStart::now();
    let span = SpanStart::now();
    let output = workloads::run(&request, deadline).await?;
    let span = span.close();

    Ok(Response {
        schema_version: SCHEMA_VERSION,
        workload: request.workload(),
        params: request.params_json(),
        environment: environment::snapshot(invocation, counters.finish()),
        summary: Summary::new(&span, output.figures),
        samples: output.samples,
        truncated: output.truncated.is_some(),
        truncated_reason: output.truncated,
        metrics: output.metrics,
        log_result: options.log_result,
    })
}

/// The Lambda door: the context's deadline becomes the workload's deadline, and the metrics
/// and full result go to the log before the response goes back.
pub async fn lambda_handler(
    event: lambda_runtime::LambdaEvent<Value>,
) -> Result<Response, ProbeError> {
    let request_id = event.context.request_id.clone();
    let response = handle(
        event.payload,
        Deadline::from_epoch_ms(event.context.deadline),
    )
    .await?;
    for line in telemetry::log_lines(&response, &request_id, response.log_result) {
        println!("{line}");
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use error::ErrorType;
    use lambda_runtime::{Context, LambdaEvent};
    use serde_json::json;

    async fn invoke(payload: Value) -> Result<Value, ProbeError> {
        lambda_handler(LambdaEvent::new(payload, Context::default()))
            .await
            .map(|r| serde_json::to_value(r).unwrap())
    }

    #[tokio::test]
    async fn env_answers_with_the_environment_and_no_work() {
        let r = invoke(json!({"workload": "env"})).await.unwrap();
        assert_eq!(r["schema_version"], json!(SCHEMA_VERSION));
        assert_eq!(r["workload"], "env");
        assert_eq!(r["samples"], json!([]));
        assert_eq!(r["truncated"], json!(false));
        let env = &r["environment"];
        assert_eq!(env["arch"], std::env::consts::ARCH);
        assert!(env["visible_cores"].as_u64().unwrap() >= 1);
        assert!(env["invocation_index"].as_u64().unwrap() >= 1);
        assert!(env.get("during_run").is_some());
    }

    #[tokio::test]
    async fn pbkdf2_through_the_handler() {
        let r = invoke(json!({"workload": "pbkdf2", "hash": "sha256", "iterations": 500, "passwords": 2, "threads": [1, 2]}))
            .await
            .unwrap();
        assert_eq!(r["workload"], "pbkdf2");
        assert_eq!(r["params"]["iterations"], 500);
        assert_eq!(r["samples"].as_array().unwrap().len(), 4);
        let levels = r["summary"]["levels"].as_array().unwrap();
        assert_eq!(levels.len(), 2);
        assert!(r["summary"]["wall_ms"].as_f64().unwrap() > 0.0);
        assert_eq!(r["summary"]["first_key"]["key_bytes"], 32);
    }

    #[tokio::test]
    async fn invalid_payload_is_a_typed_error() {
        let e = invoke(json!({"workload": "pbkdf2", "iterations": "many"}))
            .await
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::InvalidPayload);
        let d: lambda_runtime::Diagnostic = e.into();
        assert_eq!(d.error_type, "InvalidPayload");
        assert!(
            d.error_message.contains("iterations"),
            "{}",
            d.error_message
        );
    }
}
