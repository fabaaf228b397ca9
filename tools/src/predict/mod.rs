//! `predict`: one run (or a function described by hand) → its duration and cost at every memory
//! size, for its architecture, with the recommendations; `--check` compares the prediction with
//! measured runs at other sizes.
//!
//! `model` is the model (pure), `runs` turns probe results into its input, `recommend` prices
//! and picks, `check` compares; this file reads the arguments and writes the output.

pub mod check;
pub mod model;
pub mod power_tuning;
pub mod recommend;
pub mod runs;

use crate::report::input::Inputs;
use lambda_probe::lambda_model::{self as lm, Arch};
use lambda_probe::measure::stats::round;
use lambda_probe::workloads::{Phase, Results};
use model::{At, Measured, Target, Work};
use recommend::{Priced, Recommendations};
use runs::Run;
use serde_json::json;
use std::fmt::Write as _;
use std::process::ExitCode;

/// A run's duration and cost at every memory size, for its architecture, with the cheapest,
/// fastest and balanced sizes, from one run.
///
/// Inputs: probe results at any memory size, as `report` reads them (`lambda-probe run`
/// output, `aws lambda invoke` outfiles, `emulate` JSON lines, CloudWatch Logs exports). Runs
/// of the same workload and parameters on one architecture make one prediction (the median
/// run's; warm runs when there are any). Or your own function by hand: --at, --duration-ms,
/// --cpu-ms, --arch [--threads] [--init-ms]. A prediction is for the architecture it was
/// measured on; the other one is "not predicted". Output: a table, or with --json one line per
/// (function, arch, memory size) and then {"recommendations": [...]}. With --check, the
/// prediction against measured runs at other sizes (never used to make it). Exit status: 0
/// done; 1 a --check bound not met; 2 bad arguments or inputs (a function error, a run without
/// memory size or quota, an unknown architecture).
#[derive(Debug, PartialEq, clap::Args)]
pub struct Args {
    /// Probe results (files); their runs make the prediction.
    #[arg(value_name = "RESULT", required_unless_present = "at")]
    pub inputs: Vec<String>,
    /// Measured results to compare the prediction with, size by size: the error, the median
    /// and p90 absolute error, and how many measured runs fall inside [low, high].
    #[arg(long, value_name = "MEASURED", num_args = 1..)]
    pub check: Vec<String>,
    /// Your own function, by hand: the memory size one invocation ran at (MB)…
    #[arg(long, value_name = "MB", value_parser = memory_mb,
          requires_all = ["duration_ms", "cpu_ms", "arch"], conflicts_with_all = ["inputs", "check"])]
    pub at: Option<u32>,
    /// …its duration (ms)…
    #[arg(long, value_name = "MS", requires = "at", value_parser = positive_ms)]
    pub duration_ms: Option<f64>,
    /// …its CPU time (ms; from the probe's EMF, Lambda Insights or your own timer)…
    #[arg(long, value_name = "MS", requires = "at", value_parser = number)]
    pub cpu_ms: Option<f64>,
    /// …the threads it keeps busy (default 1)…
    #[arg(long, value_name = "N", requires = "at", value_parser = threads)]
    pub threads: Option<f64>,
    /// …its INIT duration on a cold start (ms, default 0)…
    #[arg(long, value_name = "MS", requires = "at", value_parser = number)]
    pub init_ms: Option<f64>,
    /// …and the architecture it ran on: arm64 | x86_64.
    #[arg(long, value_name = "ARCH", requires = "at", value_parser = arch)]
    pub arch: Option<Arch>,
    /// Memory sizes in MB, comma-separated (default: every 64 MB from 128 to 10,240, plus
    /// 1,769 and both sides of each visible-core step).
    #[arg(long, value_name = "LIST", value_parser = memory_list)]
    pub memory: Option<MemoryList>,
    /// The period the CPU share is enforced over, ms (default 20, the figure reported for
    /// Lambda; AWS does not document it). `emulate` runs under the kernel's period (100 ms):
    /// pass 100 to predict what it measures.
    #[arg(long, value_name = "MS", value_parser = period_ms)]
    pub period_ms: Option<f64>,
    /// Predict for a host of N cores (as `emulate` on N cores): sizes where Lambda shows more
    /// get N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub host_cores: Option<u32>,
    /// The weight of cost against duration in `balanced`, 0..=1, as Power Tuning's
    /// balancedWeight.
    #[arg(long, value_name = "W", default_value_t = recommend::DEFAULT_BALANCED_WEIGHT,
          value_parser = weight)]
    pub balanced_weight: f64,
    /// Power Tuning execution inputs (bench-payloads/power-tuning/*.json): what a run of each
    /// would cost (its invocations, executor and Step Functions) and which size its strategy
    /// would pick, by the prediction of the run of its payload.
    #[arg(long, value_name = "INPUT", num_args = 1.., conflicts_with = "check")]
    pub power_tuning: Vec<String>,
    /// JSON lines instead of the table.
    #[arg(long)]
    pub json: bool,
    /// With --check: exit 1 when a function's median absolute error is above PCT.
    #[arg(long, value_name = "PCT", requires = "check", value_parser = number)]
    pub max_median_error: Option<f64>,
    /// With --check: exit 1 when fewer than PCT % of a function's measured runs are inside
    /// [low, high].
    #[arg(long, value_name = "PCT", requires = "check", value_parser = percent)]
    pub min_inside: Option<f64>,
}

