//! From rows to plots: what each section shows, read defensively from the response JSON.

use super::input::Row;
use lambda_probe::measure::stats;
use serde_json::Value;
use std::collections::BTreeMap;

/// Lambda list prices (us-east-1), USD per GB-second of billed duration.
pub const PRICE_X86_64_PER_GB_S: f64 = 0.000_016_666_7;
pub const PRICE_ARM64_PER_GB_S: f64 = 0.000_013_333_4;
/// USD per request ($0.20 per million).
pub const PRICE_PER_REQUEST: f64 = 0.000_000_2;

/// Memory per vCPU, as Lambda documents it.
pub const MB_PER_VCPU: f64 = 1769.0;

/// The cores Lambda shows at a memory size: 2 up to 3,008 MB, then 3/4/5/6.
pub fn lambda_cores(memory_mb: f64) -> f64 {
    match memory_mb {
        m if m >= 8846.0 => 6.0,
        m if m >= 7077.0 => 5.0,
        m if m >= 5308.0 => 4.0,
        m if m >= 3009.0 => 3.0,
        _ => 2.0,
    }
}

/// Where the visible core count steps up.
pub const CORE_STEPS_MB: [(f64, u32); 4] = [(3009.0, 3), (5308.0, 4), (7077.0, 5), (8846.0, 6)];

/// One memory size of a series: the median and spread over repeated runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub memory_mb: u32,
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<Point>,
}

/// A reference curve drawn as a thin grey line (not data).
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A point singled out on a series (cheapest, fastest).
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub label: String,
    pub series: String,
    pub memory_mb: u32,
    pub value: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    /// Unique in the report; names the SVG file.
    pub id: String,
    pub title: String,
    pub y_label: String,
    /// Digits after the point in tables.
    pub decimals: usize,
    pub series: Vec<Series>,
    pub references: Vec<Reference>,
    /// Vertical lines at memory sizes (the visible-core steps), with a label.
    pub vlines: Vec<(f64, String)>,
    pub marks: Vec<Mark>,
    /// A sentence under the plot.
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    pub workload: String,
    pub plots: Vec<Plot>,
    /// Why a plot is missing, or other facts worth saying.
    pub notes: Vec<String>,
}

/// Group (series name, memory) → values, then summarise.
fn aggregate(values: Vec<(String, u32, f64)>) -> Vec<Series> {
    let mut groups: BTreeMap<String, BTreeMap<u32, Vec<f64>>> = BTreeMap::new();
    for (s, m, v) in values {
        if v.is_finite() {
            groups.entry(s).or_default().entry(m).or_default().push(v);
        }
    }
    groups
        .into_iter()
        .map(|(name, by_mem)| Series {
            name,
            points: by_mem
                .into_iter()
                .map(|(memory_mb, vs)| Point {
                    memory_mb,
                    n: vs.len(),
                    min: vs.iter().copied().fold(f64::INFINITY, f64::min),
                    max: vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    // A group exists only once a value was pushed into it.
                    median: stats::median(&vs).unwrap_or(f64::NAN),
                })
                .collect(),
        })
        .collect()
}

/// "x86_64 emulated", "arm64 real".
pub fn series_name(row: &Row) -> String {
    format!("{} {}", row.arch, row.source.label())
}

fn get_f64(v: &Value, path: &[&str]) -> Option<f64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_f64()
}

/// The workload's figures: flattened into `summary` (a nested `summary.workload` also works).
fn workload_figures(r: &Row) -> &Value {
    let summary = r.response.get("summary").unwrap_or(&Value::Null);
    match summary.get("workload") {
        Some(v) if v.is_object() => v,
        _ => summary,
    }
}

/// A plot with one series per architecture × source, from one value per row.
fn per_row_plot(
    rows: &[&Row],
    id: &str,
    title: &str,
    y_label: &str,
    decimals: usize,
    value: impl Fn(&Row) -> Option<f64>,
) -> Option<Plot> {
    let values: Vec<_> = rows
        .iter()
        .filter_map(|r| value(r).map(|v| (series_name(r), r.memory_mb, v)))
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(Plot {
        id: id.into(),
        title: title.into(),
        y_label: y_label.into(),
        decimals,
        series: aggregate(values),
        references: vec![],
        vlines: vec![],
        marks: vec![],
        note: None,
    })
}

