//! From typed rows to plots. Every workload gets the same three plots (duration, effective vCPU
//! with Lambda's CPU model beside it, cost per invocation), then the points its own module says
//! belong on a plot (`Workload::plotted`): nothing here knows a workload's field names.

use super::input::Row;
use lambda_probe::lambda_model::{self, Arch, CORE_STEPS, MAX_MEMORY_MB, MIN_MEMORY_MB};
use lambda_probe::measure::stats;
use std::collections::BTreeMap;

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
    /// What runs did over time, when the workload records it (`Workload::timeline`).
    pub timeline: Option<super::timeline::TimelinePlot>,
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

/// "x86_64 emulated", "arm64 real"; an emulated run whose quota was enforced over a period
/// of `emulate --period-ms` is a series of its own: "x86_64 emulated, 20 ms period".
pub fn series_name(row: &Row) -> String {
    let mut name = format!("{} {}", row.arch, row.source.label());
    if let Some(e) = row
        .emulated
        .as_ref()
        .filter(|e| e.cpu_period_from == crate::emulate::PeriodFrom::PeriodMs)
    {
        name += &format!(", {} ms period", e.cpu_period_us as f64 / 1000.0);
    }
    name
}

fn plot(
    id: String,
    title: &str,
    y_label: &str,
    decimals: usize,
    values: Vec<(String, u32, f64)>,
) -> Plot {
    Plot {
        id,
        title: title.into(),
        y_label: y_label.into(),
        decimals,
        series: aggregate(values),
        references: vec![],
        vlines: vec![],
        marks: vec![],
        note: None,
    }
}

/// A plot with one series per architecture × source, from one value per row.
fn per_row_plot(
    rows: &[&Row],
    id: String,
    title: &str,
    y_label: &str,
    decimals: usize,
    value: impl Fn(&Row) -> Option<f64>,
) -> Option<Plot> {
    let values: Vec<_> = rows
        .iter()
        .filter_map(|r| value(r).map(|v| (series_name(r), r.memory_mb, v)))
        .collect();
    (!values.is_empty()).then(|| plot(id, title, y_label, decimals, values))
}

fn memory_range(rows: &[&Row]) -> (f64, f64) {
    let lo = rows
        .iter()
        .map(|r| r.memory_mb)
        .min()
        .unwrap_or(MIN_MEMORY_MB);
    let hi = rows
        .iter()
        .map(|r| r.memory_mb)
        .max()
        .unwrap_or(MAX_MEMORY_MB);
    (lo.min(MIN_MEMORY_MB) as f64, hi.max(MAX_MEMORY_MB) as f64)
}

/// min(M ÷ 1,769, cores(M)) from the Lambda model, sampled densely enough to show the steps.
pub fn vcpu_reference(lo: f64, hi: f64) -> Reference {
    let n = 400;
    let points = (0..=n)
        .map(|i| {
            let m = (lo * (hi / lo).powf(i as f64 / n as f64)).round() as u32;
            let vcpu = lambda_model::vcpu_share(m).min(lambda_model::visible_cores(m) as f64);
            (m as f64, vcpu)
        })
        .collect();
    Reference {
        name: "Lambda: min(M ÷ 1,769, cores)".into(),
        points,
    }
}

fn core_vlines() -> Vec<(f64, String)> {
    CORE_STEPS
        .iter()
        .map(|&(from, cores)| (from as f64, format!("{cores} cores")))
        .collect()
}

const CPU_MODEL_NOTE: &str = "Grey line: Lambda's CPU model, min(M ÷ 1,769, cores(M)), cores(M) = 2 up to 3,008 MB, then 3/4/5/6 from 3,009/5,308/7,077/8,846 MB.";

/// Lambda's CPU model beside a plot: the reference curve and the core steps.
fn with_cpu_model(mut p: Plot, rows: &[&Row]) -> Plot {
    let (lo, hi) = memory_range(rows);
    p.references.push(vcpu_reference(lo, hi));
    p.vlines = core_vlines();
    p
}

