//! Lambda's REPORT line, typed: the platform's own account of one invocation.
//!
//! Lambda writes it after every invocation (Text log format, one log event; fields separated by
//! tabs, X-Ray's part on a second line of the same event when tracing is on):
//!
//! ```text
//! REPORT RequestId: <id>\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 1024 MB\tMax Memory Used: 45 MB\tInit Duration: 80.12 ms\t
//! XRAY TraceId: 1-5e34a614-10bdxmplf1fb44f07bc535a1\tSegmentId: 07f5xmpl2d1f6f85\tSampled: true
//! ```
//!
//! AWS's operator guide ("How CloudWatch structures logs") defines the fields: Duration, "the
//! total invocation time for the handler function, excluding INIT code"; Billed Duration,
//! "applies rounding logic for billing purposes"; Memory Size, "the amount of memory allocated to
//! the function"; Max Memory Used, the memory the execution environment used. Init Duration
//! appears on a cold start only. SnapStart functions have no Init Duration in REPORT but
//! `Restore Duration` and `Billed Restore Duration` on a restore (SnapStart monitoring guide).
//! Newer lines end with `Status: timeout` or `Status: error  Error Type: Runtime.OutOfMemory`
//! when the invocation did not succeed. The JSON log format writes the same figures as a
//! `platform.report` record (`record.metrics.durationMs`, `billedDurationMs`, `memorySizeMB`,
//! `maxMemoryUsedMB`, `initDurationMs`, `restoreDurationMs`, `billedRestoreDurationMs`).
//!
//! AWS Lambda Power Tuning reads the text with one regular expression per field
//! (`/\tDuration: (\d+\.\d+) ms/m`, `/\tBilled Duration: (\d+) ms/m`,
//! `/\tInit Duration: (\d+\.\d+) ms/m`, …) and takes 0 for a field it does not find. This reader
//! is lenient on spacing (tabs, spaces, a line break, a trailing tab, `Duration:12.34ms`) and
//! strict on numbers: a duration is digits with an optional fraction, a billed duration and a
//! memory size whole digits, in the unit Lambda writes (`ms`, `MB`); anything else, a field
//! written twice, or a missing Duration, Billed Duration, Memory Size or Max Memory Used makes
//! the line unreadable, with a reason, never a 0. Fields it does not know (a newer platform may
//! add some) are kept as written.

use serde::Deserialize;
use serde_json::Value;

/// One REPORT line.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportLine {
    pub request_id: String,
    pub duration_ms: f64,
    pub billed_duration_ms: u64,
    /// The configured memory size.
    pub memory_size_mb: u32,
    pub max_memory_used_mb: u32,
    /// Cold starts only.
    pub init_duration_ms: Option<f64>,
    /// SnapStart restores only.
    pub restore_duration_ms: Option<f64>,
    pub billed_restore_duration_ms: Option<u64>,
    /// `timeout`, `error`, … (absent on success in the Text format).
    pub status: Option<String>,
    pub error_type: Option<String>,
    pub xray: Option<Xray>,
    /// Fields this reader does not know, as written.
    pub unknown: Vec<String>,
}

/// X-Ray's part of a REPORT line, when tracing is on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Xray {
    pub trace_id: Option<String>,
    pub segment_id: Option<String>,
    pub sampled: Option<bool>,
}

impl ReportLine {
    pub fn cold_start(&self) -> bool {
        self.init_duration_ms.is_some() || self.restore_duration_ms.is_some()
    }
}

