//! report.md: the same sections, plots (as linked SVGs) and tables as the HTML.

use super::{headers, table_rows, timeline, Report};
use std::fmt::Write as _;

pub fn render(r: &Report) -> String {
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
            let _ = writeln!(md, "| {} |", headers(p).join(" | "));
            let _ = writeln!(md, "|---|---:|---:|---:|---:|");
            for row in table_rows(p) {
                let _ = writeln!(md, "| {} |", row.join(" | "));
            }
            md.push('\n');
            if let Some(n) = &p.note {
                let _ = writeln!(md, "{n}\n");
            }
        }
        if let Some(t) = &s.timeline {
            let _ = writeln!(md, "### {}\n", t.title);
            let _ = writeln!(md, "![{}](svg/{}.svg)\n", t.title, t.id);
            let _ = writeln!(md, "| {} |", timeline::table_headers(t).join(" | "));
            let _ = writeln!(md, "|---|---:|---:|---:|");
            for row in timeline::table_rows(t) {
                let _ = writeln!(md, "| {} |", row.join(" | "));
            }
            md.push('\n');
            if let Some(n) = &t.note {
                let _ = writeln!(md, "{n}\n");
            }
        }
        super::predicted::markdown(&s.predicted, &mut md);
    }
    md.push_str(&super::account::markdown(&r.account));
    md
}

fn summary_md(r: &Report, md: &mut String) {
    let i = &r.inputs;
    let _ = writeln!(
        md,
        "{} runs read; {} failed runs; {} inputs not read; {} other log events (EMF records, START/END lines) ignored.\n",
        i.rows.len(),
        i.failed.len(),
        i.skipped.len(),
        i.other_log_events
    );
    if i.duplicate_runs > 0 {
        let _ = writeln!(
            md,
            "_{} runs were read twice (the same response in two inputs): counted once._\n",
            i.duplicate_runs
        );
    }
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
