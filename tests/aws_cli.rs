//! The commands README.md tells users to type against a deployed stack, run here against local
//! stand-ins: the real Lambda Runtime API emulator (`cargo lambda watch`) for Lambda, and
//! `moto_server` for CloudFormation (a stack whose outputs are template.yaml's) and Step Functions
//! (state machines moto really executes, shaped like Power Tuning's output). Dummy credentials;
//! everything on 127.0.0.1. README's lines use the AWS CLI (the project's .venv, v1) and avoid
//! options only one major version knows; `make invoke` and `make tune` use boto3.

mod common;

use common::moto::Moto;
use common::{repo, shrink, Watch};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const STACK: &str = "lambda-probe";
const REGION: &str = "us-east-1";

/// `moto_server` on a free port (the shared harness's), executing state machines for real.
fn start_moto() -> Moto {
    let moto = Moto::start();
    ureq::post(&format!("{}/moto-api/config", moto.url))
        .set("content-type", "application/json")
        .send_string(r#"{"stepfunctions": {"execute_state_machine": true}}"#)
        .expect("configure moto");
    moto
}

/// A scratch directory of its own for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("aws-cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A shell command with the project's tools first on PATH and no real AWS configuration.
fn shell(script: &str, cwd: &Path, env: &[(&str, &str)]) -> Output {
    let path = format!(
        "{}:{}",
        repo().join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", script])
        .current_dir(cwd)
        .env("PATH", path)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", cwd.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            cwd.join("no-aws-credentials"),
        )
        .env("AWS_PAGER", "")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("AWS_ENDPOINT_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("bash")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn aws(moto: &Moto, args: &str, cwd: &Path) -> String {
    let o = shell(&format!("aws --endpoint-url {} {args}", moto.url), cwd, &[]);
    assert!(o.status.success(), "aws {args}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The stack's outputs, named as template.yaml names them (read with SAM's YAML loader).
fn template_output_names() -> Vec<String> {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(read_template_output_names).clone()
}

fn read_template_output_names() -> Vec<String> {
    let out = Command::new(repo().join(".venv/bin/python"))
        .current_dir(repo())
        .args(["scripts/template_json.py", "template.yaml"])
        .output()
        .expect("template_json.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["template"]["Outputs"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// A CloudFormation stack in moto named like the deployed one, with every output template.yaml
/// declares: the functions are the emulator's `lambda-probe`, the state machine the given one.
fn create_stub_stack(moto: &Moto, dir: &Path, stack: &str, state_machine_arn: &str) -> Value {
    let mut outputs = serde_json::Map::new();
    let mut values = serde_json::Map::new();
    for name in template_output_names() {
        let value = match name.as_str() {
            "Arm64FunctionName"
            | "X86FunctionName"
            | "Arm64LmiFunctionName"
            | "X86LmiFunctionName" => "lambda-probe".to_string(),
            n if n.ends_with("FunctionArn") => {
                format!("arn:aws:lambda:{REGION}:123456789012:function:lambda-probe-{n}")
            }
            "PowerTuningStateMachineArn" => state_machine_arn.to_string(),
            other => format!("stub-{other}"),
        };
        outputs.insert(name.clone(), json!({ "Value": value }));
        values.insert(name, json!(value));
    }
    let stub = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": outputs,
    });
    std::fs::write(dir.join("stub.json"), stub.to_string()).unwrap();
    aws(
        moto,
        &format!(
            "cloudformation create-stack --stack-name {stack} --template-body file://stub.json"
        ),
        dir,
    );
    Value::Object(values)
}

/// bench-payloads/ as quick versions (the emulator runs a debug build), for commands that name
/// payload files by their repository path.
fn quick_payloads(dir: &Path) {
    let payloads = dir.join("bench-payloads");
    std::fs::create_dir_all(&payloads).unwrap();
    for (name, payload) in common::bench_payloads() {
        std::fs::write(payloads.join(name), shrink(payload).to_string()).unwrap();
    }
}

/// The shell block README.md marks with `<!-- test:aws-invoke -->`.
fn readme_invoke_block() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let after = readme
        .split("<!-- test:aws-invoke -->")
        .nth(1)
        .expect("README.md has no <!-- test:aws-invoke --> block");
    let body = after
        .split_once("```sh\n")
        .expect("a ```sh block after the marker")
        .1;
    body.split_once("\n```")
        .expect("the block ends")
        .0
        .to_string()
}

#[test]
fn readme_invoke_lines_and_make_invoke_work_against_the_emulator() {
    let watch = Watch::start(&[]);
    let moto = start_moto();
    let dir = scratch("invoke");
    quick_payloads(&dir);
    create_stub_stack(
        &moto,
        &dir,
        STACK,
        "arn:aws:states:us-east-1:123456789012:stateMachine:none",
    );
    let lambda_url = format!("http://127.0.0.1:{}", watch.port);

    // README's lines, verbatim but for the endpoints: Lambda is the emulator (--endpoint-url on
    // every `aws lambda` command), CloudFormation is moto.
    let block = readme_invoke_block();
    let invokes = block.matches("aws lambda invoke").count();
    assert!(
        invokes >= 2,
        "README's block has {invokes} invoke lines:\n{block}"
    );
    let script = block.replace(
        "aws lambda invoke",
        &format!("aws lambda invoke --endpoint-url {lambda_url}"),
    );
    let o = shell(
        &script,
        &dir,
        &[("AWS_ENDPOINT_URL_CLOUDFORMATION", moto.url.as_str())],
    );
    assert!(
        o.status.success(),
        "README invoke block:\n{script}\n{}",
        text(&o)
    );
    // Each invoke wrote the probe's response where README says it does.
    let mut responses = 0;
    for word in block.split_whitespace() {
        if word.ends_with(".json") && !word.contains("bench-payloads") {
            let path = dir.join(word.trim_matches('"'));
            let r: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{word}: {e}"));
            common::assert_response_contract(&r, r["workload"].as_str().unwrap());
            responses += 1;
        }
    }
    assert!(responses >= 1, "no response file named in README's block");

    // `make invoke`: the function from the stack outputs, the summary, the (absent) log tail.
    let out_dir = dir.join("out");
    let payload = dir.join("bench-payloads/pbkdf2-single.json");
    let env = [
        ("AWS_ENDPOINT_URL_CLOUDFORMATION", moto.url.as_str()),
        ("AWS_ENDPOINT_URL_LAMBDA", lambda_url.as_str()),
        ("STACK", STACK),
        ("PROBE_OUT_DIR", out_dir.to_str().unwrap()),
    ];
    let make = |args: &str| {
        shell(
            &format!("make -s -C {} {args}", repo().display()),
            &dir,
            &env,
        )
    };
    let o = make(&format!("invoke W={} ARCH=x86_64", payload.display()));
    assert!(o.status.success(), "make invoke: {}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("invoking lambda-probe"), "{stdout}");
    assert!(stdout.contains("pbkdf2 · arch"), "{stdout}");
    assert!(stdout.contains("levels: "), "{stdout}");
    assert!(stdout.contains("REPORT: no log tail"), "{stdout}");
    assert!(
        !out_dir
            .join("invoke-pbkdf2-single-x86_64-tail.json")
            .exists(),
        "no tail, no tail file"
    );
    let r: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("invoke-pbkdf2-single-x86_64.json")).unwrap(),
    )
    .unwrap();
    common::assert_response_contract(&r, "pbkdf2");
    assert_eq!(
        r["params"]["iterations"], 2000,
        "the payload given, not another"
    );

    // A name in bench-payloads/ works too (env is quick in any build).
    let o = make("invoke W=env");
    assert!(o.status.success(), "make invoke W=env: {}", text(&o));
    // make invoke, tune and the rest talk to AWS through boto3 alone, never through an `aws`
    // process whose output they would have to decode (README's own lines use the CLI).
    let script = std::fs::read_to_string(repo().join("scripts/aws.py")).unwrap();
    assert!(
        !script.contains("subprocess") && script.contains("import boto3"),
        "scripts/aws.py must call AWS through boto3"
    );

    // Mistakes end with a message that says what to do, before any invocation.
    for (args, needle) in [
        ("invoke W=env MEMORY=64", "Lambda allows 128..10240 MB"),
        ("invoke W=no-such-payload", "choose one of"),
        ("invoke", "usage: make invoke"),
    ] {
        let o = make(args);
        assert!(!o.status.success(), "make {args} should fail: {}", text(&o));
        let all = text(&o);
        assert!(all.contains(needle), "make {args}: {all}");
    }
    let o = shell(
        &format!("make -s -C {} invoke W=env", repo().display()),
        &dir,
        &[
            ("AWS_ENDPOINT_URL_CLOUDFORMATION", moto.url.as_str()),
            ("STACK", "no-such-stack"),
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("make deploy"), "{}", text(&o));
}

/// A state machine that answers as Power Tuning's does: the analysis with its visualization.
const TUNED: &str = r#"{"StartAt":"Analyzer","States":{"Analyzer":{"Type":"Pass","Parameters":{
  "power":1769,"cost":2.1e-7,"duration":42.0,"lambdaARN.$":"$.lambdaARN","num.$":"$.num",
  "stateMachine":{"executionCost":0.00045,"lambdaCost":0.0001,
  "visualization":"https://lambda-power-tuning.show/#test"},
  "stats":[{"value":128,"averageDuration":500.0,"averagePrice":1e-6}]},"End":true}}}"#;

