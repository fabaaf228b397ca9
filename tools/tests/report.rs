//! `lambda-probe-tools report` on committed fixtures of real probe output (see
//! tests/fixtures/report/README.md): every section, SVGs that parse with the right number of
//! series, tables that hold the fixtures' numbers, and CloudWatch exports read back into the same
//! rows as the responses they were logged from.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report")
}

fn fixture(name: &str) -> String {
    fixtures().join(name).to_string_lossy().into_owned()
}

/// A fresh directory under the system temp dir, unique per test.
fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lp-report-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn report(inputs: &[String], out: &Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_lambda-probe-tools"))
        .arg("report")
        .args(inputs)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every response in the response fixtures (single files and JSON lines).
fn fixture_responses() -> Vec<Value> {
    let mut v = Vec::new();
    for w in ["env", "pbkdf2", "alloc", "memset"] {
        let text = std::fs::read_to_string(fixture(&format!("run-{w}-128.json"))).unwrap();
        v.push(serde_json::from_str(&text).unwrap());
    }
    let text = std::fs::read_to_string(fixture("responses.jsonl")).unwrap();
    v.extend(
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()),
    );
    v
}

fn response_inputs() -> Vec<String> {
    let mut i: Vec<String> = ["env", "pbkdf2", "alloc", "memset"]
        .iter()
        .map(|w| fixture(&format!("run-{w}-128.json")))
        .collect();
    i.push(fixture("responses.jsonl"));
    i
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// workload → memory → values of `f`.
fn by_memory(f: impl Fn(&Value) -> Option<f64>, workload: &str) -> BTreeMap<u64, Vec<f64>> {
    let mut m: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for r in fixture_responses() {
        if r["workload"] == workload {
            if let Some(v) = f(&r) {
                m.entry(r["environment"]["memory_mb"].as_u64().unwrap())
                    .or_default()
                    .push(v);
            }
        }
    }
    m
}

/// The table row the report must hold for these values.
fn table_row(series: &str, memory: u64, vs: &[f64], decimals: usize) -> String {
    let min = vs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let spread = if vs.len() > 1 {
        format!("{min:.decimals$}–{max:.decimals$}")
    } else {
        "–".into()
    };
    format!(
        "| {series} | {memory} | {} | {:.decimals$} | {spread} |",
        vs.len(),
        median(vs.to_vec())
    )
}

fn polylines(svg_path: &Path) -> usize {
    let text =
        std::fs::read_to_string(svg_path).unwrap_or_else(|e| panic!("{}: {e}", svg_path.display()));
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not XML: {e}", svg_path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "polyline")
        // Axes and ticks are opaque black polylines; series, references and markers are not.
        .filter(|n| {
            !(n.attribute("stroke") == Some("#000000") && n.attribute("opacity") == Some("1"))
        })
        .count()
}

#[test]
fn fixture_report_has_every_section_valid_svgs_and_the_fixture_numbers() {
    let out = temp_dir("fixture");
    let bad = out.join("not-json.txt");
    std::fs::write(&bad, "START RequestId: x\nnot json either\n").unwrap();
    let mut inputs = response_inputs();
    inputs.push(fixture("emulate.jsonl"));
    inputs.push(bad.to_string_lossy().into_owned());
    inputs.push(out.join("missing.json").to_string_lossy().into_owned());
    let (ok, stderr) = report(&inputs, &out);
    assert!(ok, "{stderr}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();

    for w in ["env", "pbkdf2", "alloc", "memset", "io"] {
        assert!(md.contains(&format!("\n## {w}\n")), "no {w} section:\n{md}");
        assert!(html.contains(&format!("<h2 id=\"{w}\">{w}</h2>")));
    }
    assert!(md.contains("No io results among the inputs"));
    // Unreadable inputs are listed with their reason.
    assert!(md.contains("## Inputs not read"));
    assert!(md.contains("not-json.txt:1 | not JSON"), "{md}");
    assert!(md.contains("missing.json | cannot read the file"), "{md}");

    // The emulate fixture: its failed lines are listed, the rest are emulated series.
    let emulate_text = std::fs::read_to_string(fixture("emulate.jsonl")).unwrap();
    let emulate: Vec<Value> = emulate_text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed = emulate
        .iter()
        .filter(|l| l["emulate_run"]["status"] != "ok")
        .count();
    assert!(failed > 0, "the emulate fixture should hold a failed run");
    assert!(md.contains("## Failed runs"));
    assert_eq!(md.matches("emulate.jsonl:").count(), failed, "{md}");
    let emulated_ok = emulate
        .iter()
        .any(|l| l["emulate_run"]["status"] == "ok" && l["emulated"].is_object());
    // Series per plot: x86_64 real (run), plus x86_64 emulated for the workload emulate ran.
    let emulated_workload = emulate
        .iter()
        .find(|l| l["emulate_run"]["status"] == "ok")
        .and_then(|l| l["workload"].as_str())
        .unwrap_or("");
    let s = |w: &str| 1 + usize::from(emulated_ok && w == emulated_workload);
    let expected = [
        ("env-duration", s("env")),
        ("env-cost", s("env")),
        ("pbkdf2-duration", s("pbkdf2")),
        ("pbkdf2-vcpu", s("pbkdf2") + 1),
        ("pbkdf2-speedup", s("pbkdf2") + 1 + 4),
        ("pbkdf2-iterations", s("pbkdf2")),
        ("pbkdf2-cost", s("pbkdf2")),
        ("alloc-duration", s("alloc")),
        ("alloc-vcpu", s("alloc") + 1),
        ("alloc-touch", 2 * s("alloc")),
        ("alloc-pages", 2 * s("alloc")),
        ("alloc-cost", s("alloc")),
        ("memset-duration", s("memset")),
        ("memset-vcpu", s("memset") + 1),
        ("memset-bandwidth", s("memset")),
        ("memset-cost", s("memset")),
    ];
    let mut found: Vec<String> = std::fs::read_dir(out.join("svg"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut want: Vec<String> = expected.iter().map(|(id, _)| format!("{id}.svg")).collect();
    want.sort();
    assert_eq!(found, want);
    for (id, lines) in expected {
        assert_eq!(
            polylines(&out.join(format!("svg/{id}.svg"))),
            lines,
            "{id}: series + reference lines"
        );
    }
    // Self-contained: the HTML inlines every plot.
    assert_eq!(html.matches("<svg").count(), expected.len());
    assert!(!html.contains("<img"), "report.html must not link files");

    // Tables hold the fixture's numbers: median and min–max per memory size.
    for (m, vs) in by_memory(|r| r["summary"]["wall_ms"].as_f64(), "pbkdf2") {
        let row = table_row("x86_64 real", m, &vs, 3);
        assert!(md.contains(&row), "missing {row}\n{md}");
    }
    for (m, vs) in by_memory(|r| r["summary"]["gb_per_s_median"].as_f64(), "memset") {
        let row = table_row("x86_64 real", m, &vs, 2);
        assert!(md.contains(&row), "missing {row}");
    }
    let speedup = |r: &Value| {
        r["summary"]["levels"]
            .as_array()?
            .iter()
            .filter(|l| l["threads"].as_u64() > Some(1))
            .filter_map(|l| l["speedup"].as_f64())
            .reduce(f64::max)
    };
    for (m, vs) in by_memory(speedup, "pbkdf2") {
        let row = table_row("x86_64 real", m, &vs, 2);
        assert!(md.contains(&row), "missing {row}");
    }
    let first_touch = |r: &Value| r["summary"]["passes"][0]["us_per_mib_median"].as_f64();
    for (m, vs) in by_memory(first_touch, "alloc") {
        let row = table_row("x86_64 real · first touch", m, &vs, 1);
        assert!(md.contains(&row), "missing {row}");
    }
    // Cost: billed ms = wall ms rounded up; x86_64 price; cheapest is marked.
    let cost = |r: &Value| {
        let mb = r["environment"]["memory_mb"].as_f64()?;
        let ms = r["summary"]["wall_ms"].as_f64()?.ceil();
        Some(ms / 1000.0 * mb / 1024.0 * 0.000_016_666_7 + 0.000_000_2)
    };
    let costs = by_memory(cost, "memset");
    let cheapest = costs
        .iter()
        .min_by(|a, b| median(a.1.clone()).total_cmp(&median(b.1.clone())))
        .map(|(m, _)| *m)
        .unwrap();
    for (m, vs) in &costs {
        let row = table_row("x86_64 real", *m, vs, 9);
        let marked = ["", " (fastest)", " (cheapest)", " (cheapest) (fastest)"]
            .iter()
            .map(|mk| row.replacen("x86_64 real", &format!("x86_64 real{mk}"), 1))
            .find(|r| md.contains(r.as_str()));
        let marked = marked.unwrap_or_else(|| panic!("missing {row}"));
        assert_eq!(marked.contains("(cheapest)"), *m == cheapest, "{marked}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// The report's body after its input summary line: the sections, plots and tables.
fn body(md: &str) -> String {
    md.split_once("\n## ").map(|(_, b)| b.to_string()).unwrap()
}

#[test]
fn cloudwatch_exports_read_back_into_the_same_rows_as_the_responses() {
    // The responses the exports were logged from: the pbkdf2 and memset runs.
    let dir = temp_dir("cw");
    let subset: Vec<String> = fixture_responses()
        .into_iter()
        .filter(|r| r["workload"] == "pbkdf2" || r["workload"] == "memset")
        .map(|r| r.to_string())
        .collect();
    assert!(subset.len() >= 4);
    let responses = dir.join("subset.jsonl");
    std::fs::write(&responses, subset.join("\n")).unwrap();
    let (ok, e) = report(
        &[responses.to_string_lossy().into_owned()],
        &dir.join("resp"),
    );
    assert!(ok, "{e}");
    let want = std::fs::read_to_string(dir.join("resp/report.md")).unwrap();
    assert!(want.starts_with(&format!(
        "# lambda-probe report\n\n{} runs read;",
        subset.len()
    )));
    for export in [
        "cloudwatch-filter-log-events.json",
        "cloudwatch-insights.json",
        "cloudwatch-insights-console.json",
    ] {
        let out = dir.join(export);
        let (ok, e) = report(&[fixture(export)], &out);
        assert!(ok, "{export}: {e}");
        let got = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(
            got.starts_with(&format!(
                "# lambda-probe report\n\n{} runs read; 0 failed runs; 0 inputs not read;",
                subset.len()
            )),
            "{export}: {}",
            got.lines().nth(2).unwrap_or("")
        );
        assert_eq!(body(&got), body(&want), "{export}");
    }
    // filter-log-events also holds EMF records and START/REPORT lines: counted, not rows.
    let got =
        std::fs::read_to_string(dir.join("cloudwatch-filter-log-events.json/report.md")).unwrap();
    let other = 3 * subset.len();
    assert!(
        got.contains(&format!("{other} other log events")),
        "{}",
        got.lines().nth(2).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_omitted_full_result_and_a_query_without_message_are_listed() {
    let dir = temp_dir("omitted");
    let export = dir.join("export.json");
    std::fs::write(
        &export,
        r#"{"events":[{"message":"{\"type\":\"lambda-probe.result\",\"request_id\":\"r1\",\"omitted\":\"the full result is 300000 bytes\"}"}]}"#,
    )
    .unwrap();
    let insights = dir.join("insights.json");
    std::fs::write(&insights, r#"[[{"field":"@timestamp","value":"x"}]]"#).unwrap();
    let (ok, _) = report(
        &[
            export.to_string_lossy().into_owned(),
            insights.to_string_lossy().into_owned(),
        ],
        &dir.join("out"),
    );
    assert!(!ok, "no rows: exit 1");
    let md = std::fs::read_to_string(dir.join("out/report.md")).unwrap();
    assert!(
        md.contains("full result not logged: the full result is 300000 bytes"),
        "{md}"
    );
    assert!(md.contains("without an @message field"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}
