//! `lambda-probe-tools report` on the committed fixtures of real probe output (every workload,
//! io included: tests/fixtures/results/, made by `make fixtures`): a section with plots for
//! every workload, SVGs that parse with the right number of series, tables that hold the
//! fixtures' numbers (computed here from the typed results), and CloudWatch exports read back
//! into the same rows as the responses they were logged from.

use lambda_probe::lambda_model::{invocation_cost, Arch};
use lambda_probe::response::{Answer, Response};
use lambda_probe::workloads::WORKLOADS;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/results")
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

fn typed(v: Value) -> Option<Response> {
    match Answer::from_value(v).unwrap() {
        Answer::Response(r) => Some(*r),
        Answer::Error(_) => None,
    }
}

fn jsonl(name: &str) -> Vec<Value> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every response in the response fixtures (single files and JSON lines): "real" runs.
fn fixture_responses() -> Vec<Response> {
    let mut v = Vec::new();
    for w in WORKLOADS {
        let text = std::fs::read_to_string(fixture(&format!("run-{w}-128.json")))
            .unwrap_or_else(|e| panic!("run-{w}-128.json: {e}: run `make fixtures`"));
        v.extend(typed(serde_json::from_str(&text).unwrap()));
    }
    v.extend(jsonl("responses.jsonl").into_iter().filter_map(typed));
    v
}