/// As Power Tuning's does when a memory size fails: its CleanUpOnError step ends the run as
/// SUCCEEDED without output.
const ABORTED: &str = r#"{"StartAt":"Executor","States":{"Executor":{"Type":"Pass",
  "Result":{"Error":"Error","Cause":"Invocation error: OverBudget at 128 MB"},"ResultPath":"$.error",
  "Next":"CleanUpOnError"},"CleanUpOnError":{"Type":"Pass","ResultPath":null,"OutputPath":null,
  "End":true}}}"#;

const FAILED: &str = r#"{"StartAt":"Fail","States":{"Fail":{"Type":"Fail",
  "Error":"States.Timeout","Cause":"the executor ran out of time"}}}"#;

/// As Power Tuning's does, with results that depend on the function tuned: the x86_64 function's
/// ARN (its stack output's stand-in ends with X86FunctionArn) gets other figures than arm64's.
const PER_ARCH: &str = r#"{"StartAt":"Which","States":{"Which":{"Type":"Choice",
  "Choices":[{"Variable":"$.lambdaARN","StringMatches":"*X86FunctionArn","Next":"X86"}],
  "Default":"Arm64"},
  "Arm64":{"Type":"Pass","Parameters":{"power":1769,"cost":0.0000001,"duration":40.0,
    "stateMachine":{"visualization":"https://lambda-power-tuning.show/#arm64"},
    "stats":[{"value":128,"averageDuration":500.0,"averagePrice":0.000001},
             {"value":1769,"averageDuration":40.0,"averagePrice":0.0000001}]},"End":true},
  "X86":{"Type":"Pass","Parameters":{"power":3538,"cost":0.0000004,"duration":30.0,
    "stateMachine":{"visualization":"https://lambda-power-tuning.show/#x86_64"},
    "stats":[{"value":128,"averageDuration":400.0,"averagePrice":0.0000008},
             {"value":3538,"averageDuration":30.0,"averagePrice":0.0000004}]},"End":true}}}"#;

