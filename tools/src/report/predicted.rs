//! The prediction beside the measurements: for each function (workload and parameters) and
//! architecture among a section's rows, `predict`'s curve from its median run (dashed, with its
//! range as a band) on the duration and cost plots, and its recommendations in words.
//!
//! A function measured under `emulate` is predicted as `emulate` runs it (the run's CFS period,
//! its cores), so the curve lines up with the emulated points; one measured in Lambda is
//! predicted for Lambda (the reported 20 ms period, Lambda's cores).

use super::input::Row;
use crate::predict::{self, model, recommend::Priced, Group, Options, Prediction};
use lambda_probe::lambda_model::Arch;
use std::fmt::Write as _;

/// A predicted curve on a plot: per memory size, the value and its range.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    pub name: String,
    /// (MB, value, low, high)
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// What a section shows of the predictions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Predicted {
    pub duration: Vec<Curve>,
    pub cost: Vec<Curve>,
    /// One paragraph per function and architecture, with the recommendations; then what
    /// could not be predicted.
    pub text: Vec<Block>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub title: String,
    /// Where it comes from (`predict::describe`).
    pub from: String,
    /// (name, MB, ms, USD, reason)
    pub picks: Vec<(String, u32, f64, f64, String)>,
    pub notes: Vec<String>,
}

fn options_for(g: &Group) -> Options {
    let b = g.base();
    match (b.emulated, b.period_ms) {
        (true, Some(p)) => Options {
            period_ms: p,
            host_cores: Some(b.cores),
            ..Options::lambda()
        },
        _ => Options::lambda(),
    }
}

/// The predictions for one section's rows.
pub fn for_rows(rows: &[&Row]) -> Predicted {
    let owned: Vec<Row> = rows.iter().map(|r| (*r).clone()).collect();
    let inputs = super::input::Inputs {
        rows: owned,
        ..Default::default()
    };
    let (runs, problems) = predict::runs_of(&inputs);
    let groups = predict::group_runs(runs);
    let sizes = model::default_sizes_mb();
    let mut out = Predicted::default();
    for g in &groups {
        let options = options_for(g);
        let Prediction {
            rows,
            recommendations,
        } = g.predict(&sizes, &options);
        let name = format!("{} predicted · {}", g.arch, g.label);
        let fits: Vec<&Priced> = rows.iter().filter(|r| r.refused.is_none()).collect();
        out.duration.push(Curve {
            name: name.clone(),
            points: fits
                .iter()
                .map(|r| {
                    (
                        r.at.memory_mb as f64,
                        r.at.predicted_ms,
                        r.at.low_ms,
                        r.at.high_ms,
                    )
                })
                .collect(),
        });
        out.cost.push(Curve {
            name,
            points: fits
                .iter()
                .map(|r| {
                    let usd = |ms| {
                        lambda_probe::lambda_model::invocation_cost(g.arch, r.at.memory_mb, ms, 0.0)
                            .total_usd
                    };
                    (
                        r.at.memory_mb as f64,
                        r.cost_usd,
                        usd(r.at.low_ms),
                        usd(r.at.high_ms),
                    )
                })
                .collect(),
        });
        let mut notes = Vec::new();
        if let Some(m) = rows
            .iter()
            .filter(|r| r.refused.is_some())
            .map(|r| r.at.memory_mb)
            .max()
        {
            notes.push(format!(
                "Does not fit in memory up to {m} MB (the probe's memory guard would refuse it)."
            ));
        }
        for a in Arch::ALL {
            if !groups
                .iter()
                .any(|o| o.function == g.function && o.arch == a)
            {
                notes.push(format!(
                    "{a}: not predicted (no {a} run of this function among the inputs)."
                ));
            }
        }
        out.text.push(Block {
            title: format!("{} on {}", g.label, g.arch),
            from: predict::describe_with(g, &options, false),
            picks: recommendations
                .map(|r| {
                    [
                        ("cheapest", r.cheapest),
                        ("fastest", r.fastest),
                        ("balanced", r.balanced),
                    ]
                    .into_iter()
                    .map(|(n, p)| {
                        (
                            n.to_string(),
                            p.memory_mb,
                            p.predicted_ms,
                            p.cost_usd,
                            p.reason,
                        )
                    })
                    .collect()
                })
                .unwrap_or_default(),
            notes,
        });
    }
    if !problems.is_empty() {
        out.text.push(Block {
            title: "not predicted".into(),
            from: String::new(),
            picks: vec![],
            notes: problems,
        });
    }
    out
}

/// The section's predictions as markdown.
pub fn markdown(p: &Predicted, md: &mut String) {
    if p.text.is_empty() {
        return;
    }
    md.push_str("### Predicted from one run\n\n");
    md.push_str("Dashed lines on the duration and cost plots, with their range as a band (`lambda-probe-tools predict`).\n\n");
    for b in &p.text {
        let _ = writeln!(md, "**{}**\n", b.title);
        if !b.from.is_empty() {
            let _ = writeln!(md, "```\n{}```\n", b.from);
        }
        for (name, mb, ms, usd, reason) in &b.picks {
            let _ = writeln!(
                md,
                "- {name}: {mb} MB, {} ms, ${usd:.9} per invocation: {reason}",
                predict::ms(*ms)
            );
        }
        for n in &b.notes {
            let _ = writeln!(md, "- {n}");
        }
        md.push('\n');
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The section's predictions as HTML.
pub fn html(p: &Predicted, h: &mut String) {
    if p.text.is_empty() {
        return;
    }
    h.push_str("<h3>Predicted from one run</h3><p class=note>Dashed lines on the duration and cost plots, with their range as a band (<code>lambda-probe-tools predict</code>).</p>\n");
    for b in &p.text {
        let _ = writeln!(h, "<p><b>{}</b></p>", esc(&b.title));
        if !b.from.is_empty() {
            let _ = writeln!(h, "<pre>{}</pre>", esc(&b.from));
        }
        h.push_str("<ul>");
        for (name, mb, ms, usd, reason) in &b.picks {
            let _ = write!(
                h,
                "<li>{name}: {mb} MB, {} ms, ${usd:.9} per invocation: {}</li>",
                predict::ms(*ms),
                esc(reason)
            );
        }
        for n in &b.notes {
            let _ = write!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul>\n");
    }
}
