//! Any bytes, read as the Lambda runtime reads an event, then parsed: a request, or an
//! `InvalidPayload` error with a bounded message; never a panic.
#![no_main]

use lambda_probe::error::{ErrorType, MAX_MESSAGE_BYTES};
use lambda_probe::request::{parse_event, Host, WORKLOADS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return; // Lambda refuses non-JSON before the handler runs.
    };
    // The core count only fills pbkdf2's default thread list; vary it with the input.
    let host = Host {
        visible_cores: 1 + data.len() % 8,
    };
    match parse_event(event, host) {
        Ok((request, _options)) => {
            assert!(WORKLOADS.contains(&request.workload()));
            assert!(request.params_json().is_object());
        }
        Err(e) => {
            assert_eq!(e.error_type, ErrorType::InvalidPayload, "{e}");
            assert!(!e.message.is_empty());
            assert!(e.message.len() <= MAX_MESSAGE_BYTES, "{}", e.message.len());
        }
    }
});