#[test]
fn make_tune_fills_in_the_function_runs_the_state_machine_and_reports_its_end() {
    let moto = start_moto();
    let dir = scratch("tune");
    let mut state_machines = Vec::new();
    for (name, definition) in [
        ("tuned", TUNED),
        ("aborted", ABORTED),
        ("failed", FAILED),
        ("per-arch", PER_ARCH),
    ] {
        std::fs::write(dir.join(format!("{name}.json")), definition).unwrap();
        state_machines.push(aws(
            &moto,
            &format!(
                "stepfunctions create-state-machine --name {name} --definition file://{name}.json \
                 --role-arn arn:aws:iam::123456789012:role/power-tuning \
                 --query stateMachineArn --output text"
            ),
            &dir,
        ));
    }

    let run_target = |target: &str, stack: &str, args: &str| {
        let out_dir = dir.join(format!("out-{stack}"));
        let o = shell(
            &format!(
                "make -s -C {} {target} {args} POLL_S=0.5 WAIT_S=60",
                repo().display()
            ),
            &dir,
            &[
                ("AWS_ENDPOINT_URL_CLOUDFORMATION", moto.url.as_str()),
                ("AWS_ENDPOINT_URL_SFN", moto.url.as_str()),
                ("STACK", stack),
                ("PROBE_OUT_DIR", out_dir.to_str().unwrap()),
            ],
        );
        (o, out_dir)
    };
    let run = |stack: &str, args: &str| run_target("tune", stack, args);

    // One stack per state machine; STACK picks the one a run reads.
    let mut outputs = Vec::new();
    for (i, arn) in state_machines.iter().enumerate() {
        let stack_dir = dir.join(format!("stack-{i}"));
        std::fs::create_dir_all(&stack_dir).unwrap();
        outputs.push(create_stub_stack(
            &moto,
            &stack_dir,
            &format!("tune-{i}"),
            arn,
        ));
    }

    // Success: the ARN from the outputs replaced the placeholder, the run was followed to its
    // end, and the visualization URL printed.
    let (o, out_dir) = run("tune-0", "W=pbkdf2-1-thread ARCH=x86_64");
    assert!(o.status.success(), "make tune: {}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("visualization: https://lambda-power-tuning.show/#test"),
        "{stdout}"
    );
    assert!(
        stdout.contains("recommended (balanced): 1769 MB"),
        "{stdout}"
    );
    let sent: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("tune-pbkdf2-1-thread-x86_64-input.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sent["lambdaARN"], outputs[0]["X86FunctionArn"]);
    let shipped: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("bench-payloads/power-tuning/pbkdf2-1-thread.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sent["payload"], shipped["payload"]);
    assert_eq!(sent["powerValues"], shipped["powerValues"]);
    let result: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("tune-pbkdf2-1-thread-x86_64.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        result["lambdaARN"], outputs[0]["X86FunctionArn"],
        "the state machine got the filled-in input"
    );

    // An aborted run (SUCCEEDED without results) and a failed one are failures, with the reason.
    // (make itself exits with 2 whenever a command fails.)
    let (o, _) = run("tune-1", "W=alloc-reuse");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("without results"), "{}", text(&o));
    assert!(text(&o).contains("OverBudget at 128 MB"), "{}", text(&o));
    let (o, _) = run("tune-2", "W=io-concurrency-1");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("FAILED"), "{}", text(&o));
    assert!(text(&o).contains("States.Timeout"), "{}", text(&o));

    // No Power Tuning in the stack, or no such experiment: a message, not a traceback.
    let (o, _) = run("no-such-stack", "W=pbkdf2-1-thread");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("make deploy"), "{}", text(&o));
    let (o, _) = run("tune-0", "W=nope");
    assert!(text(&o).contains("choose one of"), "{}", text(&o));

    // tune-both: the same input for both functions, their results side by side.
    let (o, out_dir) = run_target("tune-both", "tune-3", "W=pbkdf2-2-threads");
    assert!(o.status.success(), "make tune-both: {}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "recommended for arm64 (balanced): 1769 MB, 40 ms",
        "recommended for x86_64 (balanced): 3538 MB, 30 ms",
        "https://lambda-power-tuning.show/#arm64",
        "https://lambda-power-tuning.show/#x86_64",
    ] {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }
    // One row per size, arm64's columns then x86_64's; a size one side lacks shows a dash.
    let row = |mb: &str| {
        stdout
            .lines()
            .find(|l| l.split('|').next().is_some_and(|c| c.trim() == mb))
            .map(|l| {
                l.split('|')
                    .map(|c| c.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_else(|| panic!("no row for {mb} MB: {stdout}"))
    };
    assert_eq!(row("128"), ["128", "500", "1e-06", "400", "8e-07"]);
    assert_eq!(row("3538"), ["3538", "-", "-", "30", "4e-07"]);
    for arch in ["arm64", "x86_64"] {
        let sent: Value = serde_json::from_str(
            &std::fs::read_to_string(
                out_dir.join(format!("tune-pbkdf2-2-threads-{arch}-input.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let key = if arch == "arm64" {
            "Arm64FunctionArn"
        } else {
            "X86FunctionArn"
        };
        assert_eq!(sent["lambdaARN"], outputs[3][key], "{arch}");
        assert!(out_dir
            .join(format!("tune-pbkdf2-2-threads-{arch}.json"))
            .exists());
    }
    // One side failing fails the command, and says which.
    let (o, _) = run_target("tune-both", "tune-2", "W=pbkdf2-2-threads");
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("arm64: Power Tuning run FAILED"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("x86_64: Power Tuning run FAILED"),
        "{}",
        text(&o)
    );
}

/// base64 of a log tail as Lambda returns it: "START RequestId: 1 Version: $LATEST\n" then
/// "REPORT RequestId: 1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB\t
/// Max Memory Used: 21 MB\t\n".
const LOG_TAIL_B64: &str = "U1RBUlQgUmVxdWVzdElkOiAxIFZlcnNpb246ICRMQVRFU1QKUkVQT1JUIFJlcXVlc3RJZDogMQlEdXJhdGlvbjogMTIuMzQgbXMJQmlsbGVkIER1cmF0aW9uOiAxMyBtcwlNZW1vcnkgU2l6ZTogNTEyIE1CCU1heCBNZW1vcnkgVXNlZDogMjEgTUIJCg==";

/// A Lambda endpoint in two halves: invocations go to the Runtime API emulator, the control plane
/// (get/update the configuration, the waiter) to moto, which keeps a function of the same name.
/// Every request's method and path is recorded, in order.
struct LambdaSplit {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl LambdaSplit {
    fn start(invocations: u16, control: u16) -> LambdaSplit {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            // Bounded: it ends when the test drops it, or after 10 minutes.
            let began = std::time::Instant::now();
            while !stop2.load(Ordering::Relaxed) && began.elapsed() < Duration::from_secs(600) {
                let Ok((mut client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                client
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                // One request: the head, then Content-Length bytes of body.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    let n = client.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(i + 4);
                    }
                };
                let Some(head_end) = head_end else { continue };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let n = client.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let request_line = head.lines().next().unwrap_or("").to_string();
                let path = request_line.split_whitespace().nth(1).unwrap_or("");
                let port = if path.ends_with("/invocations") {
                    invocations
                } else {
                    control
                };
                seen2.lock().unwrap().push(
                    request_line
                        .rsplit_once(' ')
                        .map(|(a, _)| a.to_string())
                        .unwrap_or_default(),
                );
                // Forward with `Connection: close`, so the answer ends where the upstream closes.
                let mut upstream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut forwarded: Vec<u8> = head
                    .lines()
                    .filter(|l| !l.to_ascii_lowercase().starts_with("connection:") && !l.is_empty())
                    .flat_map(|l| format!("{l}\r\n").into_bytes())
                    .collect();
                forwarded.extend_from_slice(b"Connection: close\r\n\r\n");
                forwarded.extend_from_slice(&buf[head_end..]);
                upstream.write_all(&forwarded).unwrap();
                let mut answer = Vec::new();
                let _ = upstream.read_to_end(&mut answer);
                // Lambda sends the log tail of an invocation asked with `--log-type Tail` in a
                // header the emulator does not send; add one, as Lambda writes it.
                if port == invocations {
                    if let Some(eol) = answer.windows(2).position(|w| w == b"\r\n") {
                        let header = format!("X-Amz-Log-Result: {LOG_TAIL_B64}\r\n");
                        answer.splice(eol + 2..eol + 2, header.into_bytes());
                    }
                }
                let _ = client.write_all(&answer);
            }
        });
        LambdaSplit { url, seen, stop }
    }
}

impl Drop for LambdaSplit {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn make_invoke_memory_sets_the_size_and_waits_before_invoking() {
    let watch = Watch::start(&[]);
    let moto = start_moto();
    let dir = scratch("memory");
    quick_payloads(&dir);
    create_stub_stack(
        &moto,
        &dir,
        STACK,
        "arn:aws:states:us-east-1:123456789012:stateMachine:none",
    );
    // The control plane's copy of the function, at 1,769 MB.
    let o = shell(
        &format!(
            "python3 -c 'import zipfile; zipfile.ZipFile(\"code.zip\", \"w\").writestr(\"bootstrap\", \"\")'
             aws --endpoint-url {m} iam create-role --role-name probe \
               --assume-role-policy-document '{{\"Version\":\"2012-10-17\",\"Statement\":[]}}' >/dev/null
             aws --endpoint-url {m} lambda create-function --function-name lambda-probe \
               --runtime provided.al2023 --handler bootstrap --memory-size 1769 \
               --role arn:aws:iam::123456789012:role/probe --zip-file fileb://code.zip >/dev/null",
            m = moto.url
        ),
        &dir,
        &[],
    );
    assert!(o.status.success(), "moto function: {}", text(&o));
    let split = LambdaSplit::start(
        watch.port,
        moto.url.rsplit(':').next().unwrap().parse().unwrap(),
    );

    let out_dir = dir.join("out");
    let make = || {
        shell(
            &format!(
                "make -s -C {} invoke W={} ARCH=arm64 MEMORY=512",
                repo().display(),
                dir.join("bench-payloads/env.json").display()
            ),
            &dir,
            &[
                ("AWS_ENDPOINT_URL_CLOUDFORMATION", moto.url.as_str()),
                ("AWS_ENDPOINT_URL_LAMBDA", split.url.as_str()),
                ("STACK", STACK),
                ("PROBE_OUT_DIR", out_dir.to_str().unwrap()),
            ],
        )
    };
    let o = make();
    assert!(o.status.success(), "make invoke MEMORY=512: {}", text(&o));
    assert!(text(&o).contains("memory 1769 -> 512 MB"), "{}", text(&o));
    // The REPORT line, decoded from the log tail, tabs made readable.
    assert!(
        text(&o).contains(
            "REPORT RequestId: 1  Duration: 12.34 ms  Billed Duration: 13 ms  Memory Size: 512 MB  Max Memory Used: 21 MB"
        ),
        "{}",
        text(&o)
    );
    let size = aws(
        &moto,
        "lambda get-function-configuration --function-name lambda-probe --query MemorySize --output text",
        &dir,
    );
    assert_eq!(size, "512");
    // The update, then the waiter's reads, then the invocation.
    let seen = split.seen.lock().unwrap().clone();
    let update = seen
        .iter()
        .position(|r| r.starts_with("PUT ") && r.ends_with("/configuration"))
        .unwrap_or_else(|| panic!("no configuration update: {seen:?}"));
    let invoke = seen
        .iter()
        .position(|r| r.starts_with("POST ") && r.ends_with("/invocations"))
        .unwrap_or_else(|| panic!("no invocation: {seen:?}"));
    assert!(
        update + 1 < invoke
            && seen[update + 1..invoke]
                .iter()
                .all(|r| r.starts_with("GET ")),
        "update, wait, then invoke: {seen:?}"
    );
    assert!(out_dir.join("invoke-env-arm64-512mb.json").exists());
    // The tail is saved for `report`, in filter-log-events' shape, with the architecture and
    // workload of the response of the same invocation (this machine's, whatever ARCH said).
    let tail_path = out_dir.join("invoke-env-arm64-512mb-tail.json");
    let tail: Value = serde_json::from_str(&std::fs::read_to_string(&tail_path).unwrap()).unwrap();
    let response: Value = serde_json::from_str(
        &std::fs::read_to_string(out_dir.join("invoke-env-arm64-512mb.json")).unwrap(),
    )
    .unwrap();
    let arch =
        lambda_probe::lambda_model::Arch::parse(response["environment"]["arch"].as_str().unwrap())
            .unwrap()
            .name();
    assert_eq!(
        (
            tail["architecture"].as_str(),
            tail["workload"].as_str(),
            tail["functionName"].as_str()
        ),
        (Some(arch), Some("env"), Some("lambda-probe")),
        "{tail}"
    );
    let messages: Vec<&str> = tail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "START RequestId: 1 Version: $LATEST",
            "REPORT RequestId: 1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB\tMax Memory Used: 21 MB\t"
        ]
    );
    // `make report IN="out/invoke-*.json"` reads the response and its REPORT line, side by side.
    let (ok, md, stderr) = common::tools_report(
        &[
            out_dir.join("invoke-env-arm64-512mb.json"),
            tail_path.clone(),
        ],
        &dir.join("report"),
    );
    assert!(ok, "{stderr}");
    // The probe's own run stands beside it at its own memory size (the emulator fakes 4,096 MB,
    // where this REPORT line, written here, says 512).
    let wall = response["summary"]["wall_ms"].as_f64().unwrap();
    let probe = if response["environment"]["memory_mb"] == 512 {
        format!("1 | {wall:.3}")
    } else {
        "0 | –".to_string()
    };
    let row = format!(
        "| {arch} | 512 | env | 1 | 12.34 | 12.34 | 13 | 21 / 21 | 4.1 | 0 | – | {probe} |"
    );
    assert!(md.contains(&row), "{row}\n{md}");

    // Already at that size: no update.
    let before = split.seen.lock().unwrap().len();
    let o = make();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("already 512 MB"), "{}", text(&o));
    let again = split.seen.lock().unwrap()[before..].to_vec();
    assert!(!again.iter().any(|r| r.starts_with("PUT ")), "{again:?}");
}

/// The shell block docs/managed-instances.md marks with `<!-- test:lmi-invoke -->`.
fn lmi_invoke_block() -> String {
    let doc = std::fs::read_to_string(repo().join("docs/managed-instances.md")).unwrap();
    let after = doc
        .split("<!-- test:lmi-invoke -->")
        .nth(1)
        .expect("docs/managed-instances.md has no <!-- test:lmi-invoke --> block");
    let body = after.split_once("```sh\n").expect("a ```sh block").1;
    body.split_once("\n```")
        .expect("the block ends")
        .0
        .to_string()
}

/// docs/managed-instances.md's K parallel `aws lambda invoke` and `make invoke-lmi`, against the
/// emulator (several function processes: `cargo lambda watch --concurrency 4`).
#[test]
fn lmi_invoke_lines_and_make_invoke_lmi_work_against_the_emulator() {
    let watch = Watch::start_with(&["--concurrency", "4"], &[]);
    let moto = start_moto();
    let dir = scratch("invoke-lmi");
    quick_payloads(&dir);
    create_stub_stack(
        &moto,
        &dir,
        STACK,
        "arn:aws:states:us-east-1:123456789012:stateMachine:none",
    );
    let lambda_url = format!("http://127.0.0.1:{}", watch.port);

    // The document's block, verbatim but for the endpoints.
    let block = lmi_invoke_block();
    assert!(
        block.contains("Arm64LmiFunctionName") && block.contains('&'),
        "{block}"
    );
    let script = block.replace(
        "aws lambda invoke",
        &format!("aws lambda invoke --endpoint-url {lambda_url}"),
    );
    let o = shell(
        &script,
        &dir,
        &[("AWS_ENDPOINT_URL_CLOUDFORMATION", moto.url.as_str())],
    );
    assert!(
        o.status.success(),
        "the LMI invoke block:\n{script}\n{}",
        text(&o)
    );
    for i in 1..=4 {
        let path = dir.join(format!("lmi-4-{i}.json"));
        let r: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        common::assert_response_contract(&r, "pbkdf2");
    }

    // make invoke-lmi: an experiment of the quick payloads, every level, one line per answer.
    let lmi_dir = dir.join("bench-payloads/lmi");
    std::fs::create_dir_all(&lmi_dir).unwrap();
    let real: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("bench-payloads/lmi/pbkdf2-1-thread.json")).unwrap(),
    )
    .unwrap();
    let mut quick = real.clone();
    quick["rounds"] = json!(2);
    std::fs::write(lmi_dir.join("pbkdf2-1-thread.json"), quick.to_string()).unwrap();
    let out_dir = dir.join("out");
    let env = [
        ("AWS_ENDPOINT_URL_CLOUDFORMATION", moto.url.as_str()),
        ("AWS_ENDPOINT_URL_LAMBDA", lambda_url.as_str()),
        ("STACK", STACK),
        ("PROBE_OUT_DIR", out_dir.to_str().unwrap()),
    ];
    let make = |args: &str| {
        shell(
            &format!("make -s -C {} {args}", repo().display()),
            &dir,
            &env,
        )
    };
    let o = make(&format!(
        "invoke-lmi W={} ARCH=x86_64",
        lmi_dir.join("pbkdf2-1-thread.json").display()
    ));
    assert!(o.status.success(), "make invoke-lmi: {}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("most in one process"), "{stdout}");
    let lines: Vec<Value> =
        std::fs::read_to_string(out_dir.join("lmi-pbkdf2-1-thread-x86_64.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let levels: Vec<u64> = real["concurrency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_u64().unwrap())
        .collect();
    assert_eq!(lines.len() as u64, levels.iter().sum::<u64>() * 2);
    for r in &lines {
        common::assert_response_contract(r, "pbkdf2");
        assert_eq!(r["params"]["iterations"], 2000, "the quick payload");
    }
    // One table row per level.
    for k in levels {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{k} "))),
            "no row for {k}: {stdout}"
        );
    }

    // Mistakes say what to do before any invocation.
    for (args, needle) in [
        ("invoke-lmi", "usage: make invoke-lmi"),
        ("invoke-lmi W=no-such-experiment", "choose one of"),
    ] {
        let o = make(args);
        assert!(!o.status.success(), "make {args} should fail: {}", text(&o));
        assert!(text(&o).contains(needle), "make {args}: {}", text(&o));
    }
    let broken = lmi_dir.join("broken.json");
    let mut b = quick.clone();
    b["payload"] = json!("no-such-payload.json");
    std::fs::write(&broken, b.to_string()).unwrap();
    let o = make(&format!("invoke-lmi W={}", broken.display()));
    assert!(!o.status.success());
    assert!(text(&o).contains("`payload` names"), "{}", text(&o));
}
