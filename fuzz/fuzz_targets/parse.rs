//! Any bytes, read as the Lambda runtime reads an event, then parsed. For every input, either
//! a request that runs as it is echoed back, or an `InvalidPayload` error whose body (as Lambda
//! and `run` return it) is valid JSON with a known `errorType` and a bounded message; never a
//! panic.
#![no_main]

use lambda_probe::error::{ErrorType, MAX_MESSAGE_BYTES};
use lambda_probe::request::{parse_event, Host, WORKLOADS};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Every `errorType` a caller can see (src/error.rs); renaming one is a breaking change.
const ERROR_TYPES: [&str; 4] = ["InvalidPayload", "OverBudget", "NotConfigured", "Internal"];

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Value>(data) else {
        return; // Lambda refuses non-JSON before the handler runs.
    };
    // The core count only fills pbkdf2's default thread list; vary it with the input.
    let host = Host {
        cores: 1 + data.len() % 8,
    };
    match parse_event(event, host) {
        Ok((request, options)) => {
            let workload = request.workload();
            assert!(WORKLOADS.contains(&workload));
            let params = request.params_json();
            let Value::Object(mut fields) = params.clone() else {
                panic!("params of {workload} are not an object: {params}");
            };
            // The echoed params, sent again, are the same request: the response's `params`
            // can be replayed as a payload.
            fields.insert("workload".into(), workload.into());
            fields.insert("log_result".into(), options.log_result.into());
            let again = parse_event(Value::Object(fields), host)
                .unwrap_or_else(|e| panic!("echoed {workload} params {params} refused: {e}"));
            assert_eq!(again.0, request, "{params}");
            assert_eq!(again.1, options);
        }
        Err(e) => {
            assert_eq!(e.error_type, ErrorType::InvalidPayload, "{e}");
            assert!(!e.message.is_empty());
            assert!(e.message.len() <= MAX_MESSAGE_BYTES, "{}", e.message.len());
            // The body as it goes on the wire: JSON, with a stable errorType and the message.
            let body = e.to_json().to_string();
            let back: Value = serde_json::from_str(&body).expect("error body is JSON");
            let error_type = back["errorType"].as_str().expect("errorType is a string");
            assert!(ERROR_TYPES.contains(&error_type), "{error_type}");
            assert_eq!(error_type, e.error_type.as_str());
            assert_eq!(back["errorMessage"].as_str(), Some(e.message.as_str()));
        }
    }
});
