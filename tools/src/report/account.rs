//! "Lambda's own account (REPORT lines)": the platform's REPORT lines among the inputs, per
//! architecture, memory size and workload, beside the probe's own wall time for the same sizes.
//!
//! A REPORT line names neither the architecture nor the workload. Each line takes them from, in
//! this order: the probe's full-result line of the same request id (any input; the probe
//! measured both); the export's own word (`make fetch-logs` writes `architecture` for the
//! stack's functions, `make invoke`'s saved tail the architecture and workload of the response
//! of the same invocation); for the architecture only, a result line in the same log stream (one
//! execution environment, one architecture), then a log group named as template.yaml names the
//! stack's (`…-probe-arm64`, `…-probe-x86_64`). Otherwise it says "unknown".

use super::figures::{Plot, Point, Series, XAxis};
use super::input::{Inputs, Source};
use super::report_line::ReportLine;
use lambda_probe::lambda_model::Arch;
use lambda_probe::measure::stats;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

pub const TITLE: &str = "Lambda's own account (REPORT lines)";
/// The HTML anchor of the section.
pub const ANCHOR: &str = "lambda-report-lines";

/// What an export says about where one log event comes from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogContext {
    /// The input file.
    pub file: String,
    pub group: Option<String>,
    pub stream: Option<String>,
    /// The architecture the export states for all its events (and who says so).
    pub arch: Option<Arch>,
    /// The workload the export states for all its events (`make invoke`'s tail).
    pub workload: Option<String>,
}

impl LogContext {
    pub fn file(file: &str) -> Self {
        LogContext {
            file: file.into(),
            ..Default::default()
        }
    }

    /// The log stream, scoped by its group, or by the file when the export does not name it.
    fn stream_key(&self) -> Option<(String, String)> {
        let stream = self.stream.clone()?;
        Some((
            self.group.clone().unwrap_or_else(|| self.file.clone()),
            stream,
        ))
    }
}

/// A REPORT line as read, before its architecture is worked out.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub origin: String,
    pub context: LogContext,
    pub line: ReportLine,
}

/// A probe full-result line that became a run: what it tells about its request and stream.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeLine {
    pub request_id: Option<String>,
    pub context: LogContext,
    pub arch: Arch,
    pub workload: String,
}

/// Everything the readers collect for this section.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Collected {
    pub reports: Vec<Seen>,
    pub probe_lines: Vec<ProbeLine>,
}

/// Where a REPORT line's architecture came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ArchFrom {
    Request,
    Export,
    Stream,
    GroupName,
    Unknown,
}

impl ArchFrom {
    pub fn label(self) -> &'static str {
        match self {
            ArchFrom::Request => "from the probe's result line of the same request",
            ArchFrom::Export => "from the export's own `architecture` (make fetch-logs: the stack's function; make invoke: the response)",
            ArchFrom::Stream => "from a probe result line in the same log stream (one execution environment)",
            ArchFrom::GroupName => "from the log group's name (template.yaml's `…-probe-<arch>`)",
            ArchFrom::Unknown => "unknown (no result line of the same request or log stream, and the export does not say)",
        }
    }
}

/// A REPORT line with its architecture and workload worked out.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub origin: String,
    pub line: ReportLine,
    pub arch: Option<Arch>,
    pub arch_from: ArchFrom,
    pub workload: Option<String>,
}