/// A log message as Lambda's REPORT: `None` when it is not one (any other line), an error when
/// it is one that cannot be read.
pub fn parse(message: &str) -> Option<Result<ReportLine, String>> {
    let m = message.trim_start();
    if m.starts_with('{') {
        return parse_json(m);
    }
    parse_text(m)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Field {
    RequestId,
    Duration,
    Billed,
    MemorySize,
    MaxUsed,
    Init,
    Restore,
    BilledRestore,
    Status,
    ErrorType,
    TraceId,
    SegmentId,
    Sampled,
}

/// How a field's value is written.
#[derive(Clone, Copy)]
enum Written {
    Text,
    /// Digits with an optional fraction, then `ms`.
    Ms,
    /// Whole digits, then `ms`.
    WholeMs,
    /// Whole digits, then `MB`.
    Mb,
    Bool,
}

/// Every field, its label's words (the last ends with `:`) and how its value is written; the
/// longest labels first, so `Billed Restore Duration:` is never read as `Duration:`.
const FIELDS: [(&[&str], Field, Written); 13] = [
    (
        &["Billed", "Restore", "Duration:"],
        Field::BilledRestore,
        Written::WholeMs,
    ),
    (&["Max", "Memory", "Used:"], Field::MaxUsed, Written::Mb),
    (&["Billed", "Duration:"], Field::Billed, Written::WholeMs),
    (&["Memory", "Size:"], Field::MemorySize, Written::Mb),
    (&["Init", "Duration:"], Field::Init, Written::Ms),
    (&["Restore", "Duration:"], Field::Restore, Written::Ms),
    (&["Error", "Type:"], Field::ErrorType, Written::Text),
    (&["XRAY", "TraceId:"], Field::TraceId, Written::Text),
    (&["RequestId:"], Field::RequestId, Written::Text),
    (&["Duration:"], Field::Duration, Written::Ms),
    (&["Status:"], Field::Status, Written::Text),
    (&["SegmentId:"], Field::SegmentId, Written::Text),
    (&["Sampled:"], Field::Sampled, Written::Bool),
];

fn label(words: &[&str]) -> String {
    words.join(" ").trim_end_matches(':').to_string()
}

/// Whitespace-separated words, a word glued to its label (`Duration:12.34`) split after the
/// colon.
fn words(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for w in s.split_whitespace() {
        match w.find(':') {
            Some(i) if i + 1 < w.len() => {
                out.push(&w[..=i]);
                out.push(&w[i + 1..]);
            }
            _ => out.push(w),
        }
    }
    out
}

/// Digits with an optional fraction (`12`, `12.34`): no sign, exponent, separator or
/// `NaN`.
fn decimal(s: &str) -> Option<f64> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    s.parse().ok()
}

fn whole(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A number and its unit, apart (`12.34 ms`) or glued (`12.34ms`): the number's text and the
/// words used.
fn with_unit<'a>(ws: &[&'a str], unit: &str) -> Result<(&'a str, usize), String> {
    let first = *ws.first().ok_or("no value")?;
    if let Some(n) = first.strip_suffix(unit).filter(|n| !n.is_empty()) {
        return Ok((n, 1));
    }
    match ws.get(1) {
        Some(u) if *u == unit => Ok((first, 2)),
        Some(u) => Err(format!("{first:?} {u:?}: the unit must be {unit}")),
        None => Err(format!("{first:?} without its unit ({unit})")),
    }
}

/// What one field's value was read as.
enum Read {
    Text(String),
    Float(f64),
    Whole(u64),
    Bool(bool),
}

fn read_value(how: Written, ws: &[&str]) -> Result<(Read, usize), String> {
    match how {
        Written::Text => ws
            .first()
            .map(|w| (Read::Text(w.to_string()), 1))
            .ok_or_else(|| "no value".to_string()),
        Written::Bool => match ws.first() {
            Some(&"true") => Ok((Read::Bool(true), 1)),
            Some(&"false") => Ok((Read::Bool(false), 1)),
            Some(w) => Err(format!("{w:?} is not true or false")),
            None => Err("no value".into()),
        },
        Written::Ms => {
            let (n, used) = with_unit(ws, "ms")?;
            let v = decimal(n)
                .ok_or_else(|| format!("{n:?} is not a duration (digits, optional fraction)"))?;
            Ok((Read::Float(v), used))
        }
        Written::WholeMs | Written::Mb => {
            let unit = if matches!(how, Written::Mb) {
                "MB"
            } else {
                "ms"
            };
            let (n, used) = with_unit(ws, unit)?;
            let v = whole(n).ok_or_else(|| format!("{n:?} is not a whole number"))?;
            Ok((Read::Whole(v), used))
        }
    }
}