/// Memory sizes in MB, sorted.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryList(pub Vec<u32>);

fn number(v: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| format!("{v:?} is not a number ≥ 0"))
}

fn positive_ms(v: &str) -> Result<f64, String> {
    number(v).and_then(|x| {
        (x > 0.0)
            .then_some(x)
            .ok_or_else(|| "must be above 0".into())
    })
}

fn threads(v: &str) -> Result<f64, String> {
    number(v).and_then(|x| {
        (x >= 1.0)
            .then_some(x)
            .ok_or_else(|| format!("{x} is below 1"))
    })
}

fn period_ms(v: &str) -> Result<f64, String> {
    number(v).and_then(|x| {
        (1.0..=1000.0)
            .contains(&x)
            .then_some(x)
            .ok_or_else(|| format!("{x} is not in 1..=1000 ms"))
    })
}

fn weight(v: &str) -> Result<f64, String> {
    number(v).and_then(|x| {
        (x <= 1.0)
            .then_some(x)
            .ok_or_else(|| format!("{x} is not in 0..=1"))
    })
}

fn percent(v: &str) -> Result<f64, String> {
    number(v).and_then(|x| {
        (x <= 100.0)
            .then_some(x)
            .ok_or_else(|| format!("{x} is not a percentage"))
    })
}

fn arch(v: &str) -> Result<Arch, String> {
    Arch::parse(v)
        .ok_or_else(|| format!("unknown architecture {v:?}: Lambda runs arm64 and x86_64"))
}

fn memory_mb(v: &str) -> Result<u32, String> {
    let m: u32 = v
        .parse()
        .map_err(|_| format!("{v:?} is not a whole number of MB"))?;
    lm::check_memory_mb(m)?;
    Ok(m)
}

/// `128,1769,3538`: Lambda memory sizes in MB, sorted, each once.
fn memory_list(text: &str) -> Result<MemoryList, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(memory_mb(part)?);
    }
    if out.is_empty() {
        return Err("needs at least one size in MB, e.g. 128,1769,3538".into());
    }
    out.sort_unstable();
    out.dedup();
    Ok(MemoryList(out))
}

/// A function described by hand.
#[derive(Clone, Debug, PartialEq)]
pub struct Hand {
    pub at_mb: u32,
    pub duration_ms: f64,
    pub cpu_ms: f64,
    pub threads: f64,
    pub init_ms: f64,
    pub arch: Arch,
}

impl Args {
    fn hand(&self) -> Option<Hand> {
        Some(Hand {
            at_mb: self.at?,
            duration_ms: self.duration_ms?,
            cpu_ms: self.cpu_ms?,
            threads: self.threads.unwrap_or(1.0),
            init_ms: self.init_ms.unwrap_or(0.0),
            arch: self.arch?,
        })
    }
}

