//! Reading results: responses, `emulate` lines and CloudWatch Logs exports, into rows.
//! Whatever cannot be read is kept as a `Skipped` entry with its reason, never dropped.

use serde_json::{Map, Value};

/// Where a row's numbers were measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Real Lambda, `run`, or the emulator without cgroups: no CPU share was applied here.
    Real,
    /// `emulate` with cgroup limits applied.
    Emulated,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Real => "real",
            Source::Emulated => "emulated",
        }
    }
}

/// One successful run.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// File (and line or event) it came from.
    pub origin: String,
    pub workload: String,
    pub memory_mb: u32,
    /// Lambda's spelling: arm64 or x86_64.
    pub arch: String,
    pub source: Source,
    /// The probe's response object.
    pub response: Value,
}

/// A run that did not produce a response (an `emulate` failure, a function error).
#[derive(Clone, Debug, PartialEq)]
pub struct Failed {
    pub origin: String,
    pub memory_mb: Option<u32>,
    pub reason: String,
}

/// Input (or part of one) that could not be read.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    pub origin: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inputs {
    pub rows: Vec<Row>,
    pub failed: Vec<Failed>,
    pub skipped: Vec<Skipped>,
    /// Log events that are not full-result lines (EMF records, START/REPORT lines): counted.
    pub other_log_events: usize,
}

/// Read every file; unreadable files are listed in `skipped`.
pub fn read_all(paths: &[String]) -> Inputs {
    let mut out = Inputs::default();
    for path in paths {
        match std::fs::read_to_string(path) {
            Ok(text) => read_text(path, &text, &mut out),
            Err(e) => out.skipped.push(Skipped {
                origin: path.clone(),
                reason: format!("cannot read the file: {e}"),
            }),
        }
    }
    out
}

/// One input's text: a single JSON document (response, CloudWatch export), or JSON lines.
pub fn read_text(name: &str, text: &str, out: &mut Inputs) {
    if text.trim().is_empty() {
        out.skipped.push(Skipped {
            origin: name.into(),
            reason: "the file is empty".into(),
        });
        return;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(doc) => read_document(name, doc, out),
        Err(whole_err) => {
            let lines: Vec<(usize, &str)> = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .collect();
            if lines.len() < 2 {
                out.skipped.push(Skipped {
                    origin: name.into(),
                    reason: format!("not JSON: {whole_err}"),
                });
                return;
            }
            for (i, line) in lines {
                let origin = format!("{name}:{}", i + 1);
                match serde_json::from_str::<Value>(line) {
                    Ok(v) => read_object(&origin, v, out),
                    Err(e) => out.skipped.push(Skipped {
                        origin,
                        reason: format!("not JSON: {e}"),
                    }),
                }
            }
        }
    }
}

fn read_document(name: &str, doc: Value, out: &mut Inputs) {
    // `aws logs filter-log-events --output json`
    if let Some(events) = doc.get("events").and_then(Value::as_array) {
        for (i, e) in events.iter().enumerate() {
            let origin = format!("{name}: event {}", i + 1);
            match e.get("message").and_then(Value::as_str) {
                Some(m) => read_log_message(&origin, m, out),
                None => out.skipped.push(Skipped {
                    origin,
                    reason: "log event without a \"message\" string".into(),
                }),
            }
        }
        return;
    }
    // `aws logs get-query-results` wraps the rows in "results"; the console export is the rows.
    let insights = match &doc {
        Value::Object(o) if o.contains_key("results") => o.get("results").and_then(Value::as_array),
        Value::Array(a) if a.iter().all(Value::is_array) && !a.is_empty() => Some(a),
        _ => None,
    };
    if let Some(results) = insights {
        for (i, fields) in results.iter().enumerate() {
            let origin = format!("{name}: result {}", i + 1);
            let message = fields.as_array().and_then(|fs| {
                fs.iter()
                    .find(|f| f.get("field").and_then(Value::as_str) == Some("@message"))
                    .and_then(|f| f.get("value"))
                    .and_then(Value::as_str)
            });
            match message {
                Some(m) => read_log_message(&origin, m, out),
                None => out.skipped.push(Skipped {
                    origin,
                    reason: "query result row without an @message field (add `fields @message` to the query)".into(),
                }),
            }
        }
        return;
    }
    read_object(name, doc, out)
}

