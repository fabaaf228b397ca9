//! The event's envelope: which workload (`"workload"`, default `env`, so `{}` is valid) and the
//! options that apply to any workload (`"log_result"`). Each workload's own fields, defaults and
//! limits live in its module (`workloads/<name>`).

use crate::error::ProbeError;
use crate::workloads::{Host, Request, WORKLOADS};
use serde_json::{Map, Value};

/// Options that apply to any workload, given beside `workload` in the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Also log the full response as one line (see telemetry.rs). Default true; set false to
    /// keep logs small when a driver invokes thousands of times.
    pub log_result: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { log_result: true }
    }
}

/// Parses a raw event into the request. `{}` is the env workload, so an empty Power Tuning
/// payload is valid.
pub fn parse(event: Value, host: Host) -> Result<Request, ProbeError> {
    parse_event(event, host).map(|(request, _)| request)
}

/// Parses a raw event into the request and the options that apply to any workload.
pub fn parse_event(event: Value, host: Host) -> Result<(Request, Options), ProbeError> {
    let mut fields = match event {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(ProbeError::invalid(format!(
                "the event must be a JSON object such as {{\"workload\":\"env\"}}, got {}",
                json_kind(&other)
            )))
        }
    };
    let options = Options {
        log_result: match fields.remove("log_result") {
            None => true,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                return Err(ProbeError::invalid(format!(
                    "`log_result` must be true or false, got {}",
                    json_kind(&other)
                )))
            }
        },
    };
    let workload = match fields.remove("workload") {
        None => "env".to_string(),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(ProbeError::invalid(format!(
                "`workload` must be a string, one of {}; got {}",
                WORKLOADS.join(", "),
                json_kind(&other)
            )))
        }
    };
    let request = Request::parse(&workload, Value::Object(fields), &host)?;
    Ok((request, options))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorType;
    use crate::workloads::alloc::{AllocMode, AllocParams};
    use crate::workloads::env::EnvParams;
    use crate::workloads::io::{IoParams, MAX_CONCURRENCY, MAX_ITEM_BYTES};
    use crate::workloads::memset::MemsetParams;
    use crate::workloads::pbkdf2::{Hash, Pbkdf2Params};
    use serde_json::json;

    const HOST: Host = Host { cores: 2 };

    fn err(v: Value) -> ProbeError {
        parse(v, HOST).unwrap_err()
    }

    #[test]
    fn empty_event_is_env() {
        assert_eq!(parse(json!({}), HOST).unwrap(), Request::Env(EnvParams {}));
        assert_eq!(
            parse(json!({"workload": "env"}), HOST).unwrap(),
            Request::Env(EnvParams {})
        );
    }

    #[test]
    fn pbkdf2_defaults_follow_the_2019_experiment_and_the_cores() {
        let r = parse(json!({"workload": "pbkdf2"}), Host { cores: 6 }).unwrap();
        assert_eq!(
            r,
            Request::Pbkdf2(Pbkdf2Params {
                hash: Hash::Sha512,
                iterations: 1_000_000,
                passwords: 4,
                threads: vec![1, 6],
            })
        );
        let one_core = parse(json!({"workload": "pbkdf2"}), Host { cores: 1 }).unwrap();
        assert_eq!(one_core.params_json()["threads"], json!([1]));
    }

    #[test]
    fn a_sweep_past_the_cores_is_valid() {
        let r = parse(
            json!({"workload": "pbkdf2", "hash": "sha256", "threads": [1, 2, 3, 4, 5, 6]}),
            HOST,
        )
        .unwrap();
        assert_eq!(r.params_json()["threads"], json!([1, 2, 3, 4, 5, 6]));
        assert_eq!(r.params_json()["hash"], json!("sha256"));
    }

    #[test]
    fn log_result_is_an_option_of_any_workload() {
        let (r, o) = parse_event(json!({"workload": "env", "log_result": false}), HOST).unwrap();
        assert_eq!((r, o.log_result), (Request::Env(EnvParams {}), false));
        let (_, o) = parse_event(json!({"workload": "pbkdf2"}), HOST).unwrap();
        assert!(o.log_result);
        let e = err(json!({"log_result": "no"}));
        assert!(e.message.contains("`log_result`"), "{}", e.message);
    }

    #[test]
    fn bad_events_name_what_to_fix() {
        let e = err(json!({"workload": "nope"}));
        assert_eq!(e.error_type, ErrorType::InvalidPayload);
        assert!(e.message.contains("pbkdf2"), "{}", e.message);

        let e = err(json!({"workload": "pbkdf2", "iteration": 5}));
        assert!(
            e.message.contains("unknown field `iteration`"),
            "{}",
            e.message
        );

        let e = err(json!({"workload": "pbkdf2", "iterations": 0}));
        assert!(
            e.message.contains("`iterations` = 0") && e.message.contains("1..="),
            "{}",
            e.message
        );

        let e = err(json!({"workload": "pbkdf2", "iterations": -5}));
        assert_eq!(
            e.message,
            "pbkdf2: `iterations`: invalid value: integer `-5`, expected u32"
        );

        let e = err(json!({"workload": "pbkdf2", "hash": "md5"}));
        assert!(e.message.contains("sha256"), "{}", e.message);

        let e = err(json!({"workload": "pbkdf2", "threads": []}));
        assert!(e.message.contains("`threads`"), "{}", e.message);

        let e = err(json!({"workload": "pbkdf2", "threads": [0]}));
        assert!(e.message.contains("threads[]"), "{}", e.message);

        let e = err(json!({"workload": "env", "extra": 1}));
        assert!(e.message.contains("unknown field"), "{}", e.message);

        let e = err(json!([1, 2]));
        assert!(e.message.contains("JSON object"), "{}", e.message);

        let e = err(json!({"workload": 5}));
        assert!(e.message.contains("must be a string"), "{}", e.message);
    }

    // ---- memory workloads

    #[test]
    fn alloc_defaults_follow_the_2020_experiment() {
        let r = parse(json!({"workload": "alloc"}), HOST).unwrap();
        assert_eq!(
            r,
            Request::Alloc(AllocParams {
                buffers: 100,
                buffer_bytes: 1 << 20,
                passes: 2,
                mode: AllocMode::Reuse,
            })
        );
        assert_eq!(r.params_json()["mode"], "reuse");
        let r = parse(
            json!({"workload": "alloc", "mode": "mmap", "passes": 3}),
            HOST,
        )
        .unwrap();
        assert_eq!(r.params_json()["mode"], "mmap");
        assert_eq!(r.params_json()["passes"], 3);
        assert_eq!(r.workload(), "alloc");
    }

    #[test]
    fn memset_defaults_and_modes() {
        let r = parse(json!({"workload": "memset"}), HOST).unwrap();
        assert_eq!(
            r,
            Request::Memset(MemsetParams {
                bytes: 64 << 20,
                repeats: 20,
                first_touch: false,
            })
        );
        let r = parse(json!({"workload": "memset", "first_touch": true}), HOST).unwrap();
        assert_eq!(r.params_json()["first_touch"], true);
        assert_eq!(r.workload(), "memset");
    }

    #[test]
    fn bad_memory_events_name_what_to_fix() {
        for (event, needle) in [
            (json!({"workload": "alloc", "buffers": 0}), "`buffers` = 0"),
            (
                json!({"workload": "alloc", "buffer_bytes": 100}),
                "`buffer_bytes` = 100",
            ),
            (
                json!({"workload": "alloc", "buffer_bytes": -1}),
                "buffer_bytes",
            ),
            (json!({"workload": "alloc", "passes": 11}), "1..=10"),
            (json!({"workload": "alloc", "mode": "lazy"}), "reuse"),
            (
                json!({"workload": "alloc", "buffers": 10000, "passes": 10}),
                "`buffers` ≤ 2000",
            ),
            (
                json!({"workload": "alloc", "buffer": 1}),
                "unknown field `buffer`",
            ),
            (json!({"workload": "memset", "bytes": 1}), "`bytes` = 1"),
            (
                json!({"workload": "memset", "bytes": 1u64 << 40}),
                "4096..=",
            ),
            (json!({"workload": "memset", "repeats": 0}), "`repeats`"),
            (
                json!({"workload": "memset", "first_touch": "yes"}),
                "first_touch",
            ),
        ] {
            let e = err(event.clone());
            assert_eq!(e.error_type, ErrorType::InvalidPayload, "{event}");
            assert!(e.message.contains(needle), "{event}: {}", e.message);
        }
    }

    #[test]
    fn io_defaults_follow_the_2019_experiment() {
        let r = parse(json!({"workload": "io"}), HOST).unwrap();
        assert_eq!(
            r,
            Request::Io(IoParams {
                items: 100,
                concurrency: vec![1, 10],
                item_bytes: 256,
            })
        );
        assert_eq!(r.workload(), "io");
        assert_eq!(
            r.params_json(),
            json!({"items": 100, "concurrency": [1, 10], "item_bytes": 256})
        );
    }

    #[test]
    fn io_limits_name_the_field_and_the_range() {
        for (event, needle) in [
            (json!({"workload": "io", "items": 0}), "`items` = 0"),
            (json!({"workload": "io", "items": 1001}), "1..=1000"),
            (
                json!({"workload": "io", "concurrency": []}),
                "`concurrency`",
            ),
            (
                json!({"workload": "io", "concurrency": [1, 2, 3, 4, 5, 6, 7, 8, 9]}),
                "1..=8",
            ),
            (
                json!({"workload": "io", "concurrency": [1, 0]}),
                "concurrency[]",
            ),
            (json!({"workload": "io", "concurrency": [65]}), "1..=64"),
            (json!({"workload": "io", "item_bytes": 0}), "item_bytes"),
            (json!({"workload": "io", "item_bytes": 400_001}), "400000"),
            (
                json!({"workload": "io", "table": "other"}),
                "unknown field `table`",
            ),
            (
                json!({"workload": "io", "endpoint": "http://x"}),
                "unknown field",
            ),
            (json!({"workload": "io", "items": "many"}), "items"),
        ] {
            let e = err(event.clone());
            assert_eq!(e.error_type, ErrorType::InvalidPayload, "{event}");
            assert!(e.message.contains(needle), "{event}: {}", e.message);
        }
    }

    #[test]
    fn io_bytes_in_flight_are_budgeted() {
        // The largest item alone, and the widest concurrency with small items, both fit.
        let big = json!({"workload": "io", "concurrency": [1, 20], "item_bytes": MAX_ITEM_BYTES});
        assert!(parse(big, HOST).is_ok());
        let wide = json!({"workload": "io", "concurrency": [MAX_CONCURRENCY], "item_bytes": 1024});
        assert!(parse(wide, HOST).is_ok());
        let e = err(json!({"workload": "io", "concurrency": [1, 64], "item_bytes": 400_000}));
        assert_eq!(e.error_type, ErrorType::OverBudget);
        assert!(
            e.message.contains("concurrency 64") && e.message.contains("item_bytes 400000"),
            "{}",
            e.message
        );
    }
}