pub fn main(args: Args) -> ExitCode {
    let (groups, periods) = match groups_from(&args) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("predict: {e}");
            return ExitCode::from(2);
        }
    };
    let options = Options::from(&args, &periods);
    if !args.check.is_empty() {
        let (points, problems) = check::read_measured(&args.check);
        let report = check::check(&groups, &points, &options);
        let text = if args.json {
            check::json_lines(&report)
        } else {
            check::table(&report, &problems)
        };
        print!("{text}");
        return match check::verdict(&report, args.max_median_error, args.min_inside) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("predict --check: {e}");
                ExitCode::from(1)
            }
        };
    }
    let sizes = args
        .memory
        .clone()
        .map(|m| m.0)
        .unwrap_or_else(model::default_sizes_mb);
    let predictions: Vec<Prediction> = groups.iter().map(|g| g.predict(&sizes, &options)).collect();
    let mut out = if args.json {
        json_lines(&predictions, &groups)
    } else {
        table(&predictions, &groups, &options)
    };
    if !args.power_tuning.is_empty() {
        match sweeps(&args.power_tuning, &groups, &options) {
            Ok((sweeps, inputs, missing)) => {
                if args.json {
                    out += &format!(
                        "{}\n",
                        json!({"power_tuning": sweeps, "not_predicted": missing})
                    );
                } else {
                    out += &power_tuning::table(&sweeps, &inputs, &missing);
                }
            }
            Err(e) => {
                eprintln!("predict: {e}");
                return ExitCode::from(2);
            }
        }
    }
    print!("{out}");
    ExitCode::SUCCESS
}

/// Each Power Tuning input priced for each architecture a run of its payload was given on;
/// the inputs (or architectures) without one, in words.
#[allow(clippy::type_complexity)]
fn sweeps(
    paths: &[String],
    groups: &[Group],
    options: &Options,
) -> Result<
    (
        Vec<power_tuning::Sweep>,
        Vec<power_tuning::Input>,
        Vec<String>,
    ),
    String,
> {
    let inputs: Vec<power_tuning::Input> = paths
        .iter()
        .map(|p| power_tuning::read(p))
        .collect::<Result<_, _>>()?;
    let mut sweeps = Vec::new();
    let mut missing = Vec::new();
    let mut no_run_on: Vec<(Arch, Vec<String>)> = Arch::ALL.map(|a| (a, Vec::new())).to_vec();
    for input in &inputs {
        let mut found = Vec::new();
        for g in groups {
            let cores = g.base().cores as usize;
            if power_tuning::function_of(input, cores)? == g.function {
                sweeps.push(power_tuning::sweep(g, input, options));
                found.push(g.arch);
            }
        }
        if found.is_empty() {
            missing.push(format!(
                "{}: not predicted: no run of its payload ({}) among the inputs",
                input.name, input.payload
            ));
        } else {
            for (a, names) in no_run_on.iter_mut().filter(|(a, _)| !found.contains(a)) {
                let _ = a;
                names.push(input.name.clone());
            }
        }
    }
    let priced = inputs.len() - missing.len();
    for (a, names) in no_run_on.into_iter().filter(|(_, n)| !n.is_empty()) {
        missing.push(if names.len() == priced {
            format!("{a}: {}", not_predicted(a))
        } else {
            format!("{a}, for {}: {}", names.join(", "), not_predicted(a))
        });
    }
    Ok((sweeps, inputs, missing))
}

/// What every prediction of a session shares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    pub period_ms: f64,
    /// The period was measured by a `cpu-timeline` run among the inputs.
    pub period_measured: bool,
    /// `cpu-timeline` runs among the inputs that found no period (never throttled).
    pub timelines_without_period: usize,
    pub host_cores: Option<u32>,
    pub balanced_weight: f64,
}

impl Options {
    /// `timeline_periods`: what each `cpu-timeline` run among the inputs measured (`None`: no
    /// period, it was never throttled); the median of those measured is the period unless
    /// `--period-ms` gives one.
    pub fn from(a: &Args, timeline_periods: &[Option<f64>]) -> Options {
        let found: Vec<f64> = timeline_periods.iter().flatten().copied().collect();
        let measured = lambda_probe::measure::stats::median(&found);
        Options {
            period_ms: a.period_ms.or(measured).unwrap_or(lm::REPORTED_PERIOD_MS),
            period_measured: a.period_ms.is_none() && measured.is_some(),
            timelines_without_period: timeline_periods.len() - found.len(),
            host_cores: a.host_cores,
            balanced_weight: a.balanced_weight,
        }
    }

