//! JSON Schemas of the event and of the response, generated from the types that parse and
//! produce them. docs/schema/ holds the committed copies; a test fails when they differ from
//! these (`make schema` writes them again).

use crate::response::Response;
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

/// The response: what `lambda-probe run` prints and the function returns.
pub fn response() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<Response>().to_value();
    schema["title"] = json!("lambda-probe response");
    schema
}

/// The event: the envelope (`workload`, `log_result`) and each workload's own fields, one
/// alternative per workload. `{}` is the env workload.
pub fn event() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let inputs = crate::workloads::input_schemas(&mut generator);
    let mut defs = Map::new();
    for (name, schema) in generator.take_definitions(true) {
        defs.insert(name, schema);
    }
    let alternatives: Vec<Value> = inputs
        .into_iter()
        .map(|(name, about, schema)| {
            // Inline the workload's own object so the envelope's two fields can join its
            // properties (its `additionalProperties: false` would refuse them otherwise).
            let mut object = resolve(schema.to_value(), &defs);
            let props = object
                .as_object_mut()
                .and_then(|o| o.entry("properties").or_insert(json!({})).as_object_mut());
            if let Some(props) = props {
                props.insert(
                    "workload".into(),
                    json!({"const": name, "description": about}),
                );
                props.insert(
                    "log_result".into(),
                    json!({"type": "boolean", "default": true,
                           "description": "Also log the full response as one line (default true)."}),
                );
            }
            if name != "env" {
                let required = object
                    .as_object_mut()
                    .map(|o| o.entry("required").or_insert(json!([])));
                if let Some(Value::Array(r)) = required {
                    r.insert(0, json!("workload"));
                }
            }
            object["title"] = json!(name);
            object
        })
        .collect();
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "lambda-probe event",
        "description": "The event: `workload` picks the workload (default env, so {} is valid); every other field has a default; unknown fields are refused.",
        "oneOf": alternatives,
    });
    if !defs.is_empty() {
        schema["$defs"] = Value::Object(defs);
    }
    schema
}

/// A `$ref` to one of `defs` replaced by the definition itself (one level: the workloads'
/// inputs are plain objects whose fields refer to shared definitions).
fn resolve(schema: Value, defs: &Map<String, Value>) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|name| defs.get(name))
            .cloned()
            .unwrap_or(schema),
        None => schema,
    }
}

/// The text committed in docs/schema/: pretty, with a final newline.
pub fn pretty(schema: &Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The committed schemas are the code's: `UPDATE_SCHEMA=1 cargo test --lib schema` (or
    /// `make schema`) writes them again after a deliberate change.
    #[test]
    fn committed_schemas_match_the_types() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
        for (file, schema) in [
            ("event.schema.json", event()),
            ("response.schema.json", response()),
        ] {
            let path = dir.join(file);
            let want = pretty(&schema);
            if std::env::var_os("UPDATE_SCHEMA").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &want).unwrap();
                continue;
            }
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                have == want,
                "{} differs from the types (or is missing): if the change is deliberate, run `make schema`, raise schema_version when a field changed meaning or went away, and list the change in README",
                path.display()
            );
        }
    }

    #[test]
    fn the_event_schema_has_every_workload_and_the_envelope() {
        let e = event();
        let alts = e["oneOf"].as_array().unwrap();
        let names: Vec<&str> = alts
            .iter()
            .map(|a| a["properties"]["workload"]["const"].as_str().unwrap())
            .collect();
        assert_eq!(names, crate::workloads::WORKLOADS);
        for a in alts {
            assert!(a["properties"]["log_result"].is_object(), "{a}");
        }
        let pbkdf2 = &alts[1];
        assert!(pbkdf2["properties"]["iterations"].is_object(), "{pbkdf2}");
        assert_eq!(pbkdf2["additionalProperties"], json!(false));
    }
}
