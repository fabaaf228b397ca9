//! `predict --check`: the prediction against measured runs at other sizes. The measured runs
//! are only compared with, never used to make the prediction.

use super::{ms, runs, Group, Options};
use lambda_probe::lambda_model::{self as lm, Arch};
use lambda_probe::measure::stats::{median, percentile, round};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write as _;

/// A measured quota this close to Lambda's share at its size is Lambda's share.
const SAME_SHARE: f64 = 0.01;

/// What one measured invocation did.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ran {
        wall_ms: f64,
        cpu_ms: f64,
        /// The quota and cores it ran with, when it read them.
        quota_vcpu: Option<f64>,
        cores: Option<u32>,
    },
    /// It answered with an error (`OverBudget` at a size too small), or died.
    DidNotRun(String),
}

/// One measured invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub origin: String,
    /// The function it ran; for an answer without a result (an error), the function of the
    /// other runs of its file, when they all ran one.
    pub function: Option<String>,
    pub arch: Option<Arch>,
    pub memory_mb: Option<u32>,
    pub cold: Option<bool>,
    pub outcome: Outcome,
}

/// Every measured invocation in the files, and what could not be read.
pub fn read_measured(paths: &[String]) -> (Vec<Point>, Vec<String>) {
    let mut points = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let inputs = crate::report::input::read_all(std::slice::from_ref(path));
        problems.extend(
            inputs
                .skipped
                .iter()
                .map(|s| format!("{}: {}", s.origin, s.reason)),
        );
        let mut mine = Vec::new();
        for row in &inputs.rows {
            let (r, env) = (&row.response, &row.response.environment);
            mine.push(Point {
                origin: row.origin.clone(),
                function: Some(runs::function_key(&r.result)),
                arch: Some(row.arch),
                memory_mb: Some(row.memory_mb),
                cold: Some(env.invocation.cold_start),
                outcome: if r.truncated {
                    Outcome::DidNotRun("stopped early (truncated)".into())
                } else {
                    Outcome::Ran {
                        wall_ms: r.result.common().wall_ms,
                        cpu_ms: r.result.common().cpu_ms,
                        quota_vcpu: env.cgroup.cpu_quota_vcpu,
                        cores: env.affinity_cores.map(|c| c as u32),
                    }
                },
            });
        }
        for f in &inputs.failed {
            mine.push(Point {
                origin: f.origin.clone(),
                function: None,
                arch: None,
                memory_mb: f.memory_mb,
                cold: None,
                outcome: Outcome::DidNotRun(f.reason.clone()),
            });
        }
        // Errors carry no parameters: they belong to the one function the file's runs ran.
        let mut functions: Vec<(String, Option<Arch>)> = mine
            .iter()
            .filter_map(|p| p.function.clone().map(|f| (f, p.arch)))
            .collect();
        functions.sort();
        functions.dedup();
        if let [(only, arch)] = functions.as_slice() {
            for p in mine.iter_mut().filter(|p| p.function.is_none()) {
                p.function = Some(only.clone());
                p.arch = *arch;
            }
        }
        points.extend(mine);
    }
    (points, problems)
}

/// One memory size of a check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub memory_mb: u32,
    /// Runs that ran, and their median wall.
    pub runs: usize,
    pub measured_ms: Option<f64>,
    pub predicted_ms: f64,
    pub low_ms: f64,
    pub high_ms: f64,
    /// (predicted − measured) ÷ measured, in %.
    pub error_pct: Option<f64>,
    /// Measured runs inside [low, high].
    pub inside: usize,
    /// The measured runs' CPU time over the base run's (median): not used by the prediction,
    /// shown to tell an error of the model from the same work taking more or less CPU.
    pub cpu_vs_base: Option<f64>,
    /// The error had the base run's phases taken the measured runs' CPU time (`cpu_vs_base`
    /// times theirs): the model's own error, without the CPU time's drift. A diagnosis, not a
    /// prediction (it uses the measured runs).
    pub error_at_their_cpu_pct: Option<f64>,
    /// Runs that did not run (errors), and whether the prediction said so.
    pub did_not_run: usize,
    pub predicted_refused: bool,
    /// Why these runs are left out of the statistics (a host that could not give Lambda's
    /// share or cores at this size).
    pub excluded: Option<String>,
}