    /// Lambda's: the reported period, Lambda's cores, Power Tuning's balanced weight.
    pub fn lambda() -> Options {
        Options {
            period_ms: lm::REPORTED_PERIOD_MS,
            period_measured: false,
            timelines_without_period: 0,
            host_cores: None,
            balanced_weight: recommend::DEFAULT_BALANCED_WEIGHT,
        }
    }

    fn period_words(&self) -> String {
        let words = if self.period_measured {
            format!("{:.1} ms (measured by cpu-timeline)", self.period_ms)
        } else if self.period_ms == lm::REPORTED_PERIOD_MS {
            format!(
                "{} ms (reported for Lambda, not documented by AWS)",
                self.period_ms
            )
        } else {
            format!("{} ms", self.period_ms)
        };
        match self.timelines_without_period {
            0 => words,
            n => format!(
                "{words}; {n} cpu-timeline run(s) among the inputs found none: never throttled"
            ),
        }
    }
}

/// One run the prediction is made from, as work.
#[derive(Clone, Debug)]
pub struct Base {
    pub origin: String,
    pub memory_mb: u32,
    /// The cores it could use.
    pub cores: u32,
    /// Run under `emulate`, and the CFS period its cgroup had.
    pub emulated: bool,
    pub period_ms: Option<f64>,
    pub share_from: String,
    pub works: Vec<Work>,
    /// For the memory guard at other sizes (none for a function described by hand).
    pub results: Option<Results>,
    pub page_bytes: u64,
}

impl Base {
    /// The CPU time of its work.
    pub fn cpu_ms(&self) -> f64 {
        self.works.iter().map(|w| w.cpu_ms).sum()
    }
}

/// The runs of one function on one architecture.
#[derive(Clone, Debug)]
pub struct Group {
    pub function: String,
    /// A short label of the function (the workload's `experiment`).
    pub label: String,
    pub workload: String,
    pub arch: Arch,
    /// Whether the bases are cold runs (only when no warm run was given).
    pub cold: bool,
    pub init_ms: f64,
    pub bases: Vec<Base>,
}

/// One group's prediction at every size asked for.
#[derive(Clone, Debug)]
pub struct Prediction {
    pub rows: Vec<Priced>,
    pub recommendations: Option<Recommendations>,
}

impl Group {
    /// The run the prediction is made from: the median of the group's runs by CPU time (they
    /// are sorted by it).
    pub fn base(&self) -> &Base {
        &self.bases[(self.bases.len() - 1) / 2]
    }

    /// The prediction at one size, from the median run.
    pub fn at(&self, memory_mb: u32, options: &Options) -> At {
        let target = Target {
            memory_mb,
            period_ms: options.period_ms,
            max_cores: options.host_cores,
        };
        model::predict(&self.base().works, &target)
    }

    /// The memory guard's refusal at `memory_mb`, if the run would not fit there.
    pub fn refused_at(&self, memory_mb: u32) -> Option<String> {
        let b = self.bases.iter().find(|b| b.results.is_some())?;
        b.results
            .as_ref()?
            .guard_at(memory_mb, b.page_bytes)
            .err()
            .map(|e| e.message)
    }

    pub fn predict(&self, sizes: &[u32], options: &Options) -> Prediction {
        let rows: Vec<Priced> = sizes
            .iter()
            .map(|&m| {
                recommend::price(
                    self.at(m, options),
                    self.arch,
                    self.init_ms,
                    self.refused_at(m),
                )
            })
            .collect();
        let recommendations =
            recommend::recommend(&rows, &self.base().works, options.balanced_weight);
        Prediction {
            rows,
            recommendations,
        }
    }
}

