//! `report`: read results from any mix of sources and write report.md and a self-contained
//! report.html (SVG inlined), one section per workload.

pub mod account;
pub mod figures;
mod html;
pub mod input;
mod markdown;
pub mod plot;
pub mod predicted;
pub mod report_line;
pub mod timeline;

use figures::{Plot, Section};
use input::Inputs;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

/// Plots and tables across memory sizes from any mix of results.
///
/// Inputs, in any mix: a saved `aws lambda invoke` outfile or `lambda-probe run` output (one
/// response); `emulate` JSON lines (failed runs are listed as such); CloudWatch Logs exports of
/// the probe's full-result lines (`aws logs filter-log-events --output json`, Logs Insights
/// results as `aws logs get-query-results` or the console's export) and Lambda's REPORT lines
/// in them or in `make invoke`'s saved log tail (out/invoke-*-tail.json) or a log saved as text.
/// Writes <dir>/report.md,
/// <dir>/report.html (self-contained) and <dir>/svg/*.svg. Inputs it cannot read are listed in
/// the report with the reason.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Result files.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// The directory to write the report into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: String,
}

/// Everything a report shows.
pub struct Report {
    pub inputs: Inputs,
    pub sections: Vec<Section>,
    /// Lambda's REPORT lines, per architecture, memory size and workload.
    pub account: account::Account,
}

pub fn build(paths: &[String]) -> Report {
    let inputs = input::read_all(paths);
    let sections = figures::sections(&inputs.rows);
    let account = account::account(&inputs);
    Report {
        inputs,
        sections,
        account,
    }
}

pub fn main(args: Args) -> ExitCode {
    let report = build(&args.inputs);
    let out = &args.out;
    match write(&report, Path::new(out)) {
        Ok(()) => {
            let i = &report.inputs;
            eprintln!(
                "{} runs read, {} failed runs, {} inputs not read; wrote {out}/report.md and {out}/report.html",
                i.rows.len(),
                i.failed.len(),
                i.skipped.len()
            );
            if !report.account.lines.is_empty() {
                eprintln!("{} REPORT lines read", report.account.lines.len());
            }
            if i.rows.is_empty() && report.account.lines.is_empty() {
                eprintln!("no results among the inputs: the report has no plots");
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::from(1)
        }
    }
}

/// Write report.md, report.html and svg/<id>.svg into `dir` (created if missing).
pub fn write(report: &Report, dir: &Path) -> Result<(), String> {
    let svg_dir = dir.join("svg");
    std::fs::create_dir_all(&svg_dir)
        .map_err(|e| format!("cannot create {}: {e}", svg_dir.display()))?;
    let mut svgs = Vec::new();
    for s in &report.sections {
        for p in &s.plots {
            let svg = plot::svg(p)?;
            let path = svg_dir.join(format!("{}.svg", p.id));
            std::fs::write(&path, &svg)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            svgs.push((p.id.clone(), svg));
        }
        if let Some(t) = &s.timeline {
            let svg = timeline::svg(t)?;
            let path = svg_dir.join(format!("{}.svg", t.id));
            std::fs::write(&path, &svg)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            svgs.push((t.id.clone(), svg));
        }
    }
    if let Some(p) = &report.account.plot {
        let svg = plot::svg(p)?;
        let path = svg_dir.join(format!("{}.svg", p.id));
        std::fs::write(&path, &svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        svgs.push((p.id.clone(), svg));
    }
    let md = markdown::render(report);
    let html = html::render(report, &svgs);
    for (name, text) in [("report.md", md), ("report.html", html)] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

fn fmt_num(v: f64, decimals: usize) -> String {
    format!("{v:.*}", decimals)
}

/// The table beside a plot: one row per series × memory size.
pub fn table_rows(p: &Plot) -> Vec<[String; 5]> {
    let mut rows = Vec::new();
    for s in &p.series {
        for pt in &s.points {
            let mut name = s.name.clone();
            for mk in p.marks.iter().filter(|m| m.series == s.name && m.x == pt.x) {
                let _ = write!(name, " ({})", mk.label);
            }
            rows.push([
                name,
                pt.x.to_string(),
                pt.n.to_string(),
                fmt_num(pt.median, p.decimals),
                if pt.n > 1 {
                    format!(
                        "{}–{}",
                        fmt_num(pt.min, p.decimals),
                        fmt_num(pt.max, p.decimals)
                    )
                } else {
                    "–".into()
                },
            ]);
        }
    }
    rows
}

/// The columns of a plot's table.
pub fn headers(p: &Plot) -> [&'static str; 5] {
    [
        "Series",
        p.x_axis.heading(),
        "Runs",
        "Median",
        "Spread (min–max)",
    ]
}
