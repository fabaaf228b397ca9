//! From typed rows to plots. Every workload gets the same three plots (duration, effective vCPU
//! with Lambda's CPU model beside it, cost per invocation), then the points its own module says
//! belong on a plot (`Workload::plotted`): nothing here knows a workload's field names.

use super::input::Row;
use lambda_probe::lambda_model::{self, Arch, CORE_STEPS, MAX_MEMORY_MB, MIN_MEMORY_MB};
use lambda_probe::measure::stats;
use std::collections::BTreeMap;

/// One memory size (or, on a concurrency plot, one number of invocations at once) of a
/// series: the median and spread over repeated runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Memory in MB, or invocations at once (see [`Plot::x_axis`]).
    pub x: u32,
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
    pub x: u32,
    pub value: f64,
}

/// What a plot's x axis is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XAxis {
    /// Lambda memory size, MB (log scale).
    Memory,
    /// Invocations at once in one process: `overlap.others_max + 1` (log scale).
    Concurrency,
}

impl XAxis {
    /// The column heading of the plot's table.
    pub fn heading(self) -> &'static str {
        match self {
            XAxis::Memory => "Memory (MB)",
            XAxis::Concurrency => "At once",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    /// Unique in the report; names the SVG file.
    pub id: String,
    pub x_axis: XAxis,
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
    /// `predict`'s curves, dashed with their range (duration and cost plots).
    pub predicted: Vec<super::predicted::Curve>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// The heading: the workload, and the experiment when the workload's runs measure several.
    pub workload: String,
    /// The section's anchor and the prefix of its plots' ids: no spaces.
    pub key: String,
    pub plots: Vec<Plot>,
    /// What runs did over time, when the workload records it (`Workload::timeline`).
    pub timeline: Option<super::timeline::TimelinePlot>,
    /// Why a plot is missing, or other facts worth saying.
    pub notes: Vec<String>,
    /// What `predict` makes of the section's runs.
    pub predicted: super::predicted::Predicted,
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
                .map(|(x, vs)| Point {
                    x,
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
        x_axis: XAxis::Memory,
        title: title.into(),
        y_label: y_label.into(),
        decimals,
        series: aggregate(values),
        references: vec![],
        vlines: vec![],
        marks: vec![],
        note: None,
        predicted: vec![],
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
                x: p.x,
                value: p.median,
            });
        }
        let fastest = duration
            .series
            .iter()
            .find(|d| d.name == s.name)
            .and_then(|d| d.points.iter().min_by(|a, b| a.median.total_cmp(&b.median)));
        if let Some(f) = fastest {
            if let Some(p) = s.points.iter().find(|p| p.x == f.x) {
                marks.push(Mark {
                    label: "fastest".into(),
                    series: s.name.clone(),
                    x: p.x,
                    value: p.median,
                });
            }
        }
    }
    marks
}

/// One section per workload present, in the registry's order; a registered workload with no
/// results is named, so a missing one is never silent. Runs on Lambda Managed Instances, or
/// that shared their process with other invocations, get a section of their own against
/// concurrency (their process-wide figures are shared, and memory is not what varies).
pub fn sections(rows: &[Row]) -> Vec<Section> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for &w in lambda_probe::workloads::WORKLOADS {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.workload() == w).collect();
        if mine.is_empty() {
            missing.push(w);
            continue;
        }
        let (concurrent, on_demand): (Vec<&Row>, Vec<&Row>) =
            mine.into_iter().partition(|r| is_concurrent(r));
        // Runs that measure different things (1 thread against 2, alloc's modes, io's
        // concurrency sets) never share a series: one section per experiment when there are
        // several, as the metrics keep them apart by their Experiment dimension.
        let mut experiments: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
        for r in &on_demand {
            experiments
                .entry(r.response.result.experiment())
                .or_default()
                .push(r);
        }
        if experiments.len() == 1 {
            out.push(section(w, w, &on_demand));
        } else {
            for (i, (experiment, runs)) in experiments.iter().enumerate() {
                out.push(section(
                    &format!("{w} · {experiment}"),
                    &format!("{w}-{}", i + 1),
                    runs,
                ));
            }
        }
        if !concurrent.is_empty() {
            out.push(concurrency_section(w, &concurrent, &on_demand));
        }
    }
    if !missing.is_empty() {
        out.push(Section {
            workload: "not in the inputs".into(),
            key: "not-in-the-inputs".into(),
            plots: vec![],
            timeline: None,
            notes: vec![format!(
                "No results of these workloads among the inputs: {}.",
                missing.join(", ")
            )],
            predicted: Default::default(),
        });
    }
    out
}

