//! `make fetch-logs` and `make insights` against moto's CloudWatch Logs (and CloudFormation for
//! the stack's outputs), on 127.0.0.1 with dummy credentials: log events put there with boto3
//! come back as the files `lambda-probe-tools report` reads. And the Logs Insights query files
//! in queries/, checked for commands and fields that exist, since moto runs only `fields`,
//! `sort` and `limit` of a query (it ignores `filter` and `stats`).

mod common;

use common::moto::Moto;
use common::{probe_cmd, repo, run_probe_cmd, PROBE_LIMIT};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const STACK: &str = "lambda-probe";
const ARM64_GROUP: &str = "/aws/lambda/lambda-probe-probe-arm64";
const X86_GROUP: &str = "/aws/lambda/lambda-probe-probe-x86_64";
const OTHER_GROUP: &str = "/aws/lambda/someone-else";
const REQUEST_ID: &str = "8f5c3e7a-2b1d-4c6e-9a0f-3d2e1b4c5a69";

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cloudwatch-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A command with the project's tools, dummy credentials, CloudFormation and CloudWatch Logs at
/// moto, and every other AWS endpoint at a closed local port (nothing leaves 127.0.0.1).
fn command(program: &str, args: &[&str], moto: &Moto, out_dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", out_dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            out_dir.join("no-aws-credentials"),
        )
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ENDPOINT_URL_CLOUDFORMATION", &moto.url)
        // boto3's name for CloudWatch Logs ("AWS_ENDPOINT_URL_LOGS" is not read).
        .env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", &moto.url)
        .env("AWS_MAX_ATTEMPTS", "2")
        .env("STACK", STACK)
        .env("PROBE_OUT_DIR", out_dir)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION");
    cmd
}

fn make(args: &str, moto: &Moto, out_dir: &Path) -> Output {
    let repo = repo();
    let mut all = vec!["-s", "-C", repo.to_str().unwrap()];
    all.extend(args.split_whitespace());
    command("make", &all, moto, out_dir).output().expect("make")
}

fn aws_py(args: &[&str], moto: &Moto, out_dir: &Path) -> Output {
    let script = repo().join("scripts/aws.py");
    let mut all = vec![script.to_str().unwrap()];
    all.extend(args);
    command(
        repo().join(".venv/bin/python").to_str().unwrap(),
        &all,
        moto,
        out_dir,
    )
    .output()
    .expect("python")
}

/// A full-result line as the function logs it (src/telemetry.rs), around a real response of a
/// 512 MB function.
fn result_line(payload: Value, request_id: &str) -> String {
    let mut cmd = probe_cmd(&[]);
    cmd.env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512");
    let run = run_probe_cmd(cmd, payload.to_string().as_bytes(), PROBE_LIMIT);
    assert!(run.ok, "{payload}: {:?}", run.body);
    json!({"type": "lambda-probe.result", "request_id": request_id, "response": run.body})
        .to_string()
}

fn report_line(init: bool) -> String {
    format!(
        "REPORT RequestId: {REQUEST_ID}\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: \
         512 MB\tMax Memory Used: 21 MB\t{}\n",
        if init {
            "Init Duration: 15.95 ms\t"
        } else {
            ""
        }
    )
}

