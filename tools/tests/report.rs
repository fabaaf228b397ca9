//! `lambda-probe-tools report` on the committed fixtures of real probe output (every workload,
//! io included: tests/fixtures/results/, made by `make fixtures`): a section with plots for
//! every workload, SVGs that parse with the right number of series, tables that hold the
//! fixtures' numbers (computed here from the typed results), and CloudWatch exports read back
//! into the same rows as the responses they were logged from.

mod common;
use common::probe;
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

/// Every response in the response fixtures (single files and JSON lines): `run` on this
/// machine, so "local" runs.
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

/// Solid polylines (series, references, markers) and dashed ones (predictions).
fn polylines_of(svg_path: &Path, dashed: bool) -> usize {
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
        .filter(|n| n.attribute("stroke-dasharray").is_some() == dashed)
        .count()
}

fn polylines(svg_path: &Path) -> usize {
    polylines_of(svg_path, false)
}

/// The report's section of `r` among the on-demand runs `all`, as (anchor and id prefix,
/// heading): its workload, or, where the workload's runs measure several experiments, the n-th
/// of them by label.
fn section_of(all: &[Response], r: &Response) -> (String, String) {
    let w = r.workload();
    let experiments: BTreeSet<String> = all
        .iter()
        .filter(|x| x.workload() == w)
        .map(|x| x.result.experiment())
        .collect();
    if experiments.len() == 1 {
        return (w.to_string(), w.to_string());
    }
    let mine = r.result.experiment();
    let n = experiments.iter().position(|e| *e == mine).unwrap() + 1;
    (format!("{w}-{n}"), format!("{w} · {mine}"))
}

/// What one plot of the report must show, computed here from the typed responses.
#[derive(Default)]
struct Expect {
    /// The section it is in (`section_of`).
    section: String,
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

    let responses = fixture_responses();
    // One section per workload, or per experiment where a workload's runs measure several.
    let sections: BTreeSet<(String, String)> = responses
        .iter()
        .map(|r| section_of(&responses, r))
        .collect();
    for w in WORKLOADS {
        assert!(
            sections
                .iter()
                .any(|(key, _)| key == w || key.starts_with(&format!("{w}-"))),
            "the fixtures give no {w} section"
        );
    }
    for (key, heading) in &sections {
        assert!(
            md.contains(&format!("\n## {heading}\n")),
            "no {heading} section:\n{md}"
        );
        assert!(
            html.contains(&format!("<h2 id=\"{key}\">{heading}</h2>")),
            "{key}"
        );
    }
    assert!(!md.contains("not in the inputs"), "{md}");
    // Unreadable inputs are listed with their reason.
    assert!(md.contains("## Inputs not read"));
    assert!(md.contains("not-json.txt:1 | not JSON"), "{md}");
    assert!(md.contains("missing.json | cannot read the file"), "{md}");