/// One function's check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionCheck {
    pub function: String,
    pub arch: Arch,
    pub rows: Vec<Row>,
    pub median_abs_error_pct: Option<f64>,
    pub p90_abs_error_pct: Option<f64>,
    /// The same, for `error_at_their_cpu_pct` (a diagnosis).
    pub median_abs_error_at_their_cpu_pct: Option<f64>,
    pub inside: usize,
    pub measured_runs: usize,
    /// Sizes where the run did not fit as predicted, out of sizes where either said it would not.
    pub fit_agreed: usize,
    pub fit_compared: usize,
    #[serde(skip)]
    pub describe: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub functions: Vec<FunctionCheck>,
    /// Measured runs that match no predicted function.
    pub unmatched: usize,
}

/// Compares each group with the measured runs of the same function, architecture and kind
/// (cold or warm), size by size.
pub fn check(groups: &[Group], points: &[Point], options: &Options) -> Report {
    let mut used = vec![false; points.len()];
    let mut functions = Vec::new();
    for g in groups {
        let bases: Vec<&str> = g.bases.iter().map(|b| b.origin.as_str()).collect();
        let same = |p: &Point| {
            p.function.as_deref() == Some(g.function.as_str())
                && p.arch.map_or(true, |a| a == g.arch)
                && p.cold.map_or(true, |c| c == g.cold)
        };
        for (i, _) in points.iter().enumerate().filter(|(_, p)| same(p)) {
            used[i] = true;
        }
        // The runs the prediction is made from are never compared with it.
        let mine: Vec<(usize, &Point)> = points
            .iter()
            .enumerate()
            .filter(|(_, p)| same(p) && !bases.contains(&p.origin.as_str()))
            .collect();
        let mut sizes: Vec<u32> = mine.iter().filter_map(|(_, p)| p.memory_mb).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let threads_needed = g
            .base()
            .works
            .iter()
            .map(|w| w.threads.ceil() as u32)
            .max()
            .unwrap_or(1);
        let rows: Vec<Row> = sizes
            .iter()
            .map(|&m| {
                let at_m: Vec<&Point> = mine
                    .iter()
                    .map(|(_, p)| *p)
                    .filter(|p| p.memory_mb == Some(m))
                    .collect();
                row(g, m, &at_m, threads_needed, options)
            })
            .collect();
        let errors: Vec<f64> = rows
            .iter()
            .filter(|r| r.excluded.is_none())
            .filter_map(|r| r.error_pct.map(f64::abs))
            .collect();
        let at_cpu: Vec<f64> = rows
            .iter()
            .filter(|r| r.excluded.is_none())
            .filter_map(|r| r.error_at_their_cpu_pct.map(f64::abs))
            .collect();
        let counted = rows.iter().filter(|r| r.excluded.is_none());
        let fit_rows: Vec<&Row> = rows
            .iter()
            .filter(|r| r.did_not_run > 0 || r.predicted_refused)
            .collect();
        functions.push(FunctionCheck {
            function: g.function.clone(),
            arch: g.arch,
            median_abs_error_pct: median(&errors).map(|v| round(v, 2)),
            p90_abs_error_pct: percentile(&errors, 90.0).map(|v| round(v, 2)),
            median_abs_error_at_their_cpu_pct: median(&at_cpu).map(|v| round(v, 2)),
            inside: counted.clone().map(|r| r.inside).sum(),
            measured_runs: counted.map(|r| r.runs).sum(),
            fit_agreed: fit_rows
                .iter()
                .filter(|r| (r.did_not_run > 0) == r.predicted_refused)
                .count(),
            fit_compared: fit_rows.len(),
            describe: super::describe(g, options),
            rows,
        });
    }
    Report {
        functions,
        unmatched: used.iter().filter(|u| !**u).count(),
    }
}