/// What the fetch must keep: (group, message) in order, per group.
struct Logs {
    wanted: Vec<(&'static str, String)>,
    since: String,
    until: String,
}

/// The stack (outputs as template.yaml names them) and the log events, put with boto3. Times are
/// relative to now, as CloudWatch Logs refuses events far in the past or future: the range is
/// [now − 2 h, now − 1 h]; events fall before, inside and after it.
fn put_logs(moto: &Moto, dir: &Path) -> Logs {
    let env_line = result_line(json!({"workload": "env"}), "req-env");
    let pbkdf2_line = result_line(
        json!({"workload": "pbkdf2", "iterations": 1000, "threads": [1]}),
        "req-pbkdf2",
    );
    let alloc_line = result_line(
        json!({"workload": "alloc", "buffers": 4, "buffer_bytes": 4096}),
        "req-alloc",
    );
    let start = format!("START RequestId: {REQUEST_ID} Version: 7\n");
    let end = format!("END RequestId: {REQUEST_ID}\n");
    let emf = json!({"_aws": {"Timestamp": 0}, "type": "lambda-probe.metrics"}).to_string();
    let guard = "lambda-probe: log tail guard. ....".to_string();
    let decoy_json =
        json!({"type": "other", "note": "mentions lambda-probe.result in passing"}).to_string();
    let decoy_text = "a line that says REPORT RequestId: but does not start with it".to_string();

    // Minutes before now of each event, and the message; inside the range: 65..115.
    let arm64_a: Vec<(u32, String)> = vec![
        (170, start.clone()),
        (170, env_line.clone()),
        (170, report_line(false)),
        (
            110,
            "INIT_START Runtime Version: provided:al2023.v97\n".into(),
        ),
        (110, start.clone()),
        (110, emf.clone()),
        (110, pbkdf2_line.clone()),
        (110, guard.clone()),
        (110, end.clone()),
        (109, report_line(true)),
        (100, decoy_json),
        (100, decoy_text),
        (30, pbkdf2_line.clone()),
        (30, report_line(false)),
    ];
    let arm64_b: Vec<(u32, String)> = vec![
        (90, start.clone()),
        (90, emf.clone()),
        (90, env_line.clone()),
        (90, end.clone()),
        (89, report_line(false)),
    ];
    let x86: Vec<(u32, String)> = vec![
        (80, alloc_line.clone()),
        (79, report_line(true)),
        (20, report_line(false)),
    ];
    let other: Vec<(u32, String)> = vec![(80, env_line.clone()), (79, report_line(false))];
    let wanted = vec![
        (ARM64_GROUP, pbkdf2_line),
        (ARM64_GROUP, report_line(true)),
        (ARM64_GROUP, env_line),
        (ARM64_GROUP, report_line(false)),
        (X86_GROUP, alloc_line),
        (X86_GROUP, report_line(true)),
    ];

    let outputs = json!({
        "Arm64FunctionName": {"Value": "lambda-probe-probe-arm64"},
        "X86FunctionName": {"Value": "lambda-probe-probe-x86_64"},
        "Arm64LogGroupName": {"Value": ARM64_GROUP},
        "X86LogGroupName": {"Value": X86_GROUP},
    });
    let spec = json!({
        "url": moto.url,
        "stack": STACK,
        "template": {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
            "Outputs": outputs,
        },
        "groups": {
            ARM64_GROUP: {"2026/01/01/[$LATEST]aaaa": arm64_a, "2026/01/01/[7]bbbb": arm64_b},
            X86_GROUP: {"2026/01/01/[$LATEST]cccc": x86},
            OTHER_GROUP: {"2026/01/01/[$LATEST]dddd": other},
        },
    });
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    const SETUP: &str = r#"
import datetime, json, sys, time
import boto3
spec = json.load(open(sys.argv[1]))
kw = dict(endpoint_url=spec["url"], region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
boto3.client("cloudformation", **kw).create_stack(
    StackName=spec["stack"], TemplateBody=json.dumps(spec["template"]))
logs = boto3.client("logs", **kw)
now_ms = int(time.time() * 1000)
for group, streams in spec["groups"].items():
    logs.create_log_group(logGroupName=group)
    for stream, events in streams.items():
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        # One millisecond apart, in order, as one stream's events are.
        batch = [{"timestamp": now_ms - minutes * 60_000 + i, "message": m}
                 for i, (minutes, m) in enumerate(events)]
        answer = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
        assert not answer.get("rejectedLogEventsInfo"), answer
iso = lambda minutes: datetime.datetime.fromtimestamp(
    (now_ms - minutes * 60_000) / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({"since": iso(120), "until": iso(60)}))
"#;
    let o = Command::new(repo().join(".venv/bin/python"))
        .args(["-c", SETUP, spec_path.to_str().unwrap()])
        .output()
        .expect("python");
    assert!(o.status.success(), "setup: {}", text(&o));
    let range: Value = serde_json::from_slice(&o.stdout).unwrap();
    Logs {
        wanted,
        since: range["since"].as_str().unwrap().to_string(),
        until: range["until"].as_str().unwrap().to_string(),
    }
}

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The messages of a fetched file, checking the `filter-log-events` shape on the way.
fn messages(path: &Path) -> Vec<String> {
    let doc = read(path);
    let events = doc["events"].as_array().unwrap_or_else(|| panic!("{doc}"));
    let mut last = 0;
    events
        .iter()
        .map(|e| {
            for key in ["logStreamName", "timestamp", "eventId"] {
                assert!(!e[key].is_null(), "{key} missing: {e}");
            }
            let t = e["timestamp"].as_u64().unwrap();
            assert!(t >= last, "events in time order");
            last = t;
            e["message"].as_str().unwrap().to_string()
        })
        .collect()
}

fn wanted_in(logs: &Logs, group: &str) -> Vec<String> {
    logs.wanted
        .iter()
        .filter(|(g, _)| *g == group)
        .map(|(_, m)| m.clone())
        .collect()
}

#[test]
fn fetch_logs_and_insights_bring_the_lines_home_from_cloudwatch_logs() {
    let moto = Moto::start();
    let dir = scratch("fetch");
    let logs = put_logs(&moto, &dir);
    let out = dir.join("out");
    let range = format!("SINCE={} UNTIL={}", logs.since, logs.until);

    // Both functions by default, one file each, with only the result and REPORT lines of the
    // range: not the EMF record, START/END, the guard, the decoys, nor anything outside it.
    let o = make(&format!("fetch-logs {range}"), &moto, &out);
    assert!(o.status.success(), "make fetch-logs: {}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        stdout.contains(&format!("{ARM64_GROUP} ("))
            && stdout.contains("2 full-result lines, 2 REPORT lines"),
        "{stdout}"
    );
    assert_eq!(
        messages(&out.join("logs-arm64.json")),
        wanted_in(&logs, ARM64_GROUP)
    );
    assert_eq!(
        messages(&out.join("logs-x86_64.json")),
        wanted_in(&logs, X86_GROUP)
    );
    // The report reads full-result lines from it: each holds a response of the probe.
    for m in messages(&out.join("logs-arm64.json")) {
        if let Ok(v) = serde_json::from_str::<Value>(&m) {
            common::assert_response_contract(
                &v["response"],
                v["response"]["workload"].as_str().unwrap(),
            );
        }
    }

    // The files say their log group and, for the stack's functions, the architecture: a REPORT
    // line says neither. `report` reads them back: here no result line shares a REPORT line's
    // request id, so the architecture is the file's and the workload unknown.
    let arm64 = read(&out.join("logs-arm64.json"));
    assert_eq!(
        (
            arm64["logGroupName"].as_str(),
            arm64["architecture"].as_str()
        ),
        (Some(ARM64_GROUP), Some("arm64"))
    );
    let (ok, md, stderr) = common::tools_report(
        &[out.join("logs-arm64.json"), out.join("logs-x86_64.json")],
        &dir.join("report"),
    );
    assert!(ok, "{stderr}");
    assert!(
        md.starts_with("# lambda-probe report\n\n3 runs read;"),
        "{md}"
    );
    for row in [
        // Two REPORT lines in the range, one cold (Init Duration 15.95 ms); 21 of 512 MB used.
        "| arm64 | 512 | unknown | 2 | 12.34 | 12.34 | 13 | 21 / 21 | 4.1 | 1 | 15.95 | – | – |",
        "| x86_64 | 512 | unknown | 1 | 12.34 | 12.34 | 13 | 21 / 21 | 4.1 | 1 | 15.95 | – | – |",
    ] {
        assert!(md.contains(row), "{row}\n{md}");
    }
    assert!(
        md.contains("Architecture of each REPORT line: 3 from the export's own `architecture`"),
        "{md}"
    );

    // Small pages give the same file (nextToken followed); one architecture, one file.
    let paged = dir.join("paged");
    let o = aws_py(
        &[
            "fetch-logs",
            "--fn",
            "arm64",
            "--since",
            &logs.since,
            "--until",
            &logs.until,
            "--page-size",
            "1",
        ],
        &moto,
        &paged,
    );
    assert!(o.status.success(), "paged: {}", text(&o));
    assert_eq!(
        messages(&paged.join("logs-arm64.json")),
        wanted_in(&logs, ARM64_GROUP)
    );
    assert!(!paged.join("logs-x86_64.json").exists());

    // A log group by name, outside the stack; relative times (the whole last 3 hours).
    let other = dir.join("other");
    let o = make(
        &format!("fetch-logs FN={OTHER_GROUP} SINCE=3h"),
        &moto,
        &other,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        messages(&other.join("logs-aws-lambda-someone-else.json")).len(),
        2
    );

    // Logs Insights: the query file runs over both groups, the answer is saved as
    // get-query-results gives it. moto applies `fields`, `sort` and `limit` (not `filter`), so
    // the rows are every event of the range with its @timestamp and @message.
    let o = make(&format!("insights Q=results {range}"), &moto, &out);
    assert!(o.status.success(), "make insights: {}", text(&o));
    let answer = read(&out.join("insights-results.json"));
    assert_eq!(answer["status"], "Complete", "{answer}");
    let rows = answer["results"].as_array().expect("results");
    let row_messages: Vec<&str> = rows
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .find(|f| f["field"] == "@message")
                .and_then(|f| f["value"].as_str())
                .expect("every row has @message, which the report reads")
        })
        .collect();
    for (_, wanted) in &logs.wanted {
        assert!(
            row_messages.contains(&wanted.as_str()),
            "{wanted:.80} missing"
        );
    }
    assert!(
        !row_messages.iter().any(|m| m.contains("someone-else")),
        "only the stack's groups"
    );
    assert_eq!(row_messages.len(), 16, "the range's events of both groups");
    let o = make(
        &format!("insights Q=report-by-memory FN=x86_64 {range}"),
        &moto,
        &out,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("insights-report-by-memory.json").exists());
    // report-lines: every row carries what `report` reads, the message and its group and stream
    // (moto gives the group's name; Logs Insights "<account>:<group>").
    let o = make(&format!("insights Q=report-lines {range}"), &moto, &out);
    assert!(o.status.success(), "{}", text(&o));
    let answer = read(&out.join("insights-report-lines.json"));
    let rows = answer["results"].as_array().expect("results");
    assert!(!rows.is_empty());
    for row in rows {
        for field in ["@message", "@log", "@logStream"] {
            assert!(
                row.as_array().unwrap().iter().any(|f| f["field"] == field),
                "{field} missing: {row}"
            );
        }
    }

    // Mistakes say what to do.
    for (args, needle) in [
        ("insights Q=nope", "choose one of"),
        ("insights", "usage: make insights"),
        ("fetch-logs SINCE=yesterday", "ISO 8601"),
        ("fetch-logs SINCE=1h UNTIL=2h", "must come before"),
    ] {
        let o = make(args, &moto, &out);
        assert!(!o.status.success(), "make {args} should fail: {}", text(&o));
        assert!(text(&o).contains(needle), "make {args}: {}", text(&o));
    }
    let mut cmd = command(
        "make",
        &["-s", "-C", repo().to_str().unwrap(), "fetch-logs"],
        &moto,
        &out,
    );
    let o = cmd.env("STACK", "no-such-stack").output().unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("make deploy"), "{}", text(&o));
}