/// A Text-format REPORT line (`REPORT RequestId: …`).
pub fn parse_text(line: &str) -> Option<Result<ReportLine, String>> {
    let rest = line.trim_start().strip_prefix("REPORT")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let ws = words(rest);
    if ws.first() != Some(&"RequestId:") {
        return None;
    }
    Some(read_fields(&ws))
}

fn read_fields(ws: &[&str]) -> Result<ReportLine, String> {
    let mut seen: Vec<(Field, Read)> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < ws.len() {
        let Some((names, field, how)) = FIELDS.iter().find(|(w, _, _)| ws[i..].starts_with(w))
        else {
            pending.push(ws[i]);
            i += 1;
            continue;
        };
        if !pending.is_empty() {
            unknown.push(std::mem::take(&mut pending).join(" "));
        }
        i += names.len();
        let (value, used) =
            read_value(*how, &ws[i..]).map_err(|e| format!("{}: {e}", label(names)))?;
        if seen.iter().any(|(f, _)| f == field) {
            return Err(format!("{} appears twice", label(names)));
        }
        seen.push((*field, value));
        i += used;
    }
    if !pending.is_empty() {
        unknown.push(pending.join(" "));
    }
    let take = |f: Field| seen.iter().position(|(s, _)| *s == f).map(|i| &seen[i].1);
    let text = |f| match take(f) {
        Some(Read::Text(t)) => Some(t.clone()),
        _ => None,
    };
    let float = |f| match take(f) {
        Some(Read::Float(v)) => Some(*v),
        _ => None,
    };
    let whole = |f| match take(f) {
        Some(Read::Whole(v)) => Some(*v),
        _ => None,
    };
    let mb = |f: Field, name: &str| -> Result<Option<u32>, String> {
        whole(f)
            .map(|v| u32::try_from(v).map_err(|_| format!("{name}: {v} MB is out of range")))
            .transpose()
    };
    let need = |name: &str| format!("no {name}");
    let xray = Xray {
        trace_id: text(Field::TraceId),
        segment_id: text(Field::SegmentId),
        sampled: match take(Field::Sampled) {
            Some(Read::Bool(b)) => Some(*b),
            _ => None,
        },
    };
    Ok(ReportLine {
        request_id: text(Field::RequestId).ok_or_else(|| need("RequestId"))?,
        duration_ms: float(Field::Duration).ok_or_else(|| need("Duration"))?,
        billed_duration_ms: whole(Field::Billed).ok_or_else(|| need("Billed Duration"))?,
        memory_size_mb: mb(Field::MemorySize, "Memory Size")?.ok_or_else(|| need("Memory Size"))?,
        max_memory_used_mb: mb(Field::MaxUsed, "Max Memory Used")?
            .ok_or_else(|| need("Max Memory Used"))?,
        init_duration_ms: float(Field::Init),
        restore_duration_ms: float(Field::Restore),
        billed_restore_duration_ms: whole(Field::BilledRestore),
        status: text(Field::Status),
        error_type: text(Field::ErrorType),
        xray: (xray != Xray::default()).then_some(xray),
        unknown,
    })
}