/// One row of the table: one architecture, memory size and workload.
#[derive(Clone, Debug, PartialEq)]
pub struct AccountRow {
    pub arch: Option<Arch>,
    pub memory_mb: u32,
    pub workload: Option<String>,
    pub invocations: usize,
    pub duration_p50_ms: f64,
    pub duration_p90_ms: f64,
    pub billed_p50_ms: f64,
    pub used_p50_mb: f64,
    pub used_max_mb: u32,
    /// The largest Max Memory Used as a share of the configured size, in percent.
    pub used_max_percent: f64,
    pub cold_starts: usize,
    pub init_p50_ms: Option<f64>,
    /// The probe's own runs at the same size, architecture and workload (not emulated).
    pub probe_runs: usize,
    pub probe_wall_p50_ms: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Account {
    pub lines: Vec<Resolved>,
    /// REPORT lines read more than once (the same line in two inputs): counted once.
    pub duplicates: usize,
    pub rows: Vec<AccountRow>,
    pub notes: Vec<String>,
    pub plot: Option<Plot>,
}

/// The stack's log groups and functions end in `-probe-<arch>` (template.yaml).
fn arch_from_name(name: &str) -> Option<Arch> {
    Arch::ALL
        .into_iter()
        .find(|a| name.ends_with(&format!("-probe-{}", a.name())))
}

/// Whether two exports may hold the same log event: not when they name different log groups
/// or architectures.
fn compatible(a: &LogContext, b: &LogContext) -> bool {
    fn agree<T: PartialEq>(x: &Option<T>, y: &Option<T>) -> bool {
        x.is_none() || y.is_none() || x == y
    }
    agree(&a.group, &b.group) && agree(&a.arch, &b.arch)
}

/// Each REPORT line once, with its architecture and workload.
pub fn resolve(c: &Collected) -> (Vec<Resolved>, usize) {
    let mut by_request: HashMap<&str, &ProbeLine> = HashMap::new();
    let mut by_stream: HashMap<(String, String), Arch> = HashMap::new();
    for p in &c.probe_lines {
        if let Some(id) = &p.request_id {
            by_request.entry(id.as_str()).or_insert(p);
        }
        if let Some(k) = p.context.stream_key() {
            by_stream.entry(k).or_insert(p.arch);
        }
    }
    let mut out: Vec<Resolved> = Vec::new();
    let mut seen: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut contexts: Vec<&LogContext> = Vec::new();
    let mut duplicates = 0;
    for s in &c.reports {
        let same_id = seen.entry(s.line.request_id.as_str()).or_default();
        // The same request id twice is a retry unless every figure is the same too, and the same
        // line in two log groups (or two functions) is two lines.
        if same_id
            .iter()
            .any(|&i| out[i].line == s.line && compatible(contexts[i], &s.context))
        {
            duplicates += 1;
            continue;
        }
        same_id.push(out.len());
        contexts.push(&s.context);
        let same_request = by_request.get(s.line.request_id.as_str());
        let ctx = &s.context;
        let (arch, arch_from) = if let Some(p) = same_request {
            (Some(p.arch), ArchFrom::Request)
        } else if let Some(a) = ctx.arch {
            (Some(a), ArchFrom::Export)
        } else if let Some(a) = ctx.stream_key().and_then(|k| by_stream.get(&k).copied()) {
            (Some(a), ArchFrom::Stream)
        } else if let Some(a) = ctx.group.as_deref().and_then(arch_from_name) {
            (Some(a), ArchFrom::GroupName)
        } else {
            (None, ArchFrom::Unknown)
        };
        let workload = same_request
            .map(|p| p.workload.clone())
            .or_else(|| ctx.workload.clone());
        out.push(Resolved {
            origin: s.origin.clone(),
            line: s.line.clone(),
            arch,
            arch_from,
            workload,
        });
    }
    (out, duplicates)
}

fn p(values: &[f64], pct: f64) -> f64 {
    stats::percentile(values, pct).unwrap_or(f64::NAN)
}

fn arch_name(a: Option<Arch>) -> &'static str {
    a.map(|a| a.name()).unwrap_or("arch unknown")
}

type Key = (u8, u32, Option<String>);

fn key(arch: Option<Arch>, memory_mb: u32, workload: Option<String>) -> Key {
    let order = match arch {
        Some(a) => Arch::ALL.iter().position(|x| *x == a).unwrap_or(0) as u8,
        None => u8::MAX,
    };
    (order, memory_mb, workload)
}