// ---- the query files

/// Commands of Logs Insights QL the query files may use.
const COMMANDS: &[&str] = &[
    "fields", "filter", "stats", "sort", "limit", "parse", "display", "dedup",
];
/// Fields Logs Insights discovers in Lambda's logs (REPORT lines and every event).
const LAMBDA_FIELDS: &[&str] = &[
    "@timestamp",
    "@message",
    "@log",
    "@logStream",
    "@ptr",
    "@type",
    "@requestId",
    "@duration",
    "@billedDuration",
    "@memorySize",
    "@maxMemoryUsed",
    "@initDuration",
];
const WORDS: &[&str] = &["as", "by", "and", "or", "not", "like", "in", "asc", "desc"];

/// Whether a `/` after `before` opens a regular expression (`like /…/`, `=~ /…/`, `parse … /…/`)
/// rather than dividing.
fn opens_regex(before: &str) -> bool {
    let before = before.trim_end();
    before.ends_with(" like") || before.ends_with("=~") || before.trim_start().starts_with("parse")
}

/// A query's text without `#` comments, split into its commands at `|`, quotes and regular
/// expressions (`/…/`) kept whole.
fn commands(query: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for line in query.lines() {
        let mut quote: Option<char> = None;
        for c in line.chars() {
            match (quote, c) {
                (None, '#') => break,
                (None, '"' | '\'') => quote = Some(c),
                (None, '/') if opens_regex(out.last().unwrap()) => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '|') => {
                    out.push(String::new());
                    continue;
                }
                _ => {}
            }
            out.last_mut().unwrap().push(c);
        }
        out.last_mut().unwrap().push(' ');
    }
    out.into_iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// The identifiers of a command outside quotes and regular expressions, with whether each is