fn response_inputs() -> Vec<String> {
    let mut i: Vec<String> = WORKLOADS
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

/// The table row the report must hold for these values.
fn table_row(series: &str, memory: u32, vs: &[f64], decimals: usize) -> String {
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

/// What one plot of the report must show, computed here from the typed responses.
#[derive(Default)]
struct Expect {
    /// series → memory → values
    series: BTreeMap<String, BTreeMap<u32, Vec<f64>>>,
    decimals: usize,
    /// Reference curves and vertical lines drawn beside the series.
    guides: usize,
}

fn memory(r: &Response) -> u32 {
    r.environment
        .memory_mb
        .expect("fixture responses carry a memory size")
}

fn arch(r: &Response) -> Arch {
    r.environment.lambda_arch().unwrap()
}

#[test]
fn fixture_report_has_a_section_for_every_workload_with_its_numbers() {
    let out = temp_dir("fixture");
    let bad = out.join("not-json.txt");
    std::fs::write(&bad, "START RequestId: x\nnot json either\n").unwrap();
    let mut inputs = response_inputs();
    inputs.push(bad.to_string_lossy().into_owned());
    inputs.push(out.join("missing.json").to_string_lossy().into_owned());
    let (ok, stderr) = report(&inputs, &out);
    assert!(ok, "{stderr}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();

    for w in WORKLOADS {
        assert!(md.contains(&format!("\n## {w}\n")), "no {w} section:\n{md}");
        assert!(html.contains(&format!("<h2 id=\"{w}\">{w}</h2>")));
    }
    assert!(!md.contains("not in the inputs"), "{md}");
    // Unreadable inputs are listed with their reason.
    assert!(md.contains("## Inputs not read"));
    assert!(md.contains("not-json.txt:1 | not JSON"), "{md}");
    assert!(md.contains("missing.json | cannot read the file"), "{md}");

    // Every plot the report must draw, and what is in it.
    let responses = fixture_responses();
    let mut want: BTreeMap<String, Expect> = BTreeMap::new();
    for r in &responses {
        let w = r.workload();
        let series = format!("{} real", arch(r));
        let c = r.result.common();
        let mut add = |id: String, series: String, v: f64, decimals: usize, guides: usize| {
            let e = want.entry(id).or_default();
            e.decimals = decimals;
            e.guides = guides;
            e.series
                .entry(series)
                .or_default()
                .entry(memory(r))
                .or_default()
                .push(v);
        };
        add(format!("{w}-duration"), series.clone(), c.wall_ms, 3, 0);
        add(
            format!("{w}-cost"),
            series.clone(),
            invocation_cost(arch(r), memory(r), c.wall_ms, 0.0).total_usd,
            9,
            0,
        );
        if let Some(v) = c.effective_vcpu {
            add(format!("{w}-vcpu"), series.clone(), v, 2, 5);
        }
        for p in r.result.plotted() {
            let s = match &p.series {
                Some(s) => format!("{series} · {s}"),
                None => series.clone(),
            };
            let guides = if p.cpu_model_guide { 5 } else { 0 };
            add(format!("{w}-{}", p.plot), s, p.value, p.decimals, guides);
        }
    }
    // io's latency and throughput are among them: the plots the last wave lost.
    for id in [
        "io-p50",
        "io-p99",
        "io-rate",
        "pbkdf2-speedup",
        "alloc-touch",
        "memset-bandwidth",
    ] {
        assert!(want.contains_key(id), "the fixtures give no {id} points");
    }
    let mut found: Vec<String> = std::fs::read_dir(out.join("svg"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let expected: Vec<String> = want.keys().map(|id| format!("{id}.svg")).collect();
    assert_eq!(found, expected);
    for (id, e) in &want {
        assert_eq!(
            polylines(&out.join(format!("svg/{id}.svg"))),
            e.series.len() + e.guides,
            "{id}: series + reference lines"
        );
        // Tables hold the numbers: median and min–max per series and memory size.
        for (series, by_mb) in &e.series {
            for (mb, vs) in by_mb {
                let row = table_row(series, *mb, vs, e.decimals);
                let marked = ["", " (cheapest)", " (fastest)", " (cheapest) (fastest)"]
                    .iter()
                    .map(|mk| row.replacen(series, &format!("{series}{mk}"), 1))
                    .any(|r| md.contains(&r));
                assert!(marked, "{id}: missing {row}\n{md}");
            }
        }
    }
    // Self-contained: the HTML inlines every plot.
    assert_eq!(html.matches("<svg").count(), want.len());
    assert!(!html.contains("<img"), "report.html must not link files");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn emulate_lines_are_emulated_series_and_their_failures_are_listed() {
    let out = temp_dir("emulate");
    let (ok, stderr) = report(&[fixture("emulate.jsonl")], &out);
    assert!(ok, "{stderr}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let lines = jsonl("emulate.jsonl");
    let failed = lines
        .iter()
        .filter(|l| l["emulate_run"]["status"] != "ok")
        .count();
    assert!(failed > 0, "the emulate fixture should hold a failed run");
    assert!(md.contains("## Failed runs"));
    assert_eq!(md.matches("emulate.jsonl:").count(), failed, "{md}");
    let ok_runs: Vec<Response> = lines
        .into_iter()
        .filter(|l| l["emulate_run"]["status"] == "ok")
        .filter_map(typed)
        .collect();
    let workloads: BTreeSet<&str> = ok_runs.iter().map(|r| r.workload()).collect();
    assert_eq!(workloads.len(), WORKLOADS.len(), "{workloads:?}");
    for w in WORKLOADS {
        assert!(md.contains(&format!("\n## {w}\n")), "no {w} section");
        let walls: BTreeMap<u32, Vec<f64>> =
            ok_runs
                .iter()
                .filter(|r| r.workload() == *w)
                .fold(BTreeMap::new(), |mut m, r| {
                    m.entry(memory(r))
                        .or_default()
                        .push(r.result.common().wall_ms);
                    m
                });
        for (mb, vs) in walls {
            let row = table_row("x86_64 emulated", mb, &vs, 3);
            assert!(md.contains(&row), "{w}: missing {row}");
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// The report's body after its input summary line: the sections, plots and tables.
fn body(md: &str) -> String {
    md.split_once("\n## ").map(|(_, b)| b.to_string()).unwrap()
}

#[test]
fn cloudwatch_exports_read_back_into_the_same_rows_as_the_responses() {
    let dir = temp_dir("cw");
    // The exports were logged from responses.jsonl, every workload.
    let logged = jsonl("responses.jsonl");
    let (ok, e) = report(&[fixture("responses.jsonl")], &dir.join("resp"));
    assert!(ok, "{e}");
    let want = std::fs::read_to_string(dir.join("resp/report.md")).unwrap();
    assert!(want.starts_with(&format!(
        "# lambda-probe report\n\n{} runs read;",
        logged.len()
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
                logged.len()
            )),
            "{export}: {}",
            got.lines().nth(2).unwrap_or("")
        );
        assert_eq!(body(&got), body(&want), "{export}");
    }
    // filter-log-events also holds EMF records (and, after a long result line, the 4 KB text
    // line that guards Power Tuning's log tail) and START/END/REPORT lines: counted, not rows.
    let got =
        std::fs::read_to_string(dir.join("cloudwatch-filter-log-events.json/report.md")).unwrap();
    let other: usize = logged
        .iter()
        .filter_map(|v| typed(v.clone()))
        .enumerate()
        .map(|(i, r)| {
            lambda_probe::telemetry::log_lines(&r, &format!("req-{i}"), true).len() - 1 + 3
        })
        .sum();
    assert!(
        got.contains(&format!("{other} other log events")),
        "{}",
        got.lines().nth(2).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_omitted_full_result_a_query_without_message_and_an_old_schema_are_listed() {
    let dir = temp_dir("omitted");
    let export = dir.join("export.json");
    std::fs::write(
        &export,
        r#"{"events":[{"message":"{\"type\":\"lambda-probe.result\",\"request_id\":\"r1\",\"omitted\":\"the full result is 300000 bytes\"}"}]}"#,
    )
    .unwrap();
    let insights = dir.join("insights.json");
    std::fs::write(&insights, r#"[[{"field":"@timestamp","value":"x"}]]"#).unwrap();
    let old = dir.join("old.json");
    std::fs::write(
        &old,
        r#"{"schema_version":1,"workload":"env","summary":{"wall_ms":1.0}}"#,
    )
    .unwrap();
    let (ok, _) = report(
        &[
            export.to_string_lossy().into_owned(),
            insights.to_string_lossy().into_owned(),
            old.to_string_lossy().into_owned(),
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
    assert!(md.contains("schema_version 1"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The probe next to the tools, built in the same profile (a no-op when already built).
fn probe() -> PathBuf {
    let tools = Path::new(env!("CARGO_BIN_EXE_lambda-probe-tools"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "lambda-probe",
        "--bin",
        "lambda-probe",
    ])
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    if tools.parent().unwrap().ends_with("release") {
        cmd.arg("--release");
    }
    assert!(cmd.status().unwrap().success(), "building the probe failed");
    tools.with_file_name("lambda-probe")
}

/// Real responses of a process serving 4 invocations at once (`run --concurrency 4` with
/// AWS_LAMBDA_MAX_CONCURRENCY set, as on Lambda Managed Instances) beside on-demand ones of
/// the same memory size: the memory section keeps only the on-demand runs, and a section of
/// its own shows the per-invocation duration and effective vCPU against the invocations at
/// once, with the on-demand figures beside them.
#[test]
fn concurrent_runs_get_a_section_against_concurrency_beside_on_demand() {
    let probe = probe();
    let dir = temp_dir("concurrency");
    let payload =
        r#"{"workload":"pbkdf2","hash":"sha256","iterations":20000,"passwords":1,"threads":[1]}"#;
    let run = |name: &str, args: &[&str], max_concurrency: Option<&str>| -> Vec<Response> {
        let mut cmd = Command::new(&probe);
        cmd.args(["run", "-"])
            .args(args)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4096")
            .env_remove("AWS_LAMBDA_MAX_CONCURRENCY")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        if let Some(k) = max_concurrency {
            cmd.env("AWS_LAMBDA_MAX_CONCURRENCY", k);
        }
        let mut child = cmd.spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), payload.as_bytes()).unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        std::fs::write(dir.join(name), &text).unwrap();
        text.lines()
            .filter_map(|l| typed(serde_json::from_str(l).unwrap()))
            .collect()
    };
    let lmi = run(
        "lmi.jsonl",
        &["--concurrency", "4", "--repeat", "2"],
        Some("4"),
    );
    let od = run("on-demand.jsonl", &["--repeat", "3"], None);
    assert_eq!((lmi.len(), od.len()), (8, 3));
    assert!(od.iter().all(|r| r.overlap.others_total == 0));
    let out = dir.join("report");
    let inputs: Vec<String> = ["lmi.jsonl", "on-demand.jsonl"]
        .iter()
        .map(|f| dir.join(f).to_string_lossy().into_owned())
        .collect();
    let (ok, stderr) = report(&inputs, &out);
    assert!(ok, "{stderr}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let arch = arch(&od[0]);

    // Against memory: the on-demand runs only.
    let walls =
        |rs: &[&Response]| -> Vec<f64> { rs.iter().map(|r| r.result.common().wall_ms).collect() };
    let od_refs: Vec<&Response> = od.iter().collect();
    let row = table_row(&format!("{arch} real"), 4096, &walls(&od_refs), 3);
    assert!(md.contains(&row), "no {row} in\n{md}");

    // Against concurrency: one point per number at once, each invocation's own figures.
    assert!(
        md.contains("## pbkdf2 on Lambda Managed Instances (vs invocations at once)"),
        "{md}"
    );
    let cores = lmi[0].environment.affinity_cores.unwrap();
    let series = format!("{arch} real · {cores} vCPU, 4096 MB");
    let mut by_k: BTreeMap<u32, Vec<&Response>> = BTreeMap::new();
    for r in &lmi {
        assert_eq!(r.environment.max_concurrency, Some(4));
        by_k.entry(r.overlap.others_max + 1).or_default().push(r);
    }
    assert!(by_k.contains_key(&4), "four at once: {:?}", by_k.keys());
    for (k, rs) in &by_k {
        let row = table_row(&series, *k, &walls(rs), 3);
        assert!(md.contains(&row), "no {row} in\n{md}");
        let own: Vec<f64> = rs.iter().filter_map(|r| r.own_effective_vcpu()).collect();
        assert_eq!(own.len(), rs.len(), "pbkdf2 reads its threads' CPU");
        let row = table_row(&series, *k, &own, 2);
        assert!(md.contains(&row), "no {row} in\n{md}");
    }
    // The on-demand runs of the same memory, beside them.
    let beside = format!(
        "on-demand {arch} at 4096 MB (3 run(s), real): median duration {:.3} ms",
        median(walls(&od_refs))
    );
    assert!(md.contains(&beside), "no {beside:?} in\n{md}");
    // Duration: the series, the on-demand line, the vCPU marker. Effective vCPU: the series,
    // the on-demand line, Lambda's on-demand model at 4,096 MB, V ÷ K, the vCPU marker.
    let svg = out.join("svg");
    assert_eq!(polylines(&svg.join("pbkdf2-concurrency-duration.svg")), 3);
    assert_eq!(polylines(&svg.join("pbkdf2-concurrency-vcpu.svg")), 5);
    assert!(md.contains("No cost per invocation here"), "{md}");
}
