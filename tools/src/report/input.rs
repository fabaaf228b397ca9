//! Reading results: responses, `emulate` lines and CloudWatch Logs exports, into typed rows.
//! Every answer is read with the probe's own types (`lambda_probe::response::Answer`); whatever
//! cannot be read is kept as a `Skipped` entry with its reason, never dropped.

use super::account::{Collected, LogContext, ProbeLine, Seen};
use super::report_line;
use crate::emulate::{Emulated, RunInfo, Status};
use lambda_probe::lambda_model::Arch;
use lambda_probe::response::{Answer, Response};
use serde::Deserialize;
use serde_json::Value;

/// Where a row's numbers were measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// A Lambda function (its response names the function, or it came from its CloudWatch
    /// logs); the Runtime API emulator names a function too, and runs unthrottled.
    Real,
    /// This machine without Lambda's limits: `lambda-probe run` (no function name) or `emulate
    /// --unthrottled`. Its memory size is the one it was told, its CPU whatever the host gave.
    Local,
    /// `emulate` with cgroup limits applied.
    Emulated,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Real => "real",
            Source::Local => "local",
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
    /// Log events that are neither full-result lines nor REPORT lines (EMF records, START/END
    /// lines): counted.
    pub other_log_events: usize,
    /// Lambda's REPORT lines, and what the probe's result lines say about their requests.
    pub account: Collected,
    /// Runs read more than once (the very same response in two inputs, e.g. `make invoke`'s
    /// response and its log tail): counted once.
    pub duplicate_runs: usize,
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
    // The same response twice is the same run (`make invoke`'s saved response and its log
    // tail): keep the first, as Lambda's run when either copy says it ran there.
    let mut first: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut kept: Vec<Row> = Vec::with_capacity(out.rows.len());
    for r in std::mem::take(&mut out.rows) {
        match first.entry(serde_json::to_string(&r.response).unwrap_or_default()) {
            std::collections::hash_map::Entry::Occupied(at) => {
                out.duplicate_runs += 1;
                if r.source == Source::Real {
                    kept[*at.get()].source = Source::Real;
                }
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(kept.len());
                kept.push(r);
            }
        }
    }
    out.rows = kept;
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
        Err(_) if text.lines().any(|l| report_line::parse_text(l).is_some()) => {
            read_log_text(name, text, out)
        }
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
                    Ok(v) => read_object(&origin, v, ReadFrom::File, out),
                    Err(e) => out.skipped.push(Skipped {
                        origin,
                        reason: format!("not JSON: {e}"),
                    }),
                }
            }
        }
    }
}

/// A log as text (a decoded `LogResult`, a saved log): one message per line, X-Ray's line
/// joined to the REPORT line it belongs to.
fn read_log_text(name: &str, text: &str, out: &mut Inputs) {
    let mut messages: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match messages.last_mut() {
            Some((_, last)) if line.starts_with("XRAY ") && last.starts_with("REPORT") => {
                last.push('\n');
                last.push_str(line);
            }
            _ if line.trim().is_empty() => {}
            _ => messages.push((i, line.to_string())),
        }
    }
    let ctx = LogContext::file(name);
    for (i, m) in messages {
        read_log_message(&format!("{name}:{}", i + 1), &m, &ctx, out);
    }
}

/// `aws logs filter-log-events --output json`, and what `make fetch-logs` and `make invoke` add
/// to it: the log group, and the architecture and workload when they know them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEvents {
    events: Vec<LogEvent>,
    log_group_name: Option<String>,
    architecture: Option<String>,
    workload: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEvent {
    message: Option<String>,
    log_stream_name: Option<String>,
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
                let arch = events.architecture.as_deref().and_then(|a| {
                    let arch = Arch::parse(a);
                    if arch.is_none() {
                        out.skipped.push(Skipped {
                            origin: name.into(),
                            reason: format!("architecture {a:?} is not one Lambda runs (arm64, x86_64): its REPORT lines are read without it"),
                        });
                    }
                    arch
                });
                let file = LogContext {
                    file: name.into(),
                    group: events.log_group_name,
                    stream: None,
                    arch,
                    workload: events.workload,
                };
                for (i, e) in events.events.into_iter().enumerate() {
                    let origin = format!("{name}: event {}", i + 1);
                    let ctx = LogContext {
                        stream: e.log_stream_name,
                        ..file.clone()
                    };
                    match e.message {
                        Some(m) => read_log_message(&origin, &m, &ctx, out),
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
            let field = |name: &str| {
                fields
                    .iter()
                    .find(|f| f.field == name)
                    .and_then(|f| f.value.clone())
            };
            // @log is "<account>:<log group>"; a log group name has no colon.
            let ctx = LogContext {
                file: name.into(),
                group: field("@log").map(|l| l.rsplit(':').next().unwrap_or(&l).to_string()),
                stream: field("@logStream"),
                arch: None,
                workload: None,
            };
            match field("@message") {
                Some(m) => read_log_message(&origin, &m, &ctx, out),
                None => out.skipped.push(Skipped {
                    origin,
                    reason: "query result row without an @message field (add `fields @message` to the query)".into(),
                }),
            }
        }
        return;
    }
    read_object(name, doc, ReadFrom::File, out)
}

/// One CloudWatch log message: a full-result line is a row, a REPORT line a line of Lambda's
/// own account; other lines are counted.
fn read_log_message(origin: &str, message: &str, ctx: &LogContext, out: &mut Inputs) {
    match report_line::parse(message) {
        Some(Ok(line)) => {
            out.account.reports.push(Seen {
                origin: origin.into(),
                context: ctx.clone(),
                line,
            });
            return;
        }
        Some(Err(reason)) => {
            out.skipped.push(Skipped {
                origin: origin.into(),
                reason: format!("a REPORT line that cannot be read: {reason}"),
            });
            return;
        }
        None => {}
    }
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
        Some(response) => {
            let before = out.rows.len();
            read_object(&origin, response, ReadFrom::LambdaLogs, out);
            if let Some(row) = out.rows.get(before) {
                out.account.probe_lines.push(ProbeLine {
                    request_id: line.request_id.clone(),
                    context: ctx.clone(),
                    arch: row.arch,
                    workload: row.workload().to_string(),
                });
            }
        }
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

/// Where an answer was read: a file of responses or emulate lines, or a Lambda function's
/// CloudWatch logs (which only a function in Lambda writes).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadFrom {
    File,
    LambdaLogs,
}

/// A response, an error, or an `emulate` line.
fn read_object(origin: &str, v: Value, from: ReadFrom, out: &mut Inputs) {
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
        Ok(Answer::Response(r)) => match row(origin, *r, attached.emulated, emulated_mb, from) {
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
    from: ReadFrom,
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
        } else if from == ReadFrom::LambdaLogs || response.environment.function_name.is_some() {
            Source::Real
        } else {
            Source::Local
        },
        response,
        emulated,
    })
}