/// called as a function.
fn identifiers(command: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut quote: Option<char> = None;
    let mut current = String::new();
    let chars: Vec<char> = command.chars().chain([' ']).collect();
    for (i, &c) in chars.iter().enumerate() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_alphanumeric() || matches!(c, '_' | '.' | '@') {
            current.push(c);
            continue;
        }
        if !current.is_empty() {
            let called = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(');
            if !current.chars().next().unwrap().is_ascii_digit() {
                out.push((std::mem::take(&mut current), called));
            }
            current.clear();
        }
        if matches!(c, '"' | '\'')
            || (c == '/' && opens_regex(&chars[..i].iter().collect::<String>()))
        {
            quote = Some(c);
        }
    }
    out
}

/// Every path of a JSON value (`response.summary.wall_ms`), objects only.
fn paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(o) = v {
        for (k, child) in o {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.push(p.clone());
            paths(child, &p, out);
        }
    }
}

#[test]
fn query_files_use_commands_and_fields_that_exist() {
    // The fields of the probe's full-result line, in every workload's (io's needs a table; its
    // generic fields are the same).
    let mut per_workload = Vec::new();
    for payload in [
        json!({"workload": "env"}),
        json!({"workload": "pbkdf2", "iterations": 1000, "threads": [1]}),
        json!({"workload": "alloc", "buffers": 4, "buffer_bytes": 4096}),
        json!({"workload": "memset", "bytes": 65536, "repeats": 2}),
    ] {
        let line: Value = serde_json::from_str(&result_line(payload, "r")).unwrap();
        let mut p = Vec::new();
        paths(&line, "", &mut p);
        per_workload.push(p);
    }

    let dir = repo().join("queries");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "insights"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for required in [
        "report-by-memory",
        "results",
        "results-by-workload",
        "cold-starts",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "queries/{required}.insights is missing"
        );
    }

    let mut problems = Vec::new();
    for (path, name) in files.iter().zip(&names) {
        let query = std::fs::read_to_string(path).unwrap();
        let cmds = commands(&query);
        let mut aliases: Vec<String> = Vec::new();
        for cmd in &cmds {
            let keyword = cmd.split_whitespace().next().unwrap_or("");
            if !COMMANDS.contains(&keyword) {
                problems.push(format!("{name}: unknown command {keyword:?} in {cmd:?}"));
            }
            let ids = identifiers(cmd);
            // `x as alias` defines a name the later commands may use.
            for w in ids.windows(2) {
                if w[0].0 == "as" {
                    aliases.push(w[1].0.clone());
                }
            }
            for (i, (id, called)) in ids.iter().enumerate().skip(1) {
                let after_as = ids[i - 1].0 == "as";
                if *called || after_as || WORDS.contains(&id.as_str()) || aliases.contains(id) {
                    continue;
                }
                if id.starts_with('@') {
                    if !LAMBDA_FIELDS.contains(&id.as_str()) {
                        problems.push(format!(
                            "{name}: {id} is no field Logs Insights discovers in Lambda's logs"
                        ));
                    }
                } else if !per_workload.iter().all(|p| p.contains(id)) {
                    problems.push(format!(
                        "{name}: {id} is not a field of every workload's full-result line"
                    ));
                }
            }
        }
        if name == "results"
            && !cmds
                .iter()
                .any(|c| c.starts_with("fields") && c.contains("@message"))
        {
            problems.push(format!(
                "{name}: the report reads @message: keep it in `fields`"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The checks can fail.
    let ids =
        identifiers(r#"stats avg(response.summary.nope) as x by @memorySiz | filter y like /a|b/"#);
    assert!(ids.iter().any(|(i, _)| i == "response.summary.nope"));
    assert!(ids.iter().any(|(i, _)| i == "@memorySiz"));
    assert_eq!(
        commands("fields a # | not a command\n| filter b like /x|y/").len(),
        2
    );
}