fn memory_range(rows: &[&Row]) -> (f64, f64) {
    let lo = rows.iter().map(|r| r.memory_mb).min().unwrap_or(128) as f64;
    let hi = rows.iter().map(|r| r.memory_mb).max().unwrap_or(10240) as f64;
    (lo.min(128.0), hi.max(10240.0))
}

/// min(M ÷ 1,769, cores(M)), sampled densely enough to show the steps.
pub fn vcpu_reference(lo: f64, hi: f64) -> Reference {
    let mut points = Vec::new();
    let n = 400;
    for i in 0..=n {
        let m = lo * (hi / lo).powf(i as f64 / n as f64);
        points.push((m, (m / MB_PER_VCPU).min(lambda_cores(m))));
    }
    Reference {
        name: "Lambda: min(M ÷ 1,769, cores)".into(),
        points,
    }
}

fn core_vlines() -> Vec<(f64, String)> {
    CORE_STEPS_MB
        .iter()
        .map(|(m, c)| (*m, format!("{c} cores")))
        .collect()
}

fn vcpu_note() -> Option<String> {
    Some("Grey line: min(M ÷ 1,769, cores(M)), cores(M) = 2 up to 3,008 MB, then 3/4/5/6 from 3,009/5,308/7,077/8,846 MB.".into())
}

/// Cost of one invocation: billed duration (wall ms rounded up to 1 ms) × GB × price + request.
pub fn cost_usd(arch: &str, memory_mb: u32, wall_ms: f64) -> Option<f64> {
    let price = match arch {
        "x86_64" => PRICE_X86_64_PER_GB_S,
        "arm64" => PRICE_ARM64_PER_GB_S,
        _ => return None,
    };
    let billed_s = wall_ms.max(0.0).ceil() / 1000.0;
    Some(billed_s * (memory_mb as f64 / 1024.0) * price + PRICE_PER_REQUEST)
}

/// The cheapest and the fastest point of each series (by median).
fn cost_marks(cost: &Plot, duration: &Plot) -> Vec<Mark> {
    let mut marks = Vec::new();
    for s in &cost.series {
        if let Some(p) = s.points.iter().min_by(|a, b| a.median.total_cmp(&b.median)) {
            marks.push(Mark {
                label: "cheapest".into(),
                series: s.name.clone(),
                memory_mb: p.memory_mb,
                value: p.median,
            });
        }
        let fastest = duration
            .series
            .iter()
            .find(|d| d.name == s.name)
            .and_then(|d| d.points.iter().min_by(|a, b| a.median.total_cmp(&b.median)));
        if let Some(f) = fastest {
            if let Some(p) = s.points.iter().find(|p| p.memory_mb == f.memory_mb) {
                marks.push(Mark {
                    label: "fastest".into(),
                    series: s.name.clone(),
                    memory_mb: p.memory_mb,
                    value: p.median,
                });
            }
        }
    }
    marks
}

/// One section per workload present, in a fixed order, unknown workloads last.
pub fn sections(rows: &[Row]) -> Vec<Section> {
    let mut names: Vec<&str> = rows.iter().map(|r| r.workload.as_str()).collect();
    let order = ["env", "pbkdf2", "alloc", "memset", "io"];
    names.sort_by_key(|n| (order.iter().position(|o| o == n).unwrap_or(order.len()), *n));
    names.dedup();
    let mut out: Vec<Section> = names
        .iter()
        .map(|w| {
            let rows: Vec<&Row> = rows.iter().filter(|r| r.workload == *w).collect();
            section(w, &rows)
        })
        .collect();
    if !names.contains(&"io") {
        out.push(Section {
            workload: "io".into(),
            plots: vec![],
            notes: vec![
                "No io results among the inputs: no PutItem latency or items/s plots.".into(),
            ],
        });
    }
    out
}