fn row(g: &Group, m: u32, at_m: &[&Point], threads_needed: u32, options: &Options) -> Row {
    let at = g.at(m, options);
    let walls: Vec<f64> = at_m
        .iter()
        .filter_map(|p| match p.outcome {
            Outcome::Ran { wall_ms, .. } => Some(wall_ms),
            Outcome::DidNotRun(_) => None,
        })
        .collect();
    let measured_ms = median(&walls);
    let cpus: Vec<f64> = at_m
        .iter()
        .filter_map(|p| match p.outcome {
            Outcome::Ran { cpu_ms, .. } => Some(cpu_ms),
            Outcome::DidNotRun(_) => None,
        })
        .collect();
    let base_cpu = g.base().cpu_ms();
    let cpu_ratio = median(&cpus)
        .filter(|_| base_cpu > 0.0)
        .map(|c| c / base_cpu);
    // A run that did not get Lambda's share, or fewer cores than the work could use, is not
    // a measurement of Lambda at this size.
    let share = lm::vcpu_share(m);
    let cores_needed = threads_needed
        .min(lm::visible_cores(m))
        .min(options.host_cores.unwrap_or(u32::MAX));
    let excluded = at_m.iter().find_map(|p| match p.outcome {
        Outcome::Ran {
            quota_vcpu: Some(q),
            ..
        } if (q - share).abs() > share * SAME_SHARE => Some(format!(
            "ran with {q:.3} vCPU where Lambda gives {share:.3} (the host could not give more)"
        )),
        Outcome::Ran { cores: Some(c), .. } if c < cores_needed => Some(format!(
            "ran on {c} cores where the work could use {cores_needed}"
        )),
        _ => None,
    });
    Row {
        memory_mb: m,
        runs: walls.len(),
        measured_ms: measured_ms.map(|v| round(v, 3)),
        predicted_ms: round(at.predicted_ms, 3),
        low_ms: round(at.low_ms, 3),
        high_ms: round(at.high_ms, 3),
        error_pct: measured_ms
            .filter(|v| *v > 0.0)
            .map(|v| round((at.predicted_ms - v) / v * 100.0, 2)),
        inside: walls
            .iter()
            .filter(|w| at.low_ms <= **w && **w <= at.high_ms)
            .count(),
        cpu_vs_base: cpu_ratio.map(|c| round(c, 3)),
        error_at_their_cpu_pct: cpu_ratio
            .zip(measured_ms.filter(|v| *v > 0.0))
            .map(|(c, v)| {
                let scaled: Vec<super::model::Work> = g
                    .base()
                    .works
                    .iter()
                    .map(|w| super::model::Work {
                        cpu_ms: w.cpu_ms * c,
                        ..w.clone()
                    })
                    .collect();
                let target = super::model::Target {
                    memory_mb: m,
                    period_ms: options.period_ms,
                    max_cores: options.host_cores,
                };
                let p = super::model::predict(&scaled, &target).predicted_ms;
                round((p - v) / v * 100.0, 2)
            }),
        did_not_run: at_m.len() - walls.len(),
        predicted_refused: g.refused_at(m).is_some(),
        excluded,
    }
}