/// The groups to predict: the runs read from the inputs, or the function described by hand.
/// The groups, and the enforcement periods `cpu-timeline` runs among the inputs measured (those
/// runs measure the sandbox, not work: they make no group).
pub fn groups_from(args: &Args) -> Result<(Vec<Group>, Vec<Option<f64>>), String> {
    if let Some(h) = args.hand() {
        return Ok((vec![hand_group(&h)], Vec::new()));
    }
    let (runs, problems) = read_runs(&args.inputs);
    if !problems.is_empty() {
        return Err(format!(
            "{} input(s) cannot be used:\n  {}",
            problems.len(),
            problems.join("\n  ")
        ));
    }
    let (timelines, runs): (Vec<Run>, Vec<Run>) = runs
        .into_iter()
        .partition(|r| r.measured_period_ms.is_some() || r.workload() == "cpu-timeline");
    let periods: Vec<Option<f64>> = timelines.iter().map(|r| r.measured_period_ms).collect();
    if runs.is_empty() {
        return Err(if timelines.is_empty() {
            "no runs among the inputs".into()
        } else {
            "only cpu-timeline runs among the inputs: they give the period, predict also needs a run of the work".into()
        });
    }
    Ok((group_runs(runs), periods))
}

/// Every run in the files, and what could not be read as one (with the reason).
pub fn read_runs(paths: &[String]) -> (Vec<Run>, Vec<String>) {
    runs_of(&crate::report::input::read_all(paths))
}

/// The runs among inputs read by `report`'s reader, and what cannot be one (with the reason).
pub fn runs_of(inputs: &Inputs) -> (Vec<Run>, Vec<String>) {
    let mut problems: Vec<String> = inputs
        .skipped
        .iter()
        .map(|s| format!("{}: {}", s.origin, s.reason))
        .collect();
    problems.extend(inputs.failed.iter().map(|f| {
        format!(
            "{}: {}: not a run that answered, which predict needs",
            f.origin, f.reason
        )
    }));
    let mut out = Vec::new();
    for row in &inputs.rows {
        match runs::from_row(row) {
            Ok(r) => out.push(r),
            Err(e) => problems.push(e),
        }
    }
    (out, problems)
}

/// Runs grouped by (function, architecture); a group uses its warm runs when it has any.
pub fn group_runs(runs: Vec<Run>) -> Vec<Group> {
    // cpu-timeline measures the sandbox (its period), not work to project.
    let runs: Vec<Run> = runs
        .into_iter()
        .filter(|r| r.workload() != "cpu-timeline")
        .collect();
    let mut keys: Vec<(String, Arch)> = runs.iter().map(|r| (r.function(), r.arch)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|(function, arch)| {
            let mine: Vec<&Run> = runs
                .iter()
                .filter(|r| r.function() == function && r.arch == arch)
                .collect();
            let warm: Vec<&Run> = mine.iter().copied().filter(|r| !r.cold).collect();
            let cold = warm.is_empty();
            let used = if cold { mine.clone() } else { warm };
            let inits: Vec<f64> = mine.iter().map(|r| r.init_ms).collect();
            let mut bases: Vec<Base> = used.iter().map(|r| base_of(r)).collect();
            bases.sort_by(|a, b| a.cpu_ms().total_cmp(&b.cpu_ms()));
            Group {
                workload: used[0].workload().to_string(),
                label: used[0].results.experiment(),
                function,
                arch,
                cold,
                init_ms: lambda_probe::measure::stats::median(&inits).unwrap_or(0.0),
                bases,
            }
        })
        .collect()
}

fn base_of(r: &Run) -> Base {
    let mut phases = r.results.phases();
    if phases.is_empty() {
        // A workload without phases (env): the whole run, as a function described by hand.
        phases.push(Phase {
            waits: true,
            ..Phase::cpu("the whole run", r.measured.wall_ms, r.measured.cpu_ms, 1.0)
        });
    }
    Base {
        origin: r.origin.clone(),
        memory_mb: r.memory_mb,
        cores: r.measured.cores,
        emulated: r.emulated,
        period_ms: r.period_ms,
        share_from: r.share_from.clone(),
        works: model::works(&phases, &r.measured),
        results: Some(r.results.clone()),
        page_bytes: r.page_bytes,
    }
}