fn arch_of(order: u8) -> Option<Arch> {
    Arch::ALL.get(order as usize).copied()
}

/// The section: `None`-free; empty (no rows) when the inputs hold no REPORT line.
pub fn account(inputs: &Inputs) -> Account {
    let (lines, duplicates) = resolve(&inputs.account);
    if lines.is_empty() {
        return Account::default();
    }
    let mut groups: BTreeMap<Key, Vec<&Resolved>> = BTreeMap::new();
    for l in &lines {
        groups
            .entry(key(l.arch, l.line.memory_size_mb, l.workload.clone()))
            .or_default()
            .push(l);
    }
    let mut rows = Vec::new();
    let mut series: BTreeMap<String, BTreeMap<u32, Vec<f64>>> = BTreeMap::new();
    for ((order, memory_mb, workload), ls) in &groups {
        let arch = arch_of(*order);
        let durations: Vec<f64> = ls.iter().map(|l| l.line.duration_ms).collect();
        let billed: Vec<f64> = ls
            .iter()
            .map(|l| l.line.billed_duration_ms as f64)
            .collect();
        let used: Vec<f64> = ls
            .iter()
            .map(|l| l.line.max_memory_used_mb as f64)
            .collect();
        let used_max = ls
            .iter()
            .map(|l| l.line.max_memory_used_mb)
            .max()
            .unwrap_or(0);
        let inits: Vec<f64> = ls.iter().filter_map(|l| l.line.init_duration_ms).collect();
        let cold_starts = ls.iter().filter(|l| l.line.cold_start()).count();
        // The probe's own runs: same size, architecture and workload, measured (not emulated).
        let walls: Vec<f64> = match (arch, workload) {
            (Some(a), Some(w)) => inputs
                .rows
                .iter()
                .filter(|r| {
                    r.source == Source::Real
                        && r.arch == a
                        && r.memory_mb == *memory_mb
                        && r.workload() == w.as_str()
                })
                .map(|r| r.response.result.common().wall_ms)
                .collect(),
            _ => vec![],
        };
        let name = format!(
            "{} {}",
            arch_name(arch),
            workload.as_deref().unwrap_or("workload unknown")
        );
        series
            .entry(format!("{name} · REPORT Duration"))
            .or_default()
            .entry(*memory_mb)
            .or_default()
            .extend(&durations);
        if !walls.is_empty() {
            series
                .entry(format!("{name} · probe wall_ms"))
                .or_default()
                .entry(*memory_mb)
                .or_default()
                .extend(&walls);
        }
        rows.push(AccountRow {
            arch,
            memory_mb: *memory_mb,
            workload: workload.clone(),
            invocations: ls.len(),
            duration_p50_ms: p(&durations, 50.0),
            duration_p90_ms: p(&durations, 90.0),
            billed_p50_ms: p(&billed, 50.0),
            used_p50_mb: p(&used, 50.0),
            used_max_mb: used_max,
            used_max_percent: used_max as f64 / *memory_mb as f64 * 100.0,
            cold_starts,
            init_p50_ms: stats::percentile(&inits, 50.0),
            probe_runs: walls.len(),
            probe_wall_p50_ms: stats::percentile(&walls, 50.0),
        });
    }
    let notes = notes(&lines, duplicates);
    let plot = Plot {
        id: "lambda-report-duration".into(),
        x_axis: XAxis::Memory,
        title: "REPORT Duration and the probe's wall time vs memory".into(),
        y_label: "ms".into(),
        decimals: 2,
        series: series
            .into_iter()
            .map(|(name, by_mb)| Series {
                name,
                points: by_mb
                    .into_iter()
                    .map(|(memory_mb, vs)| Point {
                        x: memory_mb,
                        n: vs.len(),
                        median: stats::median(&vs).unwrap_or(f64::NAN),
                        min: vs.iter().copied().fold(f64::INFINITY, f64::min),
                        max: vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    })
                    .collect(),
            })
            .collect(),
        references: vec![],
        vlines: vec![],
        marks: vec![],
        note: Some("Median and min–max per memory size: Lambda's Duration (the handler's time, without INIT) and the probe's summary.wall_ms of the same architecture and workload.".into()),
        predicted: vec![],
    };
    Account {
        lines,
        duplicates,
        rows,
        notes,
        plot: Some(plot),
    }
}

