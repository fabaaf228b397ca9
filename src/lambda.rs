//! The Lambda door, and nothing else: the context's deadline becomes the workload's deadline,
//! and the metrics and full result go to the log before the response goes back (so Lambda's
//! REPORT line stays last).

use crate::error::ProbeError;
use crate::measure::Deadline;
use crate::response::Response;
use crate::telemetry;
use serde_json::Value;

pub async fn handler(event: lambda_runtime::LambdaEvent<Value>) -> Result<Response, ProbeError> {
    let request_id = event.context.request_id.clone();
    let (response, options) = crate::handle(
        event.payload,
        Deadline::from_epoch_ms(event.context.deadline),
    )
    .await?;
    for line in telemetry::log_lines(&response, &request_id, options.log_result) {
        println!("{line}");
    }
    Ok(response)
}

/// The runtime loop, as lambda_runtime documents it for Lambda Managed Instances: with
/// `AWS_LAMBDA_MAX_CONCURRENCY` above 1 (set by Lambda on Managed Instances) that many workers
/// each serve one invocation at a time, all in this process; without it (on-demand Lambda) one
/// invocation at a time, exactly as `lambda_runtime::run`.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    // Plain text, no colour codes: CloudWatch shows escape sequences verbatim.
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_target(false)
        .without_time()
        .with_max_level(tracing::Level::INFO)
        .init();
    lambda_runtime::run_concurrent(lambda_runtime::service_fn(handler)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;
    use crate::response::SCHEMA_VERSION;
    use crate::workloads::Results;
    use lambda_runtime::{Context, LambdaEvent};
    use serde_json::json;

    async fn invoke(payload: Value) -> Result<Response, ProbeError> {
        handler(LambdaEvent::new(payload, Context::default())).await
    }

    #[tokio::test]
    async fn env_answers_with_the_environment_and_no_work() {
        let r = invoke(json!({"workload": "env"})).await.unwrap();
        assert_eq!(r.schema_version, SCHEMA_VERSION);
        assert_eq!(r.workload(), "env");
        assert_eq!(r.result.samples_len(), 0);
        assert!(!r.truncated);
        assert_eq!(r.environment.arch, std::env::consts::ARCH);
        assert!(r.environment.visible_cores >= 1);
        assert!(r.environment.invocation.invocation_index >= 1);
        // The JSON a caller gets round-trips to the same typed response.
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["environment"].get("during_run").is_some());
        assert_eq!(serde_json::from_value::<Response>(json).unwrap(), r);
    }

    #[tokio::test]
    async fn pbkdf2_through_the_handler() {
        let r = invoke(json!({"workload": "pbkdf2", "hash": "sha256", "iterations": 500, "passwords": 2, "threads": [1, 2]}))
            .await
            .unwrap();
        let Results::Pbkdf2(run) = &r.result else {
            panic!("{r:?}")
        };
        assert_eq!(run.params.iterations, 500);
        assert_eq!(run.samples.len(), 4);
        assert_eq!(run.summary.figures.levels.len(), 2);
        assert!(run.summary.common.wall_ms > 0.0);
        assert_eq!(
            run.summary.figures.first_key.as_ref().unwrap().key_bytes,
            32
        );
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