fn hand_group(h: &Hand) -> Group {
    let measured = Measured {
        share_vcpu: Some(lm::vcpu_share(h.at_mb)),
        cores: lm::visible_cores(h.at_mb),
        wall_ms: h.duration_ms,
        cpu_ms: h.cpu_ms,
    };
    let phase = Phase {
        waits: true,
        ..Phase::cpu("invocation", h.duration_ms, h.cpu_ms, h.threads)
    };
    Group {
        function: format!(
            "your function ({} ms, {} ms CPU, {} thread(s) at {} MB)",
            h.duration_ms, h.cpu_ms, h.threads, h.at_mb
        ),
        workload: "by hand".into(),
        label: "your function".into(),
        arch: h.arch,
        cold: false,
        init_ms: h.init_ms,
        bases: vec![Base {
            origin: "--at".into(),
            memory_mb: h.at_mb,
            cores: lm::visible_cores(h.at_mb),
            emulated: false,
            period_ms: None,
            share_from: format!(
                "Lambda's rule at {} MB: {:.3} vCPU",
                h.at_mb,
                lm::vcpu_share(h.at_mb)
            ),
            works: model::works(std::slice::from_ref(&phase), &measured),
            results: None,
            page_bytes: 4096,
        }],
    }
}

/// The architectures without a run, for a function predicted on the others.
fn missing_arches(groups: &[Group], function: &str) -> Vec<Arch> {
    Arch::ALL
        .into_iter()
        .filter(|a| {
            !groups
                .iter()
                .any(|g| g.function == function && g.arch == *a)
        })
        .collect()
}

fn not_predicted(arch: Arch) -> String {
    format!(
        "not predicted: no {arch} run among the inputs (a prediction for {arch} needs a run on {arch})"
    )
}

pub fn json_lines(predictions: &[Prediction], groups: &[Group]) -> String {
    let mut out = String::new();
    let mut recs = Vec::new();
    for (p, g) in predictions.iter().zip(groups) {
        for r in &p.rows {
            let line = json!({
                "function": g.function,
                "workload": g.workload,
                "arch": g.arch,
                "memory_mb": r.at.memory_mb,
                "predicted_ms": round(r.at.predicted_ms, 3),
                "low_ms": round(r.at.low_ms, 3),
                "high_ms": round(r.at.high_ms, 3),
                "billed_ms": r.billed_ms,
                "cost_usd": r.cost_usd,
                "cold_cost_usd": r.cold_cost_usd,
                "cost_per_million_usd": round(r.cost_per_million_usd, 6),
                "bound": r.at.bound,
                "vcpu_share": round(r.at.vcpu_share, 4),
                "cores": r.at.cores,
                "fits": r.refused.is_none(),
                "refused": r.refused,
                "over_timeout": r.at.predicted_ms > lm::MAX_TIMEOUT_MS as f64,
            });
            let _ = writeln!(out, "{line}");
        }
        recs.push(json!({
            "function": g.function,
            "arch": g.arch,
            "recommendations": p.recommendations,
        }));
    }
    let mut functions: Vec<&str> = groups.iter().map(|g| g.function.as_str()).collect();
    functions.dedup();
    for f in functions {
        for a in missing_arches(groups, f) {
            recs.push(json!({"function": f, "arch": a, "not_predicted": not_predicted(a)}));
        }
    }
    let _ = writeln!(out, "{}", json!({ "recommendations": recs }));
    out
}