fn section(workload: &str, rows: &[&Row]) -> Section {
    let mut plots = Vec::new();
    let mut notes = Vec::new();
    let id = |s: &str| format!("{workload}-{s}");
    let duration = per_row_plot(
        rows,
        &id("duration"),
        "Duration vs memory",
        "Duration (ms)",
        3,
        |r| get_f64(&r.response, &["summary", "wall_ms"]),
    );
    let (lo, hi) = memory_range(rows);
    if let Some(mut p) = per_row_plot(
        rows,
        &id("vcpu"),
        "Effective vCPU vs memory",
        "Effective vCPU (CPU time ÷ wall time)",
        2,
        |r| get_f64(&r.response, &["summary", "effective_vcpu"]),
    ) {
        p.references.push(vcpu_reference(lo, hi));
        p.note = vcpu_note();
        plots.push(p);
    } else {
        notes.push(
            "No effective vCPU figures (summary.effective_vcpu is null in every run).".into(),
        );
    }
    match workload {
        "pbkdf2" => {
            // The best speedup over one thread among the multi-thread levels of each run.
            let best = |r: &Row| {
                workload_figures(r)
                    .get("levels")?
                    .as_array()?
                    .iter()
                    .filter(|l| l.get("threads").and_then(Value::as_u64).unwrap_or(0) > 1)
                    .filter_map(|l| l.get("speedup").and_then(Value::as_f64))
                    .reduce(f64::max)
            };
            match per_row_plot(
                rows,
                &id("speedup"),
                "Multi-thread speedup vs memory",
                "Best speedup over 1 thread (×)",
                2,
                best,
            ) {
                Some(mut p) => {
                    p.references.push(vcpu_reference(lo, hi));
                    p.vlines = core_vlines();
                    p.note = Some("Speedup = 1-thread time ÷ best multi-thread time. Vertical lines: where Lambda shows one more core; grey line: min(M ÷ 1,769, cores).".into());
                    plots.push(p);
                }
                None => notes.push(
                    "No multi-thread levels (payload threads had only 1): no speedup plot.".into(),
                ),
            }
            if let Some(p) = per_row_plot(
                rows,
                &id("iterations"),
                "Single-thread PBKDF2 throughput vs memory",
                "Iterations per second (1 thread)",
                0,
                |r| {
                    workload_figures(r)
                        .get("levels")?
                        .as_array()?
                        .iter()
                        .find(|l| l.get("threads").and_then(Value::as_u64) == Some(1))?
                        .get("iterations_per_s")?
                        .as_f64()
                },
            ) {
                plots.push(p);
            }
        }
        "alloc" => {
            let pass = |r: &Row, n: u64, key: &str| {
                workload_figures(r)
                    .get("passes")?
                    .as_array()?
                    .iter()
                    .find(|p| p.get("pass").and_then(Value::as_u64) == Some(n))?
                    .get(key)?
                    .as_f64()
            };
            let mut values = Vec::new();
            for r in rows {
                let s = series_name(r);
                if let Some(v) = pass(r, 1, "us_per_mib_median") {
                    values.push((format!("{s} · first touch"), r.memory_mb, v));
                }
                if let Some(v) = pass(r, 2, "us_per_mib_median") {
                    values.push((format!("{s} · reuse (pass 2)"), r.memory_mb, v));
                }
            }
            if values.is_empty() {
                notes.push("No per-pass alloc figures: no first-touch/reuse plot.".into());
            } else {
                plots.push(Plot {
                    id: id("touch"),
                    title: "First touch vs reuse cost vs memory".into(),
                    y_label: "µs per MiB (median over buffers)".into(),
                    decimals: 1,
                    series: aggregate(values),
                    references: vec![],
                    vlines: vec![],
                    marks: vec![],
                    note: Some("Pass 2 is reuse in `reuse` mode, a second fresh first touch in `fresh`/`mmap` mode.".into()),
                });
            }
            let mut values = Vec::new();
            for r in rows {
                let s = series_name(r);
                for n in [1, 2] {
                    if let Some(v) = pass(r, n, "new_pages_per_mib") {
                        values.push((format!("{s} · pass {n}"), r.memory_mb, v));
                    }
                }
            }
            if !values.is_empty() {
                plots.push(Plot {
                    id: id("pages"),
                    title: "New pages per MiB vs memory".into(),
                    y_label: "New pages per MiB (minor faults)".into(),
                    decimals: 1,
                    series: aggregate(values),
                    references: vec![],
                    vlines: vec![],
                    marks: vec![],
                    note: Some("256 pages per MiB = every 4 KiB page faulted in afresh.".into()),
                });
            }
        }
        "memset" => {
            if let Some(p) = per_row_plot(
                rows,
                &id("bandwidth"),
                "memset bandwidth vs memory",
                "GB/s (median over repeats)",
                2,
                |r| get_f64(workload_figures(r), &["gb_per_s_median"]),
            ) {
                plots.push(p);
            }
        }
        "io" => io_plots(rows, &mut plots, &mut notes),
        _ => {}
    }
    if let Some(d) = duration {
        let mut cost = per_row_plot(
            rows,
            &id("cost"),
            "Cost per invocation vs memory",
            "USD per invocation (list price)",
            9,
            |r| {
                cost_usd(
                    &r.arch,
                    r.memory_mb,
                    get_f64(&r.response, &["summary", "wall_ms"])?,
                )
            },
        );
        if let Some(c) = &mut cost {
            c.marks = cost_marks(c, &d);
            c.note = Some("x86_64 $0.0000166667, arm64 $0.0000133334 per GB-s, + $0.20 per million requests; duration = summary.wall_ms rounded up to 1 ms (Lambda bills in 1 ms steps; the handler's own time, without runtime overhead or init). Triangle: cheapest; circle: fastest.".into());
        }
        plots.insert(0, d);
        if let Some(c) = cost {
            plots.push(c);
        }
    }
    Section {
        workload: workload.into(),
        plots,
        notes,
    }
}