/// The JSON log format's `platform.report` record.
#[derive(Deserialize)]
struct JsonReport {
    #[serde(rename = "type")]
    kind: String,
    record: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRecord {
    request_id: String,
    metrics: JsonMetrics,
    status: Option<String>,
    error_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonMetrics {
    duration_ms: f64,
    billed_duration_ms: f64,
    #[serde(rename = "memorySizeMB")]
    memory_size_mb: f64,
    #[serde(rename = "maxMemoryUsedMB")]
    max_memory_used_mb: f64,
    init_duration_ms: Option<f64>,
    restore_duration_ms: Option<f64>,
    billed_restore_duration_ms: Option<f64>,
}

/// A `platform.report` record (JSON log format): `None` for any other JSON.
pub fn parse_json(message: &str) -> Option<Result<ReportLine, String>> {
    let r: JsonReport = serde_json::from_str(message).ok()?;
    if r.kind != "platform.report" {
        return None;
    }
    let record = r
        .record
        .ok_or("platform.report without a record".to_string());
    Some(record.and_then(|v| {
        let rec: JsonRecord =
            serde_json::from_value(v).map_err(|e| format!("platform.report record: {e}"))?;
        let m = rec.metrics;
        let whole = |v: f64, name: &str| -> Result<u64, String> {
            if v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64 * 1000.0 {
                Ok(v as u64)
            } else {
                Err(format!("{name} {v} is not a whole non-negative number"))
            }
        };
        let duration = |v: f64, name: &str| -> Result<f64, String> {
            if v >= 0.0 && v.is_finite() {
                Ok(v)
            } else {
                Err(format!("{name} {v} is not a duration"))
            }
        };
        let mb = |v: f64, name: &str| -> Result<u32, String> {
            let w = whole(v, name)?;
            u32::try_from(w).map_err(|_| format!("{name} {v} is out of range"))
        };
        Ok(ReportLine {
            request_id: rec.request_id,
            duration_ms: duration(m.duration_ms, "durationMs")?,
            billed_duration_ms: whole(m.billed_duration_ms, "billedDurationMs")?,
            memory_size_mb: mb(m.memory_size_mb, "memorySizeMB")?,
            max_memory_used_mb: mb(m.max_memory_used_mb, "maxMemoryUsedMB")?,
            init_duration_ms: m
                .init_duration_ms
                .map(|v| duration(v, "initDurationMs"))
                .transpose()?,
            restore_duration_ms: m
                .restore_duration_ms
                .map(|v| duration(v, "restoreDurationMs"))
                .transpose()?,
            billed_restore_duration_ms: m
                .billed_restore_duration_ms
                .map(|v| whole(v, "billedRestoreDurationMs"))
                .transpose()?,
            // The JSON format says "success" where the Text format says nothing.
            status: rec.status.filter(|s| s != "success"),
            error_type: rec.error_type,
            xray: None,
            unknown: vec![],
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> ReportLine {
        match parse(line) {
            Some(Ok(r)) => r,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn err(line: &str) -> String {
        match parse(line) {
            Some(Err(e)) => e,
            other => panic!("{line:?} should be an unreadable REPORT line: {other:?}"),
        }
    }

    const ID: &str = "8f5c3e7a-2b1d-4c6e-9a0f-3d2e1b4c5a69";

    #[test]
    fn a_warm_text_line_with_its_trailing_tab() {
        let r = ok(&format!(
            "REPORT RequestId: {ID}\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 1024 MB\tMax Memory Used: 45 MB\t\n"
        ));
        assert_eq!(
            r,
            ReportLine {
                request_id: ID.into(),
                duration_ms: 12.34,
                billed_duration_ms: 13,
                memory_size_mb: 1024,
                max_memory_used_mb: 45,
                init_duration_ms: None,
                restore_duration_ms: None,
                billed_restore_duration_ms: None,
                status: None,
                error_type: None,
                xray: None,
                unknown: vec![],
            }
        );
        assert!(!r.cold_start());
    }

    #[test]
    fn a_cold_line_with_x_ray_on_its_second_line() {
        // The shape of AWS's documented example (Init Duration, then X-Ray on a new line).
        let r = ok("REPORT RequestId: 1c8df7d3-xmpl-46da-9778-518e6eca8125\tDuration: 2.89 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 73 MB\tInit Duration: 200.89 ms\t\nXRAY TraceId: 1-5e34a614-10bdxmplf1fb44f07bc535a1\tSegmentId: 07f5xmpl2d1f6f85\tSampled: true\t");
        assert_eq!(r.init_duration_ms, Some(200.89));
        assert!(r.cold_start());
        assert_eq!(
            r.xray,
            Some(Xray {
                trace_id: Some("1-5e34a614-10bdxmplf1fb44f07bc535a1".into()),
                segment_id: Some("07f5xmpl2d1f6f85".into()),
                sampled: Some(true),
            })
        );
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
    }

    #[test]
    fn spacing_is_lenient() {
        // Spaces only (as consoles render it), the old `ms \t` spelling, a glued label and unit.
        let a = ok(&format!("REPORT RequestId: {ID} Duration: 4.42 ms Billed Duration: 338 ms Memory Size: 1152 MB Max Memory Used: 75 MB Init Duration: 333.05 ms"));
        assert_eq!(
            (a.duration_ms, a.billed_duration_ms, a.init_duration_ms),
            (4.42, 338, Some(333.05))
        );
        let b = ok(&format!("REPORT RequestId: {ID}\tDuration: 51.78 ms\tBilled Duration: 100 ms \tMemory Size: 512 MB\tMax Memory Used: 57 MB\t"));
        assert_eq!((b.billed_duration_ms, b.max_memory_used_mb), (100, 57));
        let c = ok(&format!(
            "  REPORT  RequestId:{ID}\t\tDuration:12.34ms  Billed Duration:13ms Memory Size: 512MB Max Memory Used: 21 MB"
        ));
        assert_eq!(
            (c.request_id.as_str(), c.duration_ms, c.memory_size_mb),
            (ID, 12.34, 512)
        );
        // A whole-number duration is read (Power Tuning's regex would want a fraction).
        assert_eq!(ok(&format!("REPORT RequestId: {ID}\tDuration: 900000 ms\tBilled Duration: 900000 ms\tMemory Size: 10240 MB\tMax Memory Used: 10240 MB")).duration_ms, 900_000.0);
    }

    #[test]
    fn snapstart_and_status_fields() {
        let r = ok(&format!("REPORT RequestId: {ID}\tDuration: 12.61 ms\tRestore Duration: 474.16 ms\tBilled Restore Duration: 183 ms\tBilled Duration: 196 ms\tMemory Size: 512 MB\tMax Memory Used: 143 MB\t"));
        assert_eq!(
            (r.restore_duration_ms, r.billed_restore_duration_ms),
            (Some(474.16), Some(183))
        );
        assert_eq!(r.billed_duration_ms, 196);
        assert!(r.cold_start() && r.init_duration_ms.is_none());
        let t = ok(&format!("REPORT RequestId: {ID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: timeout"));
        assert_eq!(t.status.as_deref(), Some("timeout"));
        let e = ok(&format!("REPORT RequestId: {ID}\tDuration: 812.07 ms\tBilled Duration: 813 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory"));
        assert_eq!(
            (e.status.as_deref(), e.error_type.as_deref()),
            (Some("error"), Some("Runtime.OutOfMemory"))
        );
    }

    #[test]
    fn unknown_fields_are_kept_as_written() {
        let r = ok(&format!("REPORT RequestId: {ID}\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tSomething New: 5 ms\t"));
        assert_eq!(r.unknown, vec!["Something New: 5 ms".to_string()]);
    }

    #[test]
    fn numbers_are_strict() {
        let line = |d: &str, b: &str, m: &str, u: &str| {
            format!("REPORT RequestId: {ID}\tDuration: {d}\tBilled Duration: {b}\tMemory Size: {m}\tMax Memory Used: {u}")
        };
        for (d, b, m, u, needle) in [
            ("12,34 ms", "13 ms", "512 MB", "21 MB", "Duration"),
            ("-1.00 ms", "13 ms", "512 MB", "21 MB", "Duration"),
            ("1e3 ms", "13 ms", "512 MB", "21 MB", "Duration"),
            ("NaN ms", "13 ms", "512 MB", "21 MB", "Duration"),
            ("12. ms", "13 ms", "512 MB", "21 MB", "Duration"),
            ("12.34 s", "13 ms", "512 MB", "21 MB", "the unit must be ms"),
            ("12.34", "13 ms", "512 MB", "21 MB", "Duration"),
            ("12.34 ms", "13.5 ms", "512 MB", "21 MB", "Billed Duration"),
            (
                "12.34 ms",
                "13 ms",
                "512 GB",
                "21 MB",
                "the unit must be MB",
            ),
            (
                "12.34 ms",
                "13 ms",
                "99999999999 MB",
                "21 MB",
                "out of range",
            ),
            (
                "12.34 ms",
                "13 ms",
                "512 MB",
                "twenty MB",
                "Max Memory Used",
            ),
        ] {
            let e = err(&line(d, b, m, u));
            assert!(e.contains(needle), "{d} {b} {m} {u}: {e}");
        }
        let e = err(&format!("REPORT RequestId: {ID}\tDuration: 1.00 ms\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB"));
        assert!(e.contains("Duration appears twice"), "{e}");
        let e = err(&format!(
            "REPORT RequestId: {ID}\tDuration: 1.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB"
        ));
        assert_eq!(e, "no Max Memory Used");
        let e = err(&format!(
            "REPORT RequestId: {ID}\tDuration: 1.00 ms\tBilled Duration: 2 ms"
        ));
        assert_eq!(e, "no Memory Size");
        let e = err("REPORT RequestId:");
        assert!(e.contains("RequestId: no value"), "{e}");
    }

    #[test]
    fn other_lines_are_not_report_lines() {
        for line in [
            format!("START RequestId: {ID} Version: $LATEST"),
            format!("END RequestId: {ID}"),
            "a line that says REPORT RequestId: but does not start with it".into(),
            "REPORTRequestId: 1\tDuration: 1.00 ms".into(),
            "REPORT something else".into(),
            "INIT_START Runtime Version: provided:al2023.v97".into(),
            r#"{"type":"lambda-probe.result","request_id":"r"}"#.into(),
            r#"{"type":"platform.start","record":{"requestId":"r"}}"#.into(),
            "{not json".into(),
        ] {
            assert!(parse(&line).is_none(), "{line}");
        }
    }

    #[test]
    fn the_json_log_formats_platform_report() {
        let r = ok(&format!(
            r#"{{"time":"2025-12-04T18:00:00.000Z","type":"platform.report","record":{{"requestId":"{ID}","metrics":{{"durationMs":12.34,"billedDurationMs":96,"memorySizeMB":1024,"maxMemoryUsedMB":45,"initDurationMs":80.12}},"status":"success"}}}}"#
        ));
        assert_eq!(
            (
                r.request_id.as_str(),
                r.duration_ms,
                r.billed_duration_ms,
                r.memory_size_mb,
                r.max_memory_used_mb,
                r.init_duration_ms,
                r.status
            ),
            (ID, 12.34, 96, 1024, 45, Some(80.12), None)
        );
        let t = ok(&format!(
            r#"{{"type":"platform.report","record":{{"requestId":"{ID}","metrics":{{"durationMs":3000.0,"billedDurationMs":3000,"memorySizeMB":128,"maxMemoryUsedMB":128}},"status":"timeout"}}}}"#
        ));
        assert_eq!(t.status.as_deref(), Some("timeout"));
        let e = err(&format!(
            r#"{{"type":"platform.report","record":{{"requestId":"{ID}","metrics":{{"durationMs":1.0,"billedDurationMs":1.5,"memorySizeMB":128,"maxMemoryUsedMB":20}}}}}}"#
        ));
        assert!(e.contains("billedDurationMs"), "{e}");
        let e = err(&format!(
            r#"{{"type":"platform.report","record":{{"requestId":"{ID}","metrics":{{"durationMs":1.0}}}}}}"#
        ));
        assert!(e.contains("missing field"), "{e}");
    }
}
