//! Reading results: responses, `emulate` lines and CloudWatch Logs exports, into typed rows.
//! Every answer is read with the probe's own types (`lambda_probe::response::Answer`); whatever
//! cannot be read is kept as a `Skipped` entry with its reason, never dropped.

use crate::emulate::{Emulated, RunInfo, Status};
use lambda_probe::lambda_model::Arch;
use lambda_probe::response::{Answer, Response};
use serde::Deserialize;
use serde_json::Value;

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
    pub memory_mb: u32,
    pub arch: Arch,
    pub source: Source,
    pub response: Response,
    /// The limits `emulate` applied (emulated rows only).
    pub emulated: Option<Emulated>,
}

impl Row {
    pub fn workload(&self) -> &'static str {
        self.response.workload()
    }
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

/// `aws logs filter-log-events --output json`.
#[derive(Deserialize)]
struct LogEvents {
    events: Vec<LogEvent>,
}

#[derive(Deserialize)]
struct LogEvent {
    message: Option<String>,
}

/// One Logs Insights result row: its fields.
#[derive(Deserialize)]
struct InsightsField {
    field: String,
    value: Option<String>,
}

/// `aws logs get-query-results` wraps the rows in `results`; the console export is the rows.
#[derive(Deserialize)]
#[serde(untagged)]
enum Insights {
    Wrapped { results: Vec<Vec<InsightsField>> },
    Rows(Vec<Vec<InsightsField>>),
}

/// The probe's full-result log line (telemetry.rs).
#[derive(Deserialize)]
struct ResultLine {
    #[serde(rename = "type")]
    kind: Option<String>,
    request_id: Option<String>,
    response: Option<Value>,
    omitted: Option<String>,
}

fn read_document(name: &str, doc: Value, out: &mut Inputs) {
    if doc.get("events").is_some() {
        match LogEvents::deserialize(&doc) {
            Ok(events) => {
                for (i, e) in events.events.into_iter().enumerate() {
                    let origin = format!("{name}: event {}", i + 1);
                    match e.message {
                        Some(m) => read_log_message(&origin, &m, out),
                        None => out.skipped.push(Skipped {
                            origin,
                            reason: "log event without a \"message\" string".into(),
                        }),
                    }
                }
            }
            Err(e) => out.skipped.push(Skipped {
                origin: name.into(),
                reason: format!("not a filter-log-events export: {e}"),
            }),
        }
        return;
    }
    let rows = match Insights::deserialize(&doc) {
        Ok(Insights::Wrapped { results }) => Some(results),
        Ok(Insights::Rows(rows)) if !rows.is_empty() => Some(rows),
        _ => None,
    };
    if let Some(rows) = rows {
        for (i, fields) in rows.into_iter().enumerate() {
            let origin = format!("{name}: result {}", i + 1);
            let message = fields
                .into_iter()
                .find(|f| f.field == "@message")
                .and_then(|f| f.value);
            match message {
                Some(m) => read_log_message(&origin, &m, out),
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

/// One CloudWatch log message: a full-result line is a row; other lines are counted.
fn read_log_message(origin: &str, message: &str, out: &mut Inputs) {
    let line: Option<ResultLine> = serde_json::from_str(message.trim()).ok();
    let Some(line) =
        line.filter(|l| l.kind.as_deref() == Some(lambda_probe::telemetry::RESULT_TYPE))
    else {
        out.other_log_events += 1;
        return;
    };
    let origin = match &line.request_id {
        Some(id) => format!("{origin} (request {id})"),
        None => origin.to_string(),
    };
    match line.response {
        Some(response) => read_object(&origin, response, out),
        None => out.skipped.push(Skipped {
            origin,
            reason: format!(
                "full result not logged: {}",
                line.omitted
                    .as_deref()
                    .unwrap_or("the line has no \"response\"")
            ),
        }),
    }
}

/// What `emulate` attaches to an answer, when it is an emulate line.
#[derive(Deserialize)]
struct MaybeEmulated {
    #[serde(default)]
    emulated: Option<Emulated>,
    #[serde(default)]
    emulate_run: Option<RunInfo>,
}

/// A response, an error, or an `emulate` line.
fn read_object(origin: &str, v: Value, out: &mut Inputs) {
    if !v.is_object() {
        out.skipped.push(Skipped {
            origin: origin.into(),
            reason: "not a JSON object".into(),
        });
        return;
    }
    let attached = match MaybeEmulated::deserialize(&v) {
        Ok(a) => a,
        Err(e) => {
            out.skipped.push(Skipped {
                origin: origin.into(),
                reason: format!(
                    "an emulate line whose emulate_run or emulated cannot be read: {e}"
                ),
            });
            return;
        }
    };
    let emulated_mb = attached
        .emulated
        .as_ref()
        .map(|e| e.memory_mb)
        .or(attached.emulate_run.as_ref().map(|r| r.memory_mb));
    if let Some(run) = &attached.emulate_run {
        if run.status == Status::Failed {
            out.failed.push(Failed {
                origin: origin.into(),
                memory_mb: emulated_mb,
                reason: format!(
                    "failed ({}): {}",
                    run.reason
                        .map(|r| format!("{r:?}"))
                        .unwrap_or_else(|| "no reason".into()),
                    run.detail.as_deref().unwrap_or("no detail")
                ),
            });
            return;
        }
    }
    match Answer::from_value(v) {
        Ok(Answer::Error(e)) => out.failed.push(Failed {
            origin: origin.into(),
            memory_mb: emulated_mb,
            reason: format!("{}: {}", e.error_type, e.error_message),
        }),
        Ok(Answer::Response(r)) => match row(origin, *r, attached.emulated, emulated_mb) {
            Ok(r) => out.rows.push(r),
            Err(reason) => out.skipped.push(Skipped {
                origin: origin.into(),
                reason,
            }),
        },
        Err(reason) => out.skipped.push(Skipped {
            origin: origin.into(),
            reason,
        }),
    }
}

fn row(
    origin: &str,
    response: Response,
    emulated: Option<Emulated>,
    emulated_mb: Option<u32>,
) -> Result<Row, String> {
    let memory_mb = response
        .environment
        .memory_mb
        .or(emulated_mb)
        .ok_or("memory size unknown: neither environment.memory_mb nor emulated.memory_mb (run with AWS_LAMBDA_FUNCTION_MEMORY_SIZE set)")?;
    let arch = response.environment.lambda_arch().ok_or_else(|| {
        format!(
            "architecture {:?} is not one Lambda runs (arm64, x86_64)",
            response.environment.arch
        )
    })?;
    Ok(Row {
        origin: origin.into(),
        memory_mb,
        arch,
        source: if emulated.is_some() {
            Source::Emulated
        } else {
            Source::Real
        },
        response,
        emulated,
    })
}