/// The section of runs `rows` headed `title`, its plots' ids prefixed with `key`.
fn section(title: &str, key: &str, rows: &[&Row]) -> Section {
    let id = |s: &str| format!("{key}-{s}");
    let mut notes = Vec::new();
    let duration = per_row_plot(
        rows,
        id("duration"),
        "Duration vs memory",
        "Duration (ms)",
        3,
        |r| Some(r.response.result.common().wall_ms),
    );
    let predicted = super::predicted::for_rows(rows);
    let mut plots: Vec<Plot> = Vec::new();
    if let Some(d) = &duration {
        plots.push(Plot {
            predicted: predicted.duration.clone(),
            ..d.clone()
        });
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
    plots.extend(workload_plots(key, rows));
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
            c.predicted = predicted.cost.clone();
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
            "{title} has no figures of its own to plot beyond duration, effective vCPU and cost."
        ));
    }
    Section {
        workload: title.into(),
        key: key.into(),
        plots,
        timeline: super::timeline::timeline(key, rows),
        notes,
        predicted,
    }
}

/// The workload's own plots: every point its module hands out, grouped by plot, one series
/// per architecture × source × the module's series.
fn workload_plots(key: &str, rows: &[&Row]) -> Vec<Plot> {
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
            let id = format!("{key}-{}", p.plot);
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

// ---------------------------------------------------------------- against concurrency

/// A run on Lambda Managed Instances (emulated with `--managed`, or real: Lambda set
/// `AWS_LAMBDA_MAX_CONCURRENCY`), or one that shared its process with other invocations.
pub fn is_concurrent(r: &Row) -> bool {
    r.emulated.as_ref().is_some_and(|e| e.managed.is_some())
        || r.response.environment.max_concurrency.is_some()
        || r.response.overlap.others_total > 0
}

/// The invocations at once in its process: itself and the most others at one moment.
pub fn at_once(r: &Row) -> u32 {
    r.response.overlap.others_max + 1
}

/// The environment's vCPUs where they are known: emulated (`--managed V`), else the cores
/// the process could run on (`environment.affinity_cores`).
fn environment_vcpus(r: &Row) -> Option<u32> {
    match r.emulated.as_ref().and_then(|e| e.managed.as_ref()) {
        Some(m) => Some(m.vcpus),
        None => r.response.environment.affinity_cores.map(|c| c as u32),
    }
}

/// "x86_64 emulated · 2 vCPU, 4096 MB".
fn concurrency_series(r: &Row) -> String {
    format!(
        "{} · {} vCPU, {} MB",
        series_name(r),
        environment_vcpus(r).map_or("?".into(), |v| v.to_string()),
        r.memory_mb
    )
}

fn horizontal(name: String, value: f64, most: u32) -> Reference {
    Reference {
        name,
        points: vec![(1.0, value), (most.max(2) as f64, value)],
    }
}

/// Per-invocation duration and effective vCPU against the invocations at once, beside the
/// on-demand runs of the same workload at the same memory size.
fn concurrency_section(workload: &str, rows: &[&Row], on_demand: &[&Row]) -> Section {
    let id = |s: &str| format!("{workload}-concurrency-{s}");
    let mut notes = Vec::new();
    let most = rows.iter().map(|r| at_once(r)).max().unwrap_or(1);
    // (architecture, source, memory) of the environments, and the on-demand runs beside each.
    let mut envs: BTreeMap<(Arch, String, u32), Option<u32>> = BTreeMap::new();
    for r in rows {
        envs.insert(
            (r.arch, r.source.label().to_string(), r.memory_mb),
            environment_vcpus(r),
        );
    }
    let twins = |arch: Arch, mb: u32| -> Vec<&Row> {
        on_demand
            .iter()
            .copied()
            .filter(|o| o.arch == arch && o.memory_mb == mb)
            .collect()
    };
    let by_k = |value: &dyn Fn(&Row) -> Option<f64>| -> Vec<(String, u32, f64)> {
        rows.iter()
            .filter_map(|r| value(r).map(|v| (concurrency_series(r), at_once(r), v)))
            .collect()
    };

    let mut duration = plot(
        id("duration"),
        "Duration per invocation vs invocations at once",
        "Duration (ms)",
        3,
        by_k(&|r| Some(r.response.result.common().wall_ms)),
    );
    duration.x_axis = XAxis::Concurrency;
    let mut vcpu = plot(
        id("vcpu"),
        "Effective vCPU per invocation vs invocations at once",
        "Effective vCPU of one invocation (its own CPU ÷ wall)",
        2,
        by_k(&|r| r.response.own_effective_vcpu()),
    );
    vcpu.x_axis = XAxis::Concurrency;
    let without = rows
        .iter()
        .filter(|r| r.response.own_effective_vcpu().is_none())
        .count();
    if without > 0 {
        notes.push(format!(
            "{without} of {} runs have no per-invocation effective vCPU: their process CPU was shared with other invocations, and {workload} does not read CPU per thread.",
            rows.len()
        ));
    }
    for ((arch, source, mb), vcpus) in &envs {
        let od = twins(*arch, *mb);
        if od.is_empty() {
            notes.push(format!(
                "No on-demand {arch} run at {mb} MB among the inputs to set beside the {source} environment (emulate --memory {mb}, or the on-demand function at {mb} MB)."
            ));
        } else {
            let med = |f: &dyn Fn(&Row) -> Option<f64>| {
                stats::median(&od.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
            };
            if let Some(w) = med(&|r| Some(r.response.result.common().wall_ms)) {
                duration.references.push(horizontal(
                    format!("on-demand {arch} at {mb} MB ({} runs)", od.len()),
                    w,
                    most,
                ));
            }
            let v = med(&|r| r.response.own_effective_vcpu());
            if let Some(v) = v {
                vcpu.references.push(horizontal(
                    format!("on-demand {arch} at {mb} MB, measured"),
                    v,
                    most,
                ));
            }
            let sources: std::collections::BTreeSet<&str> =
                od.iter().map(|r| r.source.label()).collect();
            notes.push(format!(
                "Beside the {arch} {source} environment of {mb} MB: on-demand {arch} at {mb} MB ({} run(s), {}): median duration {} ms, effective vCPU {}.",
                od.len(),
                sources.into_iter().collect::<Vec<_>>().join(" and "),
                med(&|r| Some(r.response.result.common().wall_ms))
                    .map_or("–".into(), |w| format!("{w:.3}")),
                v.map_or("–".into(), |v| format!("{v:.2}")),
            ));
        }
        if *mb <= MAX_MEMORY_MB {
            let model = lambda_model::vcpu_share(*mb).min(lambda_model::visible_cores(*mb) as f64);
            vcpu.references.push(horizontal(
                format!("on-demand model at {mb} MB: min(M ÷ 1,769, cores) = {model:.2}"),
                model,
                most,
            ));
        }
        if let Some(v) = vcpus {
            let ks: Vec<u32> = (1..=most.max(2)).collect();
            vcpu.references.push(Reference {
                name: format!("at most {v} vCPU ÷ K (K busy invocations sharing {v} vCPU)"),
                points: ks
                    .iter()
                    .map(|&k| {
                        (
                            k as f64,
                            lambda_model::managed::fair_share_vcpu(*v as f64, k, f64::INFINITY),
                        )
                    })
                    .collect(),
            });
            if !vcpu.vlines.iter().any(|(x, _)| *x == *v as f64) {
                vcpu.vlines.push((*v as f64, format!("{v} vCPU")));
                duration.vlines.push((*v as f64, format!("{v} vCPU")));
            }
        }
    }
    duration.note = Some("Each point: the median over the invocations that ran with that many at once in their process (overlap.others_max + 1). Grey lines: the on-demand runs of the same memory size (median); vertical line: the environment's vCPUs.".into());
    vcpu.note = Some("Per invocation: summary.effective_vcpu when nothing shared the process, else its threads' own CPU ÷ its wall time (summary.cpu_ms is then the process's). Grey lines: V vCPU ÷ K, what each of K CPU-bound invocations gets; the on-demand runs and Lambda's on-demand CPU model at the same memory size.".into());
    notes.push("No cost per invocation here: Lambda Managed Instances bill the instances, a management fee and requests, not milliseconds (docs/managed-instances.md, \"What it costs\").".into());
    let mut plots = vec![duration];
    if !vcpu.series.is_empty() {
        plots.push(vcpu);
    }
    Section {
        workload: format!("{workload} on Lambda Managed Instances (vs invocations at once)"),
        key: format!("{workload}-managed-instances"),
        plots,
        timeline: None,
        notes,
        predicted: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulate::real_response;
    use crate::report::input::Source;
    use serde_json::{json, Value};

    fn row(event: &Value, memory_mb: u32) -> Row {
        let response = real_response(event.clone());
        Row {
            origin: format!("test at {memory_mb} MB"),
            memory_mb,
            arch: response.environment.lambda_arch().unwrap(),
            source: Source::Local,
            response,
            emulated: None,
        }
    }

    #[test]
    fn runs_of_different_experiments_never_share_a_series() {
        let one = json!({"workload":"pbkdf2","iterations":200,"passwords":2,"threads":[1]});
        let both = json!({"workload":"pbkdf2","iterations":200,"passwords":2,"threads":[1,2]});
        let rows = [row(&one, 128), row(&one, 1769), row(&both, 128)];
        let out = sections(&rows);
        let mine: Vec<&Section> = out.iter().filter(|s| s.key.starts_with("pbkdf2")).collect();
        // By label: "… threads=1" before "… threads=1,2".
        let (a, b) = (
            rows[0].response.result.experiment(),
            rows[2].response.result.experiment(),
        );
        assert!(a < b, "{a} / {b}");
        assert_eq!(
            mine.iter()
                .map(|s| (s.key.as_str(), s.workload.clone()))
                .collect::<Vec<_>>(),
            [
                ("pbkdf2-1", format!("pbkdf2 · {a}")),
                ("pbkdf2-2", format!("pbkdf2 · {b}"))
            ]
        );
        let duration = |s: &Section| {
            let p = s
                .plots
                .iter()
                .find(|p| p.id.ends_with("-duration"))
                .unwrap();
            (
                p.id.clone(),
                p.series[0]
                    .points
                    .iter()
                    .map(|p| (p.x, p.n))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            duration(mine[0]),
            ("pbkdf2-1-duration".into(), vec![(128, 1), (1769, 1)])
        );
        assert_eq!(
            duration(mine[1]),
            ("pbkdf2-2-duration".into(), vec![(128, 1)])
        );

        // One experiment: one section, named by the workload alone.
        let out = sections(&rows[..2]);
        let mine: Vec<&Section> = out.iter().filter(|s| s.key.starts_with("pbkdf2")).collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(
            (mine[0].key.as_str(), mine[0].workload.as_str()),
            ("pbkdf2", "pbkdf2")
        );
    }
}