fn thousands(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let (int, frac) = s.split_once('.').map_or((s.as_str(), ""), |(i, f)| (i, f));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

pub fn ms(v: f64) -> String {
    thousands(v, 1)
}

/// Where a group's prediction comes from, in one paragraph.
pub fn describe(g: &Group, options: &Options) -> String {
    describe_with(g, options, true)
}

/// `describe`, naming the file (and line) of the run it comes from or not.
pub fn describe_with(g: &Group, options: &Options, with_origin: bool) -> String {
    let mut s = format!("{} on {}\n", g.function, g.arch);
    let n = g.bases.len();
    let b = g.base();
    let kind = if g.cold { "cold" } else { "warm" };
    let _ = writeln!(
        s,
        "  from {}{} at {} MB; share: {}",
        if n == 1 {
            format!("1 {kind} run")
        } else {
            format!("the median by CPU time of {n} {kind} runs")
        },
        if with_origin {
            format!(": {}", b.origin)
        } else {
            String::new()
        },
        b.memory_mb,
        b.share_from
    );
    let _ = writeln!(
        s,
        "  enforcement period {}{}",
        options.period_words(),
        options
            .host_cores
            .map(|c| format!("; a host of {c} cores"))
            .unwrap_or_default()
    );
    let phases: Vec<String> = b
        .works
        .iter()
        .map(|w| {
            let mut p = format!(
                "{}: {} ms CPU on {} thread{}",
                w.name,
                ms(w.cpu_ms),
                round(w.threads, 2),
                if w.threads == 1.0 { "" } else { "s" }
            );
            if w.wait_high_ms > 0.0 {
                if w.wait_low_ms == w.wait_high_ms {
                    let _ = write!(p, ", {} ms waiting", ms(w.wait_ms));
                } else {
                    let _ = write!(
                        p,
                        ", {}–{} ms waiting",
                        ms(w.wait_low_ms),
                        ms(w.wait_high_ms)
                    );
                }
            }
            if w.cpu_spread > 0.0 {
                let _ = write!(p, " (its items' CPU within ±{:.1}%)", w.cpu_spread * 100.0);
            }
            if let (Some(f), Some(n)) = (w.fault_ms, w.new_pages) {
                let _ = write!(p, " (page faults: {n} new pages, ~{} ms)", ms(f));
            } else if let Some(n) = w.new_pages.filter(|&n| n > 0) {
                let _ = write!(p, " ({n} new pages)");
            }
            p
        })
        .collect();
    let _ = writeln!(s, "  phases: {}", phases.join("; "));
    s
}

pub fn table(predictions: &[Prediction], groups: &[Group], options: &Options) -> String {
    let mut out = String::new();
    for (p, g) in predictions.iter().zip(groups) {
        out += &describe(g, options);
        for a in missing_arches(groups, &g.function) {
            let _ = writeln!(out, "  {a}: {}", not_predicted(a));
        }
        let _ = writeln!(
            out,
            "\n  {:>6}  {:>6}  {:>5}  {:>32}  {:<9}  {:>9}  {:>13}  {:>10}",
            "MB",
            "vCPU",
            "cores",
            "predicted ms (low – high)",
            "bound",
            "billed ms",
            "$/invocation",
            "$/1M"
        );
        for r in &p.rows {
            let range = format!(
                "{}{} ({} – {})",
                if r.at.predicted_ms > lm::MAX_TIMEOUT_MS as f64 {
                    "over 900 s: "
                } else {
                    ""
                },
                ms(r.at.predicted_ms),
                ms(r.at.low_ms),
                ms(r.at.high_ms)
            );
            if let Some(why) = &r.refused {
                let _ = writeln!(
                    out,
                    "  {:>6}  {:>6.3}  {:>5}  does not fit: {}",
                    r.at.memory_mb,
                    r.at.vcpu_share,
                    r.at.cores,
                    first_sentence(why)
                );
                continue;
            }
            let _ = writeln!(
                out,
                "  {:>6}  {:>6.3}  {:>5}  {:>32}  {:<9}  {:>9}  {:>13.9}  {:>10.4}",
                r.at.memory_mb,
                r.at.vcpu_share,
                r.at.cores,
                range,
                r.at.bound.name(),
                thousands(r.billed_ms, 0),
                r.cost_usd,
                r.cost_per_million_usd
            );
        }
        match &p.recommendations {
            Some(rec) => {
                let _ = writeln!(out, "\n  recommendations ({}):", g.arch);
                for (name, pick) in [
                    ("cheapest", &rec.cheapest),
                    ("fastest", &rec.fastest),
                    ("balanced", &rec.balanced),
                ] {
                    let _ = writeln!(
                        out,
                        "    {name:<9} {} MB: {} ms, ${:.9} per invocation — {}",
                        pick.memory_mb,
                        ms(pick.predicted_ms),
                        pick.cost_usd,
                        pick.reason
                    );
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "\n  no recommendation: the run fits in none of these sizes"
                );
            }
        }
        out.push('\n');
    }
    out += &compare_arches(predictions, groups);
    out
}

/// For a function predicted on both architectures: the two cheapest and fastest side by side.
fn compare_arches(predictions: &[Prediction], groups: &[Group]) -> String {
    let mut out = String::new();
    for (i, g) in groups.iter().enumerate() {
        if g.arch != Arch::Arm64 {
            continue;
        }
        let Some(j) = groups
            .iter()
            .position(|o| o.function == g.function && o.arch == Arch::X86_64)
        else {
            continue;
        };
        let (Some(a), Some(x)) = (
            &predictions[i].recommendations,
            &predictions[j].recommendations,
        ) else {
            continue;
        };
        let _ = writeln!(
            out,
            "{}: arm64 against x86_64, each from its own runs\n  cheapest: arm64 {} MB ${:.9} vs x86_64 {} MB ${:.9} ({:+.1}%)\n  fastest:  arm64 {} MB {} ms vs x86_64 {} MB {} ms ({:+.1}%)\n",
            g.function,
            a.cheapest.memory_mb,
            a.cheapest.cost_usd,
            x.cheapest.memory_mb,
            x.cheapest.cost_usd,
            (a.cheapest.cost_usd / x.cheapest.cost_usd - 1.0) * 100.0,
            a.fastest.memory_mb,
            ms(a.fastest.predicted_ms),
            x.fastest.memory_mb,
            ms(x.fastest.predicted_ms),
            (a.fastest.predicted_ms / x.fastest.predicted_ms - 1.0) * 100.0,
        );
    }
    out
}

fn first_sentence(s: &str) -> &str {
    s.split(". ").next().unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(list: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("predict").chain(list.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn the_period_is_given_measured_or_lambdas() {
        let none = Options::from(&args(&["r.json"]), &[]);
        assert_eq!(none.period_ms, lm::REPORTED_PERIOD_MS);
        assert!(!none.period_measured && none.period_words().contains("not documented"));
        let measured = Options::from(&args(&["r.json"]), &[Some(19.0), Some(21.0), Some(20.0)]);
        assert_eq!((measured.period_ms, measured.period_measured), (20.0, true));
        assert!(measured.period_words().contains("cpu-timeline"));
        let given = Options::from(&args(&["r.json", "--period-ms", "100"]), &[Some(20.0)]);
        assert_eq!((given.period_ms, given.period_measured), (100.0, false));
        // A cpu-timeline run that was never throttled gives no period, and is said.
        let unthrottled = Options::from(&args(&["r.json"]), &[None, Some(100.0)]);
        assert_eq!(
            (unthrottled.period_ms, unthrottled.period_measured),
            (100.0, true)
        );
        assert!(unthrottled
            .period_words()
            .ends_with("; 1 cpu-timeline run(s) among the inputs found none: never throttled"));
        let none_found = Options::from(&args(&["r.json"]), &[None]);
        assert_eq!(none_found.period_ms, lm::REPORTED_PERIOD_MS);
        assert!(!none_found.period_measured);
    }

    #[test]
    fn arguments_by_hand_and_their_limits() {
        let a = args(&[
            "--at",
            "1024",
            "--duration-ms",
            "10",
            "--cpu-ms",
            "5",
            "--arch",
            "aarch64",
        ]);
        let h = a.hand().unwrap();
        assert_eq!(
            (h.at_mb, h.threads, h.init_ms, h.arch),
            (1024, 1.0, 0.0, Arch::Arm64)
        );
        for bad in [
            vec!["r.json", "--memory", "64"],
            vec!["r.json", "--period-ms", "0"],
            vec!["r.json", "--balanced-weight", "1.5"],
            vec!["r.json", "--max-median-error", "5"],
            vec![
                "--at",
                "1024",
                "--duration-ms",
                "0",
                "--cpu-ms",
                "5",
                "--arch",
                "arm64",
            ],
            vec![
                "r.json",
                "--at",
                "1024",
                "--duration-ms",
                "1",
                "--cpu-ms",
                "1",
                "--arch",
                "arm64",
            ],
        ] {
            let all = std::iter::once("predict").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(all).is_err(), "{bad:?}");
        }
        assert_eq!(
            args(&["r.json", "--memory", "3538,128,128"]).memory,
            Some(MemoryList(vec![128, 3538]))
        );
    }
}