/// io is being built in parallel: read whatever latency and rate figures exist, by name.
fn io_plots(rows: &[&Row], plots: &mut Vec<Plot>, notes: &mut Vec<String>) {
    let concurrency = |r: &Row| {
        let f = workload_figures(r);
        f.get("concurrency")
            .or_else(|| r.response.get("params").and_then(|p| p.get("concurrency")))
            .and_then(Value::as_u64)
    };
    // The first numeric field whose name contains every needle.
    fn find(v: &Value, needles: &[&str]) -> Option<f64> {
        match v {
            Value::Object(o) => o.iter().find_map(|(k, v)| {
                let k = k.to_ascii_lowercase();
                if needles.iter().all(|n| k.contains(n)) && v.is_number() {
                    v.as_f64()
                } else if v.is_object() {
                    find(v, needles)
                } else {
                    None
                }
            }),
            _ => None,
        }
    }
    let label = |r: &Row| match concurrency(r) {
        Some(c) => format!("{} · concurrency {c}", series_name(r)),
        None => series_name(r),
    };
    for (key, needles, title) in [
        ("p50", ["p50", "ms"], "PutItem p50 latency vs memory"),
        ("p99", ["p99", "ms"], "PutItem p99 latency vs memory"),
    ] {
        let values: Vec<_> = rows
            .iter()
            .filter_map(|r| find(workload_figures(r), &needles).map(|v| (label(r), r.memory_mb, v)))
            .collect();
        if values.is_empty() {
            notes.push(format!(
                "No {key} latency field (…{key}…ms) in the io results."
            ));
            continue;
        }
        plots.push(Plot {
            id: format!("io-{key}"),
            title: title.into(),
            y_label: format!("PutItem {key} latency (ms)"),
            decimals: 2,
            series: aggregate(values),
            references: vec![],
            vlines: vec![],
            marks: vec![],
            note: None,
        });
    }
    let values: Vec<_> = rows
        .iter()
        .filter_map(|r| {
            find(workload_figures(r), &["items_per_s"]).map(|v| (label(r), r.memory_mb, v))
        })
        .collect();
    if values.is_empty() {
        notes.push("No items_per_s field in the io results.".into());
    } else {
        plots.push(Plot {
            id: "io-rate".into(),
            title: "PutItem throughput vs memory".into(),
            y_label: "Items per second".into(),
            decimals: 0,
            series: aggregate(values),
            references: vec![],
            vlines: vec![],
            marks: vec![],
            note: None,
        });
    }
}
