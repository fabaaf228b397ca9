//! `report`: read results from any mix of sources and write report.md and a self-contained
//! report.html (SVG inlined), one section per workload.

pub mod figures;
pub mod input;
pub mod plot;

use figures::{Plot, Section};
use input::Inputs;
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "\
usage: lambda-probe-tools report <input>... --out <dir>

Inputs, in any mix:
  - a saved `aws lambda invoke` outfile or `lambda-probe run` output (one response);
  - `emulate` JSON lines (failed runs are listed as such);
  - CloudWatch Logs exports of the probe's full-result lines:
    `aws logs filter-log-events --output json` ({\"events\":[{\"message\":…}]}),
    Logs Insights results ([[{\"field\":\"@message\",\"value\":…}]] or
    `aws logs get-query-results` {\"results\":[…]}).
Writes <dir>/report.md, <dir>/report.html (self-contained) and <dir>/svg/*.svg.
Inputs it cannot read are listed in the report with the reason.
";

/// Everything a report shows.
pub struct Report {
    pub inputs: Inputs,
    pub sections: Vec<Section>,
}

pub fn build(paths: &[String]) -> Report {
    let inputs = input::read_all(paths);
    let sections = figures::sections(&inputs.rows);
    Report { inputs, sections }
}

pub fn main(args: &[String]) -> ExitCode {
    let mut paths = Vec::new();
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => match it.next() {
                Some(d) => out = Some(d.clone()),
                None => return usage_error("--out needs a directory"),
            },
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with("--") => return usage_error(&format!("unknown option {s:?}")),
            _ => paths.push(a.clone()),
        }
    }
    let Some(out) = out else {
        return usage_error("--out <dir> is required");
    };
    if paths.is_empty() {
        return usage_error("no inputs");
    }
    let report = build(&paths);
    match write(&report, Path::new(&out)) {
        Ok(()) => {
            let i = &report.inputs;
            eprintln!(
                "{} runs read, {} failed runs, {} inputs not read; wrote {out}/report.md and {out}/report.html",
                i.rows.len(),
                i.failed.len(),
                i.skipped.len()
            );
            if i.rows.is_empty() {
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

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("{msg}\n\n{USAGE}");
    ExitCode::from(2)
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
    }
    let md = markdown(report);
    let html = html(report, &svgs);
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
            for mk in p
                .marks
                .iter()
                .filter(|m| m.series == s.name && m.memory_mb == pt.memory_mb)
            {
                let _ = write!(name, " ({})", mk.label);
            }
            rows.push([
                name,
                pt.memory_mb.to_string(),
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

const HEADERS: [&str; 5] = [
    "Series",
    "Memory (MB)",
    "Runs",
    "Median",
    "Spread (min–max)",
];

fn markdown(r: &Report) -> String {
    let mut md = String::from("# lambda-probe report\n\n");
    summary_md(r, &mut md);
    for s in &r.sections {
        let _ = writeln!(md, "## {}\n", s.workload);
        for n in &s.notes {
            let _ = writeln!(md, "_{n}_\n");
        }
        for p in &s.plots {
            let _ = writeln!(md, "### {}\n", p.title);
            let _ = writeln!(md, "![{}](svg/{}.svg)\n", p.title, p.id);
            let _ = writeln!(md, "{}:\n", p.y_label);
            let _ = writeln!(md, "| {} |", HEADERS.join(" | "));
            let _ = writeln!(md, "|---|---:|---:|---:|---:|");
            for row in table_rows(p) {
                let _ = writeln!(md, "| {} |", row.join(" | "));
            }
            md.push('\n');
            if let Some(n) = &p.note {
                let _ = writeln!(md, "{n}\n");
            }
        }
    }
    md
}

fn summary_md(r: &Report, md: &mut String) {
    let i = &r.inputs;
    let _ = writeln!(
        md,
        "{} runs read; {} failed runs; {} inputs not read; {} other log events (EMF records, platform lines) ignored.\n",
        i.rows.len(),
        i.failed.len(),
        i.skipped.len(),
        i.other_log_events
    );
    if !i.failed.is_empty() {
        md.push_str("## Failed runs\n\n| Input | Memory (MB) | Reason |\n|---|---:|---|\n");
        for f in &i.failed {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                cell(&f.origin),
                f.memory_mb.map(|m| m.to_string()).unwrap_or("–".into()),
                cell(&f.reason)
            );
        }
        md.push('\n');
    }
    if !i.skipped.is_empty() {
        md.push_str("## Inputs not read\n\n| Input | Reason |\n|---|---|\n");
        for s in &i.skipped {
            let _ = writeln!(md, "| {} | {} |", cell(&s.origin), cell(&s.reason));
        }
        md.push('\n');
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(r: &Report, svgs: &[(String, String)]) -> String {
    let mut h = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>lambda-probe report</title>\n<style>\n\
body{font-family:sans-serif;margin:24px;color:#222;max-width:1500px}\n\
.plot{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start;margin-bottom:28px}\n\
.plot svg{flex:0 0 auto;border:1px solid #ddd}\n\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px}\n\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}\n\
.note{color:#555;font-size:13px;max-width:760px}\n\
</style></head><body>\n<h1>lambda-probe report</h1>\n",
    );
    let i = &r.inputs;
    let _ = writeln!(
        h,
        "<p>{} runs read; {} failed runs; {} inputs not read; {} other log events (EMF records, platform lines) ignored.</p>",
        i.rows.len(),
        i.failed.len(),
        i.skipped.len(),
        i.other_log_events
    );
    let _ = writeln!(
        h,
        "<p>Sections: {}</p>",
        r.sections
            .iter()
            .map(|s| format!("<a href=\"#{0}\">{0}</a>", esc(&s.workload)))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    if !i.failed.is_empty() {
        h.push_str("<h2>Failed runs</h2><table><tr><th>Input</th><th>Memory (MB)</th><th>Reason</th></tr>\n");
        for f in &i.failed {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=n>{}</td><td>{}</td></tr>",
                esc(&f.origin),
                f.memory_mb.map(|m| m.to_string()).unwrap_or("–".into()),
                esc(&f.reason)
            );
        }
        h.push_str("</table>\n");
    }
    if !i.skipped.is_empty() {
        h.push_str("<h2>Inputs not read</h2><table><tr><th>Input</th><th>Reason</th></tr>\n");
        for s in &i.skipped {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&s.origin),
                esc(&s.reason)
            );
        }
        h.push_str("</table>\n");
    }
    for s in &r.sections {
        let _ = writeln!(h, "<h2 id=\"{0}\">{0}</h2>", esc(&s.workload));
        for n in &s.notes {
            let _ = writeln!(h, "<p class=note><em>{}</em></p>", esc(n));
        }
        for p in &s.plots {
            let svg = svgs
                .iter()
                .find(|(id, _)| id == &p.id)
                .map(|(_, s)| s.as_str())
                .unwrap_or("");
            // Drop the XML declaration: inline SVG in HTML must not carry one.
            let svg = svg
                .trim_start()
                .strip_prefix("<?xml")
                .map_or(svg, |rest| rest.find("?>").map_or(svg, |e| &rest[e + 2..]));
            let _ = writeln!(
                h,
                "<h3>{}</h3><div class=plot>{svg}<div><table><caption>{}</caption><tr>",
                esc(&p.title),
                esc(&p.y_label)
            );
            for c in HEADERS {
                let _ = write!(h, "<th>{}</th>", esc(c));
            }
            h.push_str("</tr>\n");
            for row in table_rows(p) {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                    esc(&row[0]), row[1], row[2], row[3], row[4]
                );
            }
            h.push_str("</table>");
            if let Some(n) = &p.note {
                let _ = write!(h, "<p class=note>{}</p>", esc(n));
            }
            h.push_str("</div></div>\n");
        }
    }
    h.push_str("</body></html>\n");
    h
}