    // Every plot the report must draw, and what is in it.
    let mut want: BTreeMap<String, Expect> = BTreeMap::new();
    for r in &responses {
        let (w, _) = section_of(&responses, r);
        let series = format!("{} local", arch(r));
        let c = r.result.common();
        let mut add = |id: String, series: String, v: f64, decimals: usize, guides: usize| {
            let e = want.entry(id).or_default();
            e.section = w.clone();
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
    for plot in [
        ("io", "-p50"),
        ("io", "-p99"),
        ("io", "-rate"),
        ("pbkdf2", "-speedup"),
        ("alloc", "-touch"),
        ("memset", "-bandwidth"),
    ] {
        assert!(
            want.keys()
                .any(|id| id.starts_with(plot.0) && id.ends_with(plot.1)),
            "the fixtures give no {plot:?} points"
        );
    }
    let mut found: Vec<String> = std::fs::read_dir(out.join("svg"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    // Timelines: one per workload whose runs record one (cpu-timeline), beside its plots.
    let timelines: BTreeSet<String> = responses
        .iter()
        .filter(|r| r.result.timeline().is_some())
        .map(|r| format!("{}-timeline.svg", section_of(&responses, r).0))
        .collect();
    assert!(
        timelines.iter().any(|t| t.starts_with("cpu-timeline")),
        "{timelines:?}"
    );
    for t in &timelines {
        assert!(found.contains(t), "no {t} in {found:?}");
        assert!(md.contains(&format!("](svg/{t})")), "{md}");
        assert!(html.contains("Runs and pauses over the first 200 ms"));
    }
    found.retain(|f| !timelines.contains(f));
    let expected: Vec<String> = want.keys().map(|id| format!("{id}.svg")).collect();
    assert_eq!(found, expected);
    // `predict`'s curves: one per workload, parameters and architecture, dashed, on the
    // duration and cost plots.
    let mut functions: BTreeMap<String, BTreeSet<(Arch, String)>> = BTreeMap::new();
    // cpu-timeline measures the sandbox, not work: predict draws nothing for it.
    for r in responses.iter().filter(|r| r.workload() != "cpu-timeline") {
        let params = serde_json::to_value(&r.result).unwrap()["params"].to_string();
        functions
            .entry(section_of(&responses, r).0)
            .or_default()
            .insert((arch(r), params));
    }
    for (id, e) in &want {
        assert_eq!(
            polylines(&out.join(format!("svg/{id}.svg"))),
            e.series.len() + e.guides,
            "{id}: series + reference lines"
        );
        let predicted = if id.ends_with("-duration") || id.ends_with("-cost") {
            functions.get(&e.section).map_or(0, |f| f.len())
        } else {
            0
        };
        assert_eq!(
            polylines_of(&out.join(format!("svg/{id}.svg")), true),
            predicted,
            "{id}: predicted curves"
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
    assert!(md.contains("### Predicted from one run"), "{md}");
    assert!(md.contains("- fastest: 1769 MB"), "{md}");
    // Self-contained: the HTML inlines every plot and timeline.
    assert_eq!(html.matches("<svg").count(), want.len() + timelines.len());
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

/// The report's body after its input summary line: the workload sections, plots and tables
/// (not Lambda's own account, which only exports with REPORT lines have).
fn body(md: &str) -> String {
    let b = md.split_once("\n## ").map(|(_, b)| b.to_string()).unwrap();
    b.split(ACCOUNT).next().unwrap().to_string()
}

const ACCOUNT: &str = "## Lambda's own account (REPORT lines)";

/// The report's section of Lambda's own account, to its end.
fn account(md: &str) -> &str {
    let at = md
        .find(ACCOUNT)
        .unwrap_or_else(|| panic!("no REPORT section:\n{md}"));
    &md[at..]
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
        // The same rows, labelled as runs in Lambda: only a function writes those logs.
        let as_lambda = ["arm64", "x86_64"].iter().fold(body(&want), |b, a| {
            b.replace(&format!("{a} local"), &format!("{a} real"))
        });
        assert!(body(&want).contains(" local |"), "{want}");
        assert_eq!(body(&got), as_lambda, "{export}");
    }
    // filter-log-events also holds EMF records, START/END lines and the tail guard: counted, not
    // rows; its REPORT lines are Lambda's own account.
    let got =
        std::fs::read_to_string(dir.join("cloudwatch-filter-log-events.json/report.md")).unwrap();
    let messages = export_messages("cloudwatch-filter-log-events.json");
    let other = messages
        .iter()
        .filter(|(_, m)| {
            !m.starts_with("REPORT ") && !m.contains("\"type\":\"lambda-probe.result\"")
        })
        .count();
    assert!(other >= 3 * logged.len(), "EMF, START and END per run");
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
    let row = table_row(&format!("{arch} local"), 4096, &walls(&od_refs), 3);
    assert!(md.contains(&row), "no {row} in\n{md}");

    // Against concurrency: one point per number at once, each invocation's own figures.
    assert!(
        md.contains("## pbkdf2 on Lambda Managed Instances (vs invocations at once)"),
        "{md}"
    );
    let cores = lmi[0].environment.affinity_cores.unwrap();
    let series = format!("{arch} local · {cores} vCPU, 4096 MB");
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
        "on-demand {arch} at 4096 MB (3 run(s), local): median duration {:.3} ms",
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

// ---- Lambda's own account (REPORT lines)

/// The (log stream, message) of every event of a filter-log-events fixture.
fn export_messages(name: &str) -> Vec<(String, String)> {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
    doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["logStreamName"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A REPORT line's figures, read here by splitting at tabs: `Name: value unit`.
struct Figures {
    request_id: String,
    duration_ms: f64,
    billed_ms: f64,
    memory_mb: u32,
    used_mb: f64,
    init_ms: Option<f64>,
}

fn figures(line: &str) -> Figures {
    let mut f: BTreeMap<&str, &str> = BTreeMap::new();
    for field in line.strip_prefix("REPORT ").unwrap().split('\t') {
        if let Some((k, v)) = field.split_once(": ") {
            f.insert(k, v.split(' ').next().unwrap());
        }
    }
    let num = |k: &str| -> f64 { f[k].parse().unwrap() };
    Figures {
        request_id: f["RequestId"].to_string(),
        duration_ms: num("Duration"),
        billed_ms: num("Billed Duration"),
        memory_mb: num("Memory Size") as u32,
        used_mb: num("Max Memory Used"),
        init_ms: f.get("Init Duration").map(|v| v.parse().unwrap()),
    }
}

/// Nearest-rank percentile.
fn pct(vs: &[f64], p: f64) -> f64 {
    let mut v = vs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The table rows the REPORT section must hold for the filter-log-events fixture, computed here
/// from its lines: each REPORT line's architecture and workload from the result line of the
/// same request id, the probe's wall time from those result lines.
fn expected_account_rows() -> Vec<String> {
    let messages = export_messages("cloudwatch-filter-log-events.json");
    let mut by_request: BTreeMap<String, Response> = BTreeMap::new();
    for (_, m) in &messages {
        if let Ok(v) = serde_json::from_str::<Value>(m) {
            if v["type"] == "lambda-probe.result" {
                let r = typed(v["response"].clone()).unwrap();
                by_request.insert(v["request_id"].as_str().unwrap().to_string(), r);
            }
        }
    }
    type Key = (usize, u32, String);
    let mut groups: BTreeMap<Key, (Vec<Figures>, Vec<f64>)> = BTreeMap::new();
    for (_, m) in messages.iter().filter(|(_, m)| m.starts_with("REPORT ")) {
        let f = figures(m);
        let r = &by_request[&f.request_id];
        let a = Arch::ALL.iter().position(|a| *a == arch(r)).unwrap();
        groups
            .entry((a, f.memory_mb, r.workload().to_string()))
            .or_default()
            .0
            .push(f);
    }
    for r in by_request.values() {
        let a = Arch::ALL.iter().position(|a| *a == arch(r)).unwrap();
        if let Some(g) = groups.get_mut(&(a, memory(r), r.workload().to_string())) {
            g.1.push(r.result.common().wall_ms);
        }
    }
    assert!(
        groups.len() >= 3 * WORKLOADS.len(),
        "three sizes of every workload"
    );
    groups
        .into_iter()
        .map(|((a, mb, w), (fs, walls))| {
            let d: Vec<f64> = fs.iter().map(|f| f.duration_ms).collect();
            let billed: Vec<f64> = fs.iter().map(|f| f.billed_ms).collect();
            let used: Vec<f64> = fs.iter().map(|f| f.used_mb).collect();
            let used_max = used.iter().copied().fold(0.0, f64::max);
            let inits: Vec<f64> = fs.iter().filter_map(|f| f.init_ms).collect();
            format!(
                "| {} | {mb} | {w} | {} | {:.2} | {:.2} | {:.0} | {:.0} / {used_max:.0} | {:.1} | {} | {} | {} | {:.3} |",
                Arch::ALL[a],
                fs.len(),
                pct(&d, 50.0),
                pct(&d, 90.0),
                pct(&billed, 50.0),
                pct(&used, 50.0),
                used_max / mb as f64 * 100.0,
                inits.len(),
                if inits.is_empty() {
                    "–".to_string()
                } else {
                    format!("{:.2}", pct(&inits, 50.0))
                },
                walls.len(),
                pct(&walls, 50.0),
            )
        })
        .collect()
}

#[test]
fn report_lines_give_lambdas_own_account_beside_the_probes_figures() {
    let out = temp_dir("account");
    let (ok, e) = report(&[fixture("cloudwatch-filter-log-events.json")], &out);
    assert!(ok, "{e}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let section = account(&md);
    let want = expected_account_rows();
    let got: Vec<&str> = section
        .lines()
        .filter(|l| {
            l.starts_with("| x86_64 ")
                || l.starts_with("| arm64 ")
                || l.starts_with("| arch unknown ")
        })
        .collect();
    assert_eq!(got, want, "{section}");
    // Cold starts were there to count, and every line found its architecture and workload.
    assert!(
        want.iter().any(|r| !r.contains("| 0 | – |")),
        "no cold start in the fixtures"
    );
    let n = export_messages("cloudwatch-filter-log-events.json")
        .iter()
        .filter(|(_, m)| m.starts_with("REPORT "))
        .count();
    assert!(
        section.contains(&format!("_Architecture of each REPORT line: {n} from the probe's result line of the same request._")),
        "{section}"
    );
    assert!(!section.contains("unknown"), "{section}");
    // The HTML has it too, with the plot inline: REPORT Duration and the probe's wall per
    // architecture × workload.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("<h2 id=\"lambda-report-lines\">Lambda's own account"),
        "no REPORT section in the HTML"
    );
    for row in &want {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        assert!(
            html.contains(&format!(
                "<td class=n>{}</td><td>{}</td>",
                cells[1], cells[2]
            )),
            "{row}"
        );
    }
    let workloads = want.len() / 3;
    assert_eq!(
        polylines(&out.join("svg/lambda-report-duration.svg")),
        2 * workloads
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn insights_exports_of_report_lines_join_the_result_lines_by_request_id() {
    let dir = temp_dir("account-insights");
    let (ok, e) = report(
        &[fixture("cloudwatch-filter-log-events.json")],
        &dir.join("events"),
    );
    assert!(ok, "{e}");
    let want = std::fs::read_to_string(dir.join("events/report.md")).unwrap();
    // The `results` query's rows and the `report-lines` query's rows: two files, joined by the
    // request id the REPORT line and the result line share.
    let (ok, e) = report(
        &[
            fixture("cloudwatch-insights-report-lines.json"),
            fixture("cloudwatch-insights.json"),
        ],
        &dir.join("insights"),
    );
    assert!(ok, "{e}");
    let got = std::fs::read_to_string(dir.join("insights/report.md")).unwrap();
    assert_eq!(account(&got), account(&want));

    // REPORT lines alone: read, said to be of unknown architecture and workload, no probe
    // figures beside them; the report still succeeds.
    let (ok, e) = report(
        &[fixture("cloudwatch-insights-report-lines.json")],
        &dir.join("alone"),
    );
    assert!(ok, "REPORT lines are something to report: {e}");
    let alone = std::fs::read_to_string(dir.join("alone/report.md")).unwrap();
    let section = account(&alone);
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| "))
        .skip(2)
        .collect();
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(
            r.starts_with("| arch unknown |")
                && r.contains("| unknown |")
                && r.ends_with("| – | – |"),
            "{r}"
        );
    }
    assert!(
        section.contains("unknown (no result line of the same request or log stream"),
        "{section}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_saved_log_tail_gives_the_report_line_and_not_a_second_run() {
    let dir = temp_dir("tail");
    // What `aws lambda invoke --log-type Tail` returns, decoded: the probe's lines (its result
    // line holds the very response saved as the outfile), END, REPORT with X-Ray on its second
    // line.
    let response: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("run-env-128.json")).unwrap())
            .unwrap();
    let id = "0f6c9d2e-1b3a-4c5d-8e7f-9a0b1c2d3e4f";
    let result =
        serde_json::json!({"type": "lambda-probe.result", "request_id": id, "response": response});
    let tail = format!(
        "ame\":\"cut off at the 4 KB mark\"}}\n{result}\nEND RequestId: {id}\nREPORT RequestId: {id}\tDuration: 1.52 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 17 MB\t\nXRAY TraceId: 1-5e34a614-10bdxmplf1fb44f07bc535a1\tSegmentId: 07f5xmpl2d1f6f85\tSampled: true\n"
    );
    let tail_path = dir.join("tail.log");
    std::fs::write(&tail_path, tail).unwrap();
    let (ok, e) = report(
        &[
            fixture("run-env-128.json"),
            tail_path.to_string_lossy().into_owned(),
        ],
        &dir.join("out"),
    );
    assert!(ok, "{e}");
    let md = std::fs::read_to_string(dir.join("out/report.md")).unwrap();
    assert!(md.starts_with("# lambda-probe report\n\n1 runs read; 0 failed runs; 0 inputs not read; 2 other log events"), "{md}");
    assert!(
        md.contains("_1 runs were read twice (the same response in two inputs): counted once._"),
        "{md}"
    );
    let wall = typed(response).unwrap().result.common().wall_ms;
    assert!(
        account(&md).contains(&format!(
            "| x86_64 | 128 | env | 1 | 1.52 | 1.52 | 2 | 17 / 17 | 13.3 | 0 | – | 1 | {wall:.3} |"
        )),
        "{md}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
