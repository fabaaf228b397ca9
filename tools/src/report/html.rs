//! report.html: self-contained (the SVG plots inline), with the tables beside them.

use super::{headers, table_rows, timeline, Report};
use std::fmt::Write as _;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG without its XML declaration: inline SVG in HTML must not carry one.
fn inline(svg: &str) -> &str {
    svg.trim_start()
        .strip_prefix("<?xml")
        .map_or(svg, |rest| rest.find("?>").map_or(svg, |e| &rest[e + 2..]))
}

pub fn render(r: &Report, svgs: &[(String, String)]) -> String {
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
        "<p>{} runs read; {} failed runs; {} inputs not read; {} other log events (EMF records, START/END lines) ignored.</p>",
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
            .map(|s| format!("<a href=\"#{}\">{}</a>", esc(&s.key), esc(&s.workload)))
            .chain((!r.account.lines.is_empty()).then(|| {
                format!(
                    "<a href=\"#{}\">{}</a>",
                    super::account::ANCHOR,
                    esc(super::account::TITLE)
                )
            }))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    if i.duplicate_runs > 0 {
        let _ = writeln!(h, "<p class=note><em>{} runs were read twice (the same response in two inputs): counted once.</em></p>", i.duplicate_runs);
    }
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
        let _ = writeln!(h, "<h2 id=\"{}\">{}</h2>", esc(&s.key), esc(&s.workload));
        for n in &s.notes {
            let _ = writeln!(h, "<p class=note><em>{}</em></p>", esc(n));
        }
        for p in &s.plots {
            let svg = svgs
                .iter()
                .find(|(id, _)| id == &p.id)
                .map(|(_, s)| s.as_str())
                .unwrap_or("");
            let svg = inline(svg);
            let _ = writeln!(
                h,
                "<h3>{}</h3><div class=plot>{svg}<div><table><caption>{}</caption><tr>",
                esc(&p.title),
                esc(&p.y_label)
            );
            for c in headers(p) {
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
        if let Some(t) = &s.timeline {
            let svg = svgs
                .iter()
                .find(|(id, _)| id == &t.id)
                .map(|(_, s)| inline(s))
                .unwrap_or("");
            let _ = writeln!(
                h,
                "<h3>{}</h3><div class=plot>{svg}<div><table><tr>",
                esc(&t.title)
            );
            for c in timeline::table_headers(t) {
                let _ = write!(h, "<th>{}</th>", esc(&c));
            }
            h.push_str("</tr>\n");
            for row in timeline::table_rows(t) {
                let _ =
                    writeln!(
                    h,
                    "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                    esc(&row[0]), row[1], row[2], row[3]
                );
            }
            h.push_str("</table>");
            if let Some(n) = &t.note {
                let _ = write!(h, "<p class=note>{}</p>", esc(n));
            }
            h.push_str("</div></div>\n");
        }
        super::predicted::html(&s.predicted, &mut h);
    }
    let account_svg = r.account.plot.as_ref().and_then(|p| {
        svgs.iter()
            .find(|(id, _)| id == &p.id)
            .map(|(_, s)| s.as_str())
    });
    h.push_str(&super::account::html(&r.account, account_svg));
    h.push_str("</body></html>\n");
    h
}