/// One CloudWatch log message: a full-result line is a row; other probe lines are counted.
fn read_log_message(origin: &str, message: &str, out: &mut Inputs) {
    let parsed: Option<Value> = serde_json::from_str(message.trim()).ok();
    let Some(Value::Object(line)) = parsed else {
        out.other_log_events += 1;
        return;
    };
    match line.get("type").and_then(Value::as_str) {
        Some("lambda-probe.result") => {
            if let Some(response) = line.get("response") {
                let origin = match line.get("request_id").and_then(Value::as_str) {
                    Some(id) => format!("{origin} (request {id})"),
                    None => origin.to_string(),
                };
                read_object(&origin, response.clone(), out);
            } else {
                let why = line
                    .get("omitted")
                    .and_then(Value::as_str)
                    .unwrap_or("the line has no \"response\"");
                out.skipped.push(Skipped {
                    origin: origin.into(),
                    reason: format!("full result not logged: {why}"),
                });
            }
        }
        _ => out.other_log_events += 1,
    }
}

/// A response, an error, or an `emulate` line.
fn read_object(origin: &str, v: Value, out: &mut Inputs) {
    let Value::Object(o) = v else {
        out.skipped.push(Skipped {
            origin: origin.into(),
            reason: "not a JSON object".into(),
        });
        return;
    };
    let emulated = o.get("emulated");
    let emulated_mb = emulated
        .and_then(|e| e.get("memory_mb"))
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok());
    let run_mb = o
        .get("emulate_run")
        .and_then(|r| r.get("memory_mb"))
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok());
    if let Some(status) = o
        .get("emulate_run")
        .and_then(|r| r.get("status"))
        .and_then(Value::as_str)
    {
        if status != "ok" {
            let run = &o["emulate_run"];
            let detail = run
                .get("detail")
                .and_then(Value::as_str)
                .unwrap_or("no detail");
            let reason = run.get("reason").and_then(Value::as_str).unwrap_or(status);
            out.failed.push(Failed {
                origin: origin.into(),
                memory_mb: emulated_mb.or(run_mb),
                reason: format!("{status} ({reason}): {detail}"),
            });
            return;
        }
    }
    if let Some(t) = o.get("errorType").and_then(Value::as_str) {
        let msg = o.get("errorMessage").and_then(Value::as_str).unwrap_or("");
        out.failed.push(Failed {
            origin: origin.into(),
            memory_mb: emulated_mb.or(run_mb),
            reason: format!("{t}: {msg}"),
        });
        return;
    }
    match row(origin, &o, emulated_mb) {
        Ok(r) => out.rows.push(r),
        Err(reason) => out.skipped.push(Skipped {
            origin: origin.into(),
            reason,
        }),
    }
}

fn row(origin: &str, o: &Map<String, Value>, emulated_mb: Option<u32>) -> Result<Row, String> {
    let workload = o
        .get("workload")
        .and_then(Value::as_str)
        .ok_or("no \"workload\": not a lambda-probe response")?;
    let env = o
        .get("environment")
        .ok_or("no \"environment\": not a lambda-probe response")?;
    if o.get("summary").and_then(|s| s.get("wall_ms")).is_none() {
        return Err("no \"summary.wall_ms\": not a lambda-probe response".into());
    }
    let memory_mb = env
        .get("memory_mb")
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok())
        .or(emulated_mb)
        .ok_or("memory size unknown: neither environment.memory_mb nor emulated.memory_mb (run with AWS_LAMBDA_FUNCTION_MEMORY_SIZE set)")?;
    let arch = env
        .get("arch")
        .and_then(Value::as_str)
        .ok_or("no environment.arch")?;
    let arch = lambda_probe_arch(arch).to_string();
    let source = match o.get("emulated") {
        Some(Value::Object(_)) => Source::Emulated,
        _ => Source::Real,
    };
    Ok(Row {
        origin: origin.into(),
        workload: workload.into(),
        memory_mb,
        arch,
        source,
        response: Value::Object(o.clone()),
    })
}

/// Lambda's name for the architecture.
pub fn lambda_probe_arch(arch: &str) -> &str {
    match arch {
        "aarch64" => "arm64",
        other => other,
    }
}