/// Cost of one (warm) invocation at list price: the handler's wall time billed.
pub fn cost_usd(arch: Arch, memory_mb: u32, wall_ms: f64) -> f64 {
    lambda_model::invocation_cost(arch, memory_mb, wall_ms, 0.0).total_usd
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

/// One section per workload present, in the registry's order; a registered workload with no
/// results is named, so a missing one is never silent.
pub fn sections(rows: &[Row]) -> Vec<Section> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for &w in lambda_probe::workloads::WORKLOADS {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.workload() == w).collect();
        if mine.is_empty() {
            missing.push(w);
        } else {
            out.push(section(w, &mine));
        }
    }
    if !missing.is_empty() {
        out.push(Section {
            workload: "not in the inputs".into(),
            plots: vec![],
            timeline: None,
            notes: vec![format!(
                "No results of these workloads among the inputs: {}.",
                missing.join(", ")
            )],
        });
    }
    out
}

fn section(workload: &str, rows: &[&Row]) -> Section {
    let id = |s: &str| format!("{workload}-{s}");
    let mut notes = Vec::new();
    let duration = per_row_plot(
        rows,
        id("duration"),
        "Duration vs memory",
        "Duration (ms)",
        3,
        |r| Some(r.response.result.common().wall_ms),
    );
    let mut plots: Vec<Plot> = Vec::new();
    if let Some(d) = &duration {
        plots.push(d.clone());
    }
    match per_row_plot(
        rows,
        id("vcpu"),
        "Effective vCPU vs memory",
        "Effective vCPU (CPU time ÷ wall time)",
        2,
        |r| r.response.result.common().effective_vcpu,
    ) {
        Some(p) => {
            let mut p = with_cpu_model(p, rows);
            p.note = Some(CPU_MODEL_NOTE.into());
            plots.push(p);
        }
        None => notes.push(
            "No effective vCPU figures (summary.effective_vcpu is null in every run: runs under 1 ms).".into(),
        ),
    }
    plots.extend(workload_plots(workload, rows));
    if let Some(d) = &duration {
        if let Some(mut c) = per_row_plot(
            rows,
            id("cost"),
            "Cost per invocation vs memory",
            "USD per invocation (list price)",
            9,
            |r| {
                Some(cost_usd(
                    r.arch,
                    r.memory_mb,
                    r.response.result.common().wall_ms,
                ))
            },
        ) {
            c.marks = cost_marks(&c, d);
            c.note = Some(format!(
                "{} + $0.20 per million requests; duration = summary.wall_ms rounded up to 1 ms (Lambda bills in 1 ms steps; the handler's own time, without runtime overhead or INIT). Triangle: cheapest; circle: fastest.",
                Arch::ALL
                    .iter()
                    .map(|a| format!("{a} ${} per GB-s", a.usd_per_gb_s()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            plots.push(c);
        }
    }
    if plots.len() <= 3 && rows.iter().all(|r| r.response.result.plotted().is_empty()) {
        notes.push(format!(
            "{workload} has no figures of its own to plot beyond duration, effective vCPU and cost."
        ));
    }
    Section {
        workload: workload.into(),
        plots,
        timeline: super::timeline::timeline(workload, rows),
        notes,
    }
}

/// The workload's own plots: every point its module hands out, grouped by plot, one series
/// per architecture × source × the module's series.
fn workload_plots(workload: &str, rows: &[&Row]) -> Vec<Plot> {
    struct Group {
        plot: Plot,
        values: Vec<(String, u32, f64)>,
        guide: bool,
    }
    let mut groups: Vec<Group> = Vec::new();
    for r in rows {
        for p in r.response.result.plotted() {
            let series = match &p.series {
                Some(s) => format!("{} · {s}", series_name(r)),
                None => series_name(r),
            };
            let id = format!("{workload}-{}", p.plot);
            let g = match groups.iter_mut().position(|g| g.plot.id == id) {
                Some(i) => &mut groups[i],
                None => {
                    let mut plot = plot(id, p.title, p.y_label, p.decimals, vec![]);
                    plot.note = p.note.map(String::from);
                    groups.push(Group {
                        plot,
                        values: vec![],
                        guide: p.cpu_model_guide,
                    });
                    groups.last_mut().expect("just pushed")
                }
            };
            g.values.push((series, r.memory_mb, p.value));
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let mut p = g.plot;
            p.series = aggregate(g.values);
            if g.guide {
                p = with_cpu_model(p, rows);
            }
            p
        })
        .collect()
}