fn notes(lines: &[Resolved], duplicates: usize) -> Vec<String> {
    let mut notes = Vec::new();
    let mut from: BTreeMap<ArchFrom, usize> = BTreeMap::new();
    for l in lines {
        *from.entry(l.arch_from).or_default() += 1;
    }
    notes.push(format!(
        "Architecture of each REPORT line: {}.",
        from.iter()
            .map(|(f, n)| format!("{n} {}", f.label()))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    let no_workload = lines.iter().filter(|l| l.workload.is_none()).count();
    if no_workload > 0 {
        notes.push(format!(
            "{no_workload} REPORT lines have no probe result line of the same request among the inputs: their workload is unknown and no probe figures stand beside them."
        ));
    }
    if duplicates > 0 {
        notes.push(format!(
            "{duplicates} REPORT lines were read more than once (the same line in two inputs): counted once."
        ));
    }
    let restores: Vec<f64> = lines
        .iter()
        .filter_map(|l| l.line.restore_duration_ms)
        .collect();
    if !restores.is_empty() {
        let billed: Vec<f64> = lines
            .iter()
            .filter_map(|l| l.line.billed_restore_duration_ms.map(|v| v as f64))
            .collect();
        notes.push(format!(
            "SnapStart: {} lines with Restore Duration (p50 {:.2} ms), counted as cold starts; Billed Restore Duration p50 {}.",
            restores.len(),
            p(&restores, 50.0),
            stats::percentile(&billed, 50.0)
                .map(|v| format!("{v:.0} ms"))
                .unwrap_or("absent".into())
        ));
    }
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for l in lines {
        if let Some(s) = &l.line.status {
            let what = match &l.line.error_type {
                Some(e) => format!("{s} ({e})"),
                None => s.clone(),
            };
            *statuses.entry(what).or_default() += 1;
        }
    }
    if !statuses.is_empty() {
        notes.push(format!(
            "Invocations that did not succeed (Status): {}. They are in the figures above.",
            statuses
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut unknown: Vec<&str> = lines
        .iter()
        .flat_map(|l| l.line.unknown.iter().map(String::as_str))
        .collect();
    unknown.sort();
    unknown.dedup();
    if !unknown.is_empty() {
        notes.push(format!(
            "Fields this reader does not know, left out: {}.",
            unknown
                .iter()
                .take(8)
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    notes
}

pub const HEADERS: [&str; 13] = [
    "Arch",
    "Memory (MB)",
    "Workload",
    "Invocations",
    "Duration p50 (ms)",
    "Duration p90 (ms)",
    "Billed p50 (ms)",
    "Max Memory Used p50 / max (MB)",
    "Max used (% of size)",
    "Cold starts",
    "Init Duration p50 (ms)",
    "Probe runs",
    "Probe wall_ms p50",
];

/// The table's cells for one row, as both renderings print them.
pub fn cells(r: &AccountRow) -> [String; 13] {
    let known = r.arch.is_some() && r.workload.is_some();
    [
        arch_name(r.arch).to_string(),
        r.memory_mb.to_string(),
        r.workload.clone().unwrap_or("unknown".into()),
        r.invocations.to_string(),
        format!("{:.2}", r.duration_p50_ms),
        format!("{:.2}", r.duration_p90_ms),
        format!("{:.0}", r.billed_p50_ms),
        format!("{:.0} / {}", r.used_p50_mb, r.used_max_mb),
        format!("{:.1}", r.used_max_percent),
        r.cold_starts.to_string(),
        r.init_p50_ms
            .map(|v| format!("{v:.2}"))
            .unwrap_or("–".into()),
        if known {
            r.probe_runs.to_string()
        } else {
            "–".into()
        },
        r.probe_wall_p50_ms
            .map(|v| format!("{v:.3}"))
            .unwrap_or("–".into()),
    ]
}

const ABOUT: &str = "Lambda writes one REPORT line after every invocation. Duration: the handler's time, without INIT; Billed Duration: what is billed, rounded up to 1 ms (for this custom runtime it includes Init Duration on a cold start); Max Memory Used: the execution environment's peak, here against the configured Memory Size; Init Duration: on a cold start only. p50 and p90 are nearest-rank percentiles. Probe wall_ms: the probe's own summary.wall_ms of the runs among the inputs (not emulated) at the same architecture, memory size and workload.";

pub fn markdown(a: &Account) -> String {
    let mut md = String::new();
    if a.lines.is_empty() {
        return md;
    }
    let _ = writeln!(md, "## {TITLE}\n");
    let _ = writeln!(md, "{} REPORT lines. {ABOUT}\n", a.lines.len());
    let _ = writeln!(md, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(md, "|---|---:|---|{}", "---:|".repeat(HEADERS.len() - 3));
    for r in &a.rows {
        let _ = writeln!(md, "| {} |", cells(r).join(" | "));
    }
    md.push('\n');
    for n in &a.notes {
        let _ = writeln!(md, "_{n}_\n");
    }
    if let Some(p) = &a.plot {
        let _ = writeln!(md, "![{}](svg/{}.svg)\n", p.title, p.id);
        if let Some(n) = &p.note {
            let _ = writeln!(md, "{n}\n");
        }
    }
    md
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The section in HTML, with the plot's SVG (without its XML declaration) inline.
pub fn html(a: &Account, svg: Option<&str>) -> String {
    let mut h = String::new();
    if a.lines.is_empty() {
        return h;
    }
    let _ = writeln!(h, "<h2 id=\"{ANCHOR}\">{}</h2>", esc(TITLE));
    let _ = writeln!(
        h,
        "<p class=note>{} REPORT lines. {}</p>",
        a.lines.len(),
        esc(ABOUT)
    );
    h.push_str("<table><tr>");
    for c in HEADERS {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>\n");
    for r in &a.rows {
        h.push_str("<tr>");
        for (i, c) in cells(r).iter().enumerate() {
            let class = if i == 0 || i == 2 { "" } else { " class=n" };
            let _ = write!(h, "<td{class}>{}</td>", esc(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    for n in &a.notes {
        let _ = writeln!(h, "<p class=note><em>{}</em></p>", esc(n));
    }
    if let (Some(p), Some(svg)) = (&a.plot, svg) {
        let svg = svg
            .trim_start()
            .strip_prefix("<?xml")
            .map_or(svg, |rest| rest.find("?>").map_or(svg, |e| &rest[e + 2..]));
        let _ = write!(h, "<h3>{}</h3><div class=plot>{svg}", esc(&p.title));
        if let Some(n) = &p.note {
            let _ = write!(h, "<p class=note>{}</p>", esc(n));
        }
        h.push_str("</div>\n");
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, duration: &str, init: Option<&str>) -> ReportLine {
        let text = format!(
            "REPORT RequestId: {id}\tDuration: {duration} ms\tBilled Duration: 13 ms\tMemory Size: 512 MB\tMax Memory Used: 21 MB\t{}",
            init.map(|i| format!("Init Duration: {i} ms\t")).unwrap_or_default()
        );
        super::super::report_line::parse(&text).unwrap().unwrap()
    }

    fn ctx(
        file: &str,
        group: Option<&str>,
        stream: Option<&str>,
        arch: Option<Arch>,
    ) -> LogContext {
        LogContext {
            file: file.into(),
            group: group.map(String::from),
            stream: stream.map(String::from),
            arch,
            workload: None,
        }
    }

    fn seen(l: ReportLine, context: LogContext) -> Seen {
        Seen {
            origin: "o".into(),
            context,
            line: l,
        }
    }

    #[test]
    fn the_architecture_comes_from_the_best_witness_or_is_unknown() {
        let probe = |id: Option<&str>, context: LogContext| ProbeLine {
            request_id: id.map(String::from),
            context,
            arch: Arch::X86_64,
            workload: "env".into(),
        };
        let c = Collected {
            probe_lines: vec![
                probe(Some("r1"), ctx("a.json", None, Some("s1"), None)),
                probe(Some("r9"), ctx("b.json", Some("/g"), Some("s2"), None)),
            ],
            reports: vec![
                // Same request id, in another file: the probe's word beats the export's.
                seen(
                    line("r1", "1.00", None),
                    ctx("c.json", None, None, Some(Arch::Arm64)),
                ),
                // The export says.
                seen(
                    line("r2", "1.00", None),
                    ctx("c.json", None, None, Some(Arch::Arm64)),
                ),
                // The same stream of the same group as a result line.
                seen(
                    line("r3", "1.00", None),
                    ctx("d.json", Some("/g"), Some("s2"), None),
                ),
                // A stream of that name in another group tells nothing.
                seen(
                    line("r4", "1.00", None),
                    ctx("d.json", Some("/h"), Some("s2"), None),
                ),
                // No group named: the stream is scoped by the file.
                seen(
                    line("r5", "1.00", None),
                    ctx("a.json", None, Some("s1"), None),
                ),
                // The stack's log group name.
                seen(
                    line("r6", "1.00", None),
                    ctx("e.json", Some("/aws/lambda/lp-probe-arm64"), None, None),
                ),
                seen(
                    line("r7", "1.00", None),
                    ctx("e.json", Some("/aws/lambda/other-arm64"), None, None),
                ),
            ],
        };
        let (r, duplicates) = resolve(&c);
        assert_eq!(duplicates, 0);
        let got: Vec<_> = r
            .iter()
            .map(|r| {
                (
                    r.line.request_id.as_str(),
                    r.arch,
                    r.arch_from,
                    r.workload.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("r1", Some(Arch::X86_64), ArchFrom::Request, Some("env")),
                ("r2", Some(Arch::Arm64), ArchFrom::Export, None),
                ("r3", Some(Arch::X86_64), ArchFrom::Stream, None),
                ("r4", None, ArchFrom::Unknown, None),
                ("r5", Some(Arch::X86_64), ArchFrom::Stream, None),
                ("r6", Some(Arch::Arm64), ArchFrom::GroupName, None),
                ("r7", None, ArchFrom::Unknown, None),
            ]
        );
    }

    #[test]
    fn a_line_read_twice_counts_once_and_a_retry_twice() {
        let c = Collected {
            probe_lines: vec![],
            reports: vec![
                seen(line("r1", "1.00", Some("5.00")), ctx("a", None, None, None)),
                seen(line("r1", "1.00", Some("5.00")), ctx("b", None, None, None)),
                // An asynchronous retry keeps its request id; its figures differ.
                seen(line("r1", "2.00", None), ctx("a", None, None, None)),
                // The same line in two log groups is two lines; a group not named may be either.
                seen(line("r2", "1.00", None), ctx("a", Some("/g"), None, None)),
                seen(line("r2", "1.00", None), ctx("a", Some("/h"), None, None)),
                seen(line("r2", "1.00", None), ctx("b", None, None, None)),
            ],
        };
        let (r, duplicates) = resolve(&c);
        assert_eq!((r.len(), duplicates), (4, 2));
    }
}