/// Whether every function met the bounds; the ones that did not, in words.
pub fn verdict(
    report: &Report,
    max_median_error_pct: Option<f64>,
    min_inside_pct: Option<f64>,
) -> Result<(), String> {
    let mut failures = Vec::new();
    if report.functions.iter().all(|f| f.measured_runs == 0) {
        failures.push("no measured run matches a predicted function (same workload, parameters, architecture, and cold or warm)".to_string());
    }
    for f in &report.functions {
        if let (Some(bound), Some(e)) = (max_median_error_pct, f.median_abs_error_pct) {
            if e > bound {
                failures.push(format!(
                    "{} on {}: median absolute error {e:.2}% > {bound}%",
                    f.function, f.arch
                ));
            }
        }
        if let Some(bound) = min_inside_pct {
            let pct = inside_pct(f);
            if pct < bound {
                failures.push(format!(
                    "{} on {}: {} of {} measured runs inside [low, high] ({pct:.0}% < {bound}%)",
                    f.function, f.arch, f.inside, f.measured_runs
                ));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

fn inside_pct(f: &FunctionCheck) -> f64 {
    if f.measured_runs == 0 {
        0.0
    } else {
        f.inside as f64 / f.measured_runs as f64 * 100.0
    }
}

pub fn json_lines(report: &Report) -> String {
    let mut out = String::new();
    for f in &report.functions {
        for r in &f.rows {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["function"] = json!(f.function);
            v["arch"] = json!(f.arch);
            let _ = writeln!(out, "{}", json!({ "check": v }));
        }
        let _ = writeln!(
            out,
            "{}",
            json!({"check_summary": {
                "function": f.function,
                "arch": f.arch,
                "median_abs_error_pct": f.median_abs_error_pct,
                "p90_abs_error_pct": f.p90_abs_error_pct,
                "median_abs_error_at_their_cpu_pct": f.median_abs_error_at_their_cpu_pct,
                "inside": f.inside,
                "measured_runs": f.measured_runs,
                "fit_agreed": f.fit_agreed,
                "fit_compared": f.fit_compared,
            }})
        );
    }
    out
}

pub fn table(report: &Report, problems: &[String]) -> String {
    let mut out = String::new();
    for f in &report.functions {
        out += &f.describe;
        let _ = writeln!(
            out,
            "\n  {:>6}  {:>22}  {:>12}  {:>23}  {:>8}  {:>6}  {:>6}  {:>10}  note",
            "MB",
            "measured ms (runs)",
            "predicted ms",
            "low – high",
            "error",
            "inside",
            "CPU ×",
            "at its CPU"
        );
        for r in &f.rows {
            let measured = r
                .measured_ms
                .map(|v| format!("{} ({})", ms(v), r.runs))
                .unwrap_or_else(|| "-".into());
            let mut note = Vec::new();
            if r.did_not_run > 0 {
                note.push(format!(
                    "{} did not run; {}",
                    r.did_not_run,
                    if r.predicted_refused {
                        "predicted: does not fit"
                    } else {
                        "predicted to fit"
                    }
                ));
            } else if r.predicted_refused {
                note.push("predicted not to fit, but ran".into());
            }
            if let Some(e) = &r.excluded {
                note.push(format!("not counted: {e}"));
            }
            let _ = writeln!(
                out,
                "  {:>6}  {:>22}  {:>12}  {:>23}  {:>8}  {:>6}  {:>6}  {:>10}  {}",
                r.memory_mb,
                measured,
                ms(r.predicted_ms),
                format!("{} – {}", ms(r.low_ms), ms(r.high_ms)),
                r.error_pct
                    .map(|e| format!("{e:+.1}%"))
                    .unwrap_or_else(|| "-".into()),
                if r.runs > 0 {
                    format!("{}/{}", r.inside, r.runs)
                } else {
                    "-".into()
                },
                r.cpu_vs_base
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_else(|| "-".into()),
                r.error_at_their_cpu_pct
                    .map(|e| format!("{e:+.1}%"))
                    .unwrap_or_else(|| "-".into()),
                note.join("; ")
            );
        }
        let pct = |v: Option<f64>| v.map(|v| format!("{v:.1}%")).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "\n  median |error| {}, p90 |error| {} (at their CPU: median {}); inside [low, high]: {} of {} measured runs ({:.0}%){}\n",
            pct(f.median_abs_error_pct),
            pct(f.p90_abs_error_pct),
            pct(f.median_abs_error_at_their_cpu_pct),
            f.inside,
            f.measured_runs,
            inside_pct(f),
            if f.fit_compared > 0 {
                format!(
                    "; memory fit as predicted at {} of {} sizes where it mattered",
                    f.fit_agreed, f.fit_compared
                )
            } else {
                String::new()
            }
        );
    }
    if report.functions.iter().any(|f| f.measured_runs > 0) {
        out.push_str(
            "CPU ×: the measured runs' CPU time over the base run's (median), not used by the \
             prediction: far from 1, the same work took more or less CPU there (contention, \
             caches, the host), which no memory model can see. At its CPU: the error had the \
             base run's work taken that CPU time (a diagnosis of the model, not a prediction).\n",
        );
    }
    if report.unmatched > 0 {
        let _ = writeln!(
            out,
            "{} measured run(s) match no predicted function (another workload, parameters, architecture, or cold/warm)",
            report.unmatched
        );
    }
    for p in problems {
        let _ = writeln!(out, "not read: {p}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::model::Work;
    use crate::predict::Base;

    /// One thread, 1,000 ms of CPU, nothing else: C ÷ min(s, 1).
    fn group() -> Group {
        Group {
            function: "f".into(),
            label: "f".into(),
            workload: "pbkdf2".into(),
            arch: Arch::X86_64,
            cold: true,
            init_ms: 0.0,
            bases: vec![Base {
                origin: "base".into(),
                memory_mb: 1024,
                cores: 2,
                emulated: true,
                period_ms: Some(100.0),
                share_from: "test".into(),
                works: vec![Work::cpu_only(1000.0, 1.0)],
                results: None,
                page_bytes: 4096,
            }],
        }
    }

    fn point(memory_mb: u32, wall_ms: f64, quota_vcpu: Option<f64>) -> Point {
        Point {
            origin: format!("m{memory_mb}"),
            function: Some("f".into()),
            arch: Some(Arch::X86_64),
            memory_mb: Some(memory_mb),
            cold: Some(true),
            outcome: Outcome::Ran {
                wall_ms,
                cpu_ms: 1000.0,
                quota_vcpu,
                cores: Some(2),
            },
        }
    }

    fn options() -> Options {
        Options {
            period_ms: 100.0,
            period_measured: false,
            host_cores: Some(2),
            ..Options::lambda()
        }
    }

    #[test]
    fn errors_inside_and_the_verdict() {
        let g = group();
        let at = |m| g.at(m, &options());
        let p512 = at(512).predicted_ms;
        let points = vec![
            // 512 MB: exactly as predicted, twice; 1,769 MB: 10% slow.
            point(512, p512, Some(lm::vcpu_share(512))),
            point(512, p512, Some(lm::vcpu_share(512))),
            point(1769, 1100.0, Some(1.0)),
            // Another function's run, and a run that did not get Lambda's share: not counted.
            Point {
                function: Some("g".into()),
                ..point(512, 1.0, None)
            },
            point(3538, 5000.0, Some(1.5)),
            // The base itself is never compared with.
            Point {
                origin: "base".into(),
                ..point(1024, 1.0, None)
            },
        ];
        let r = check(std::slice::from_ref(&g), &points, &options());
        assert_eq!(r.unmatched, 1);
        let f = &r.functions[0];
        assert_eq!(
            f.rows.iter().map(|r| r.memory_mb).collect::<Vec<_>>(),
            vec![512, 1769, 3538]
        );
        assert_eq!(f.rows[0].error_pct, Some(0.0));
        assert_eq!(f.rows[0].inside, 2);
        assert_eq!(f.rows[1].error_pct, Some(round(-100.0 / 11.0, 2)));
        assert_eq!(f.rows[1].inside, 0);
        assert!(f.rows[2]
            .excluded
            .as_deref()
            .unwrap()
            .contains("1.500 vCPU"));
        assert_eq!((f.inside, f.measured_runs), (2, 3));
        assert_eq!(f.median_abs_error_pct, Some(round(100.0 / 11.0 / 2.0, 2)));
        assert!(verdict(&r, Some(5.0), Some(50.0)).is_ok());
        let e = verdict(&r, Some(4.0), Some(90.0)).unwrap_err();
        assert!(
            e.contains("median absolute error") && e.contains("2 of 3"),
            "{e}"
        );
        // No measured run of the function at all is a failure too.
        let none = check(&[g], &[], &options());
        assert!(verdict(&none, None, None)
            .unwrap_err()
            .contains("no measured run"));
    }

    #[test]
    fn runs_that_did_not_run_are_compared_with_the_memory_fit() {
        let g = group();
        let points = vec![Point {
            outcome: Outcome::DidNotRun("OverBudget: too big".into()),
            ..point(128, 0.0, None)
        }];
        let r = check(&[g], &points, &options());
        let row = &r.functions[0].rows[0];
        assert_eq!(
            (row.runs, row.did_not_run, row.predicted_refused),
            (0, 1, false)
        );
        assert_eq!(row.error_pct, None);
        assert_eq!(
            (r.functions[0].fit_agreed, r.functions[0].fit_compared),
            (0, 1)
        );
        assert!(table(&r, &[]).contains("1 did not run; predicted to fit"));
    }
}
