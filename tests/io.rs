//! The io workload against real local servers on 127.0.0.1: moto (a DynamoDB-compatible server)
//! for the writes; for the faults a server stopped mid-run, one that never answers, and the
//! harness's fault-injecting proxy in front of moto (throttling, connections closed mid-request,
//! slow answers); and every io bench payload end to end through the Runtime API emulator.
//!
//! The probe runs as its own process (`lambda-probe run -`, or `cargo lambda watch`) with a
//! clean environment: the table, endpoint, region and credentials reach it the way they reach a
//! deployed function, through environment variables only.

mod common;

use common::moto::Moto;
use common::proxy::{Fault, Proxy};
use common::{
    assert_response_contract, bench_payloads, probe_cmd, run_probe_cmd, shrink, ProbeRun, Watch,
};
use lambda_probe::workloads::io::MAX_ATTEMPTS as IO_MAX_ATTEMPTS;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TABLE: &str = "probe-items";

/// The environment a deployed function would have, pointed at `endpoint`.
fn function_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TABLE_NAME", TABLE.to_string()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

/// Runs `lambda-probe run - --timeout-ms N` through the shared runner with only `env` (plus
/// settings that keep the SDK off this machine's files and off the network beyond 127.0.0.1),
/// killing it after `limit`.
fn run_probe(
    env: &[(&str, String)],
    payload: &Value,
    timeout_ms: u64,
    limit: Duration,
) -> ProbeRun {
    let mut cmd = probe_cmd(&["--timeout-ms", &timeout_ms.to_string()]);
    cmd.env_clear()
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    run_probe_cmd(cmd, payload.to_string().as_bytes(), limit)
}

fn samples(r: &Value) -> &Vec<Value> {
    r["samples"].as_array().expect("samples")
}

fn levels(r: &Value) -> &Vec<Value> {
    r["summary"]["levels"].as_array().expect("summary.levels")
}

fn unix_now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Checks the per-level figures against the samples they summarise.
fn assert_levels_match_samples(r: &Value) {
    let rows = samples(r);
    for (i, level) in levels(r).iter().enumerate() {
        let mine: Vec<&Value> = rows.iter().filter(|s| s["level"] == i).collect();
        let errors = mine.iter().filter(|s| !s["error"].is_null()).count();
        assert_eq!(level["items_attempted"], mine.len(), "{level}");
        assert_eq!(level["errors"], errors, "{level}");
        assert_eq!(level["items_ok"], mine.len() - errors, "{level}");
        let by_code: u64 = level["error_codes"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(by_code, errors as u64, "{level}");
        assert_eq!(level["first_error"].is_null(), errors == 0, "{level}");
        let c = level["concurrency"].as_u64().unwrap();
        assert!(level["max_in_flight"].as_u64().unwrap() <= c, "{level}");
        for s in &mine {
            assert_eq!(s["concurrency"], c, "{s}");
        }
    }
}

#[test]
fn writes_every_item_one_at_a_time_and_concurrently() {
    let moto = Moto::start();
    moto.create_table(TABLE);
    let payload = json!({"workload": "io", "items": 25, "concurrency": [1, 4], "item_bytes": 300});
    let before = unix_now_s();
    let run = run_probe(
        &function_env(&moto.url),
        &payload,
        120_000,
        Duration::from_secs(120),
    );
    assert!(run.ok, "{}", run.body);
    let r = &run.body;
    assert_response_contract(r, "io");
    assert_eq!(r["truncated"], false, "{r}");
    assert_eq!(
        r["params"],
        json!({"items": 25, "concurrency": [1, 4], "item_bytes": 300})
    );
    let s = &r["summary"];
    assert_eq!(s["table"], TABLE);
    assert_eq!(s["region"], "us-east-1");
    assert_eq!(s["items_written"], 50, "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    assert_eq!(s["client_built_this_invocation"], true, "{s}");
    assert!(s["client_init_ms"].as_f64().unwrap() > 0.0, "{s}");
    assert_levels_match_samples(r);

    let lv = levels(r);
    assert_eq!(lv.len(), 2);
    assert_eq!(lv[0]["concurrency"], 1);
    assert_eq!(
        lv[0]["max_in_flight"], 1,
        "one at a time means one: {}",
        lv[0]
    );
    assert_eq!(lv[0]["speedup"], 1.0);
    let four = &lv[1];
    assert_eq!(four["concurrency"], 4);
    let most = four["max_in_flight"].as_u64().unwrap();
    assert!((2..=4).contains(&most), "4 allowed in flight, {most} seen");
    assert!(four["speedup"].as_f64().unwrap() > 0.0, "{four}");
    for l in lv {
        assert_eq!(l["items_ok"], 25, "{l}");
        for k in [
            "latency_p50_us",
            "latency_p90_us",
            "latency_p99_us",
            "latency_max_us",
        ] {
            assert!(l[k].as_u64().unwrap() > 0, "{k}: {l}");
        }
        assert!(l["latency_p50_us"].as_u64() <= l["latency_max_us"].as_u64());
        assert!(l["items_per_s"].as_f64().unwrap() > 0.0, "{l}");
        assert!(l["cpu_us_per_call"].as_f64().unwrap() > 0.0, "{l}");
    }
    for row in samples(r) {
        assert_eq!(row["attempts"], 1, "{row}");
        assert!(row["error"].is_null(), "{row}");
        assert!(row["latency_us"].as_u64().unwrap() > 0, "{row}");
    }
    // At concurrency 1 each call starts after the previous one has returned.
    let seq: Vec<&Value> = samples(r).iter().filter(|s| s["level"] == 0).collect();
    for w in seq.windows(2) {
        let end = w[0]["start_us"].as_u64().unwrap() + w[0]["latency_us"].as_u64().unwrap();
        assert!(
            w[1]["start_us"].as_u64().unwrap() >= end,
            "{} then {}",
            w[0],
            w[1]
        );
    }

    // The items are really in the table, with the attributes the workload promises.
    let items = moto.scan(TABLE);
    let prefix = s["key_prefix"].as_str().unwrap();
    assert_eq!(
        prefix,
        format!("{}/1", r["environment"]["sandbox_id"].as_str().unwrap())
    );
    assert_eq!(
        items.len(),
        50,
        "keys: {:?}",
        items.keys().collect::<Vec<_>>()
    );
    for (level, c) in [(0, 1), (1, 4)] {
        for i in 0..25 {
            let key = format!("{prefix}/{level}-c{c}/{i}");
            let item = items.get(&key).unwrap_or_else(|| panic!("{key} missing"));
            assert_eq!(item["payload"].as_b().unwrap().as_ref().len(), 300, "{key}");
            assert_eq!(item["concurrency"].as_n().unwrap(), &c.to_string());
            assert_eq!(item["item"].as_n().unwrap(), &i.to_string());
            let expires: u64 = item["expires_at"].as_n().unwrap().parse().unwrap();
            assert!(
                expires >= before + 86_400 && expires <= unix_now_s() + 86_400,
                "{key}: expires_at {expires}"
            );
        }
    }

    // A second process (another sandbox) writes beside the first, never over it.
    let again = run_probe(
        &function_env(&moto.url),
        &json!({"workload": "io", "items": 3, "concurrency": [2]}),
        60_000,
        Duration::from_secs(60),
    );
    assert!(again.ok, "{}", again.body);
    assert_eq!(moto.scan(TABLE).len(), 53);
}

#[test]
fn a_server_that_dies_mid_run_is_recorded_per_item() {
    let mut moto = Moto::start();
    moto.create_table(TABLE);
    let env = function_env(&moto.url);
    let payload = json!({"workload": "io", "items": 400, "concurrency": [1, 4]});
    let probe =
        std::thread::spawn(move || run_probe(&env, &payload, 90_000, Duration::from_secs(120)));
    // Stop the server once the run is well under way.
    let started = Instant::now();
    let mut written = 0;
    while written < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(60) && !probe.is_finished(),
            "the run never got going ({written} items)"
        );
        std::thread::sleep(Duration::from_millis(50));
        written = moto.scan(TABLE).len();
    }
    moto.guard.stop();
    let run = probe.join().unwrap();
    assert!(run.ok, "{}", run.body);
    let r = &run.body;
    assert_response_contract(r, "io");
    assert_levels_match_samples(r);
    // The server died, not the deadline: every item was tried and the response is whole.
    assert_eq!(r["truncated"], false, "{r}");
    assert!(run.took < Duration::from_secs(90), "took {:?}", run.took);
    let rows = samples(r);
    assert_eq!(rows.len(), 800);
    let ok = rows.iter().filter(|s| s["error"].is_null()).count();
    let failed: Vec<&Value> = rows.iter().filter(|s| !s["error"].is_null()).collect();
    assert!(ok >= written, "{ok} ok, {written} seen in the table");
    assert!(
        failed.len() >= 400,
        "the whole second level must fail: {}",
        failed.len()
    );
    assert_eq!(r["summary"]["errors"], failed.len());
    assert_eq!(r["summary"]["items_written"], ok);
    for f in &failed {
        let code = f["error"].as_str().unwrap();
        assert!(
            [
                "ConnectionRefused",
                "ConnectionReset",
                "BrokenPipe",
                "UnexpectedEof",
                "DispatchFailure",
                "ResponseError",
                "IoError",
                "Timeout"
            ]
            .contains(&code),
            "unexpected error code {code}: {f}"
        );
        let attempts = f["attempts"].as_u64().unwrap();
        assert!((1..=3).contains(&attempts), "{f}");
    }
    let dead = &levels(r)[1];
    assert_eq!(dead["items_ok"], 0, "{dead}");
    assert!(dead["latency_p50_us"].is_null(), "{dead}");
    assert!(dead["speedup"].is_null(), "{dead}");
    assert!(dead["first_error"].as_str().unwrap().len() > 10, "{dead}");
}

/// The largest response io may give (every limit at its maximum: 1,000 items × 8 levels × 64
/// in flight) fits Lambda's 6 MB response limit. A real run against a port nobody listens on:
/// every call fails at once (the SDK's retry budget stops retrying a dead endpoint), so 8,000
/// rows come back in seconds, each with an error code; the margin covers the longest code a
/// service can send instead (`ProvisionedThroughputExceededException`).
#[test]
fn the_largest_io_response_fits_lambdas_6_mb_limit() {
    use lambda_probe::workloads::io::{MAX_CONCURRENCY, MAX_CONCURRENCY_ENTRIES, MAX_ITEMS};
    const LAMBDA_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
    let port = common::free_port();
    let payload = json!({
        "workload": "io",
        "items": MAX_ITEMS,
        "concurrency": vec![MAX_CONCURRENCY; MAX_CONCURRENCY_ENTRIES],
        "item_bytes": 1,
    });
    let run = run_probe(
        &function_env(&format!("http://127.0.0.1:{port}")),
        &payload,
        120_000,
        Duration::from_secs(150),
    );
    assert!(run.ok, "{}", run.body);
    let r = &run.body;
    assert_response_contract(r, "io");
    let rows = samples(r);
    assert_eq!(
        rows.len(),
        MAX_ITEMS as usize * MAX_CONCURRENCY_ENTRIES,
        "{}",
        r["truncated"]
    );
    let bytes = r.to_string().len();
    let longest = "ProvisionedThroughputExceededException".len();
    let worst = bytes
        + rows
            .iter()
            .map(|s| longest.saturating_sub(s["error"].as_str().map_or(0, str::len)))
            .sum::<usize>();
    eprintln!(
        "largest io response: {bytes} bytes as run, {worst} with the longest error code on every row, {} s",
        run.took.as_secs_f64()
    );
    assert!(worst < LAMBDA_RESPONSE_BYTES, "{worst} bytes");
}

// ---------------------------------------------------------------- faults through a proxy
// Every fault below is injected by the harness's proxy (tests/common/proxy.rs) in front of a real
// moto server: what the proxy does not fault is moto's own answer, so every success is a real
// write, checked with a scan.

/// The transport failures a cut connection may surface as.
const CUT_CODES: [&str; 8] = [
    "ConnectionRefused",
    "ConnectionReset",
    "BrokenPipe",
    "UnexpectedEof",
    "DispatchFailure",
    "ResponseError",
    "IoError",
    "Timeout",
];

/// `payload` run by the probe through a proxy with `fault` in front of moto (with the table),
/// the response checked against the contract and against its own per-level figures.
fn run_through(fault: Fault, payload: Value, timeout_ms: u64) -> (Moto, Proxy, ProbeRun) {
    let moto = Moto::start();
    moto.create_table(TABLE);
    let proxy = Proxy::start(moto.port, fault);
    let limit = Duration::from_millis(timeout_ms).max(Duration::from_secs(30));
    let run = run_probe(
        &function_env(&proxy.endpoint()),
        &payload,
        timeout_ms,
        limit,
    );
    assert!(run.ok, "{}", run.body);
    assert_response_contract(&run.body, "io");
    assert_levels_match_samples(&run.body);
    (moto, proxy, run)
}

/// What each item of a concurrency-1 level should get through `fault` when the proxy has seen
/// `first` requests before it: (attempts, succeeded), from the proxy's numbering and the
/// probe's bounded attempts.
fn expected_one_at_a_time(fault: Fault, first: usize, items: usize) -> (Vec<(u64, bool)>, usize) {
    let mut n = first;
    let mut out = Vec::new();
    for _ in 0..items {
        let mut attempts = 0;
        let ok = loop {
            attempts += 1;
            let hit = fault.hits(n);
            n += 1;
            if !hit {
                break true;
            }
            if attempts == IO_MAX_ATTEMPTS as u64 {
                break false;
            }
        };
        out.push((attempts, ok));
    }
    (out, n)
}

/// Checks a concurrency-1 run against the proxy's model, and the table against the successes.
fn assert_matches_model(r: &Value, fault: Fault, moto: &Moto, codes: &[&str]) -> (usize, usize) {
    let rows = samples(r);
    let (want, requests) = expected_one_at_a_time(fault, 0, rows.len());
    let prefix = r["summary"]["key_prefix"].as_str().unwrap();
    let table = moto.scan(TABLE);
    let mut ok = 0;
    for (row, (attempts, good)) in rows.iter().zip(&want) {
        assert_eq!(&row["attempts"].as_u64().unwrap(), attempts, "{row}");
        let key = format!(
            "{prefix}/{}-c1/{}",
            row["level"].as_u64().unwrap(),
            row["item"].as_u64().unwrap()
        );
        if *good {
            ok += 1;
            assert!(row["error"].is_null(), "{row}");
            assert!(
                table.contains_key(&key),
                "{key} reported ok, not in the table"
            );
        } else {
            let code = row["error"].as_str().unwrap_or_else(|| panic!("{row}"));
            assert!(codes.contains(&code), "unexpected error code {code}: {row}");
            assert!(!table.contains_key(&key), "{key} failed, yet in the table");
        }
    }
    assert_eq!(table.len(), ok, "scan count = items reported ok");
    assert_eq!(r["summary"]["items_written"], ok, "{r}");
    assert_eq!(r["summary"]["errors"], rows.len() - ok, "{r}");
    (ok, requests)
}

#[test]
fn throttling_is_retried_counted_and_recorded() {
    let started = Instant::now();
    let pte = "ProvisionedThroughputExceededException";
    // Every other request throttled: each call succeeds on its second attempt, really written.
    let every_other = Fault::Throttle {
        every_nth: 2,
        burst: 1,
        code: pte,
    };
    let (moto, proxy, run) = run_through(
        every_other,
        json!({"workload": "io", "items": 6, "concurrency": [1]}),
        60_000,
    );
    let r = &run.body;
    assert_eq!(
        r["summary"]["retry_policy"]["max_attempts"],
        IO_MAX_ATTEMPTS
    );
    assert_eq!(r["summary"]["errors"], 0, "{r}");
    for row in samples(r) {
        assert_eq!(row["attempts"], 2, "{row}");
    }
    assert_eq!(assert_matches_model(r, every_other, &moto, &[]), (6, 12));
    assert_eq!(proxy.requests.load(Ordering::SeqCst), 12);
    eprintln!("throttle every other: 6 items, 6 ok, took {:?}", run.took);
    drop((proxy, moto));

    // Always throttled: each call gives up after the bounded attempts, with the service's code,
    // at one and at two in flight; nothing reaches the table.
    let always = Fault::Throttle {
        every_nth: 1,
        burst: 1,
        code: pte,
    };
    let (moto, proxy, run) = run_through(
        always,
        json!({"workload": "io", "items": 4, "concurrency": [1, 2]}),
        60_000,
    );
    let r = &run.body;
    assert_eq!(r["truncated"], false);
    assert_eq!(r["summary"]["errors"], 8, "{r}");
    for row in samples(r) {
        assert_eq!(row["attempts"], IO_MAX_ATTEMPTS, "{row}");
        assert_eq!(row["error"], pte, "{row}");
    }
    for l in levels(r) {
        assert_eq!(l["error_codes"], json!({pte: 4}), "{l}");
        assert!(
            l["first_error"].as_str().unwrap().contains("throughput"),
            "{l}"
        );
    }
    assert_eq!(proxy.requests.load(Ordering::SeqCst), 24);
    assert_eq!(moto.scan(TABLE).len(), 0);
    eprintln!("throttle always: 8 items, 0 ok, took {:?}", run.took);
    drop((proxy, moto));

    // Bursts of ThrottlingException: three in a row fail a call, the rest get through.
    let bursts = Fault::Throttle {
        every_nth: 5,
        burst: 3,
        code: "ThrottlingException",
    };
    let (moto, proxy, run) = run_through(
        bursts,
        json!({"workload": "io", "items": 12, "concurrency": [1]}),
        60_000,
    );
    let r = &run.body;
    let (ok, requests) = assert_matches_model(r, bursts, &moto, &["ThrottlingException"]);
    assert!(ok > 0 && ok < 12, "some fail, some succeed: {ok}");
    assert_eq!(proxy.requests.load(Ordering::SeqCst), requests);
    eprintln!(
        "throttle bursts: 12 items, {ok} ok, {:?}, took {:?} (all three runs: {:?})",
        levels(r)[0]["error_codes"],
        run.took,
        started.elapsed()
    );
}

#[test]
fn a_connection_closed_mid_request_is_recorded_per_item() {
    // The proxy reads the request and closes without answering: the request never reached moto.
    let close = Fault::CloseMidRequest {
        every_nth: 5,
        burst: 3,
        half_answer: false,
    };
    let (moto, proxy, run) = run_through(
        close,
        json!({"workload": "io", "items": 12, "concurrency": [1]}),
        60_000,
    );
    let r = &run.body;
    assert_eq!(r["truncated"], false, "{r}");
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    let (ok, requests) = assert_matches_model(r, close, &moto, &CUT_CODES);
    assert!(ok > 0 && ok < 12, "some fail, some succeed: {ok}");
    assert_eq!(proxy.requests.load(Ordering::SeqCst), requests);
    eprintln!(
        "close mid-request: 12 items, {ok} ok, {:?}, took {:?}",
        levels(r)[0]["error_codes"],
        run.took
    );
    drop((proxy, moto));

    // The request reaches moto, the answer is cut halfway, at one and at four in flight: a
    // failed item may be in the table (written, answer lost), an item reported ok always is.
    let half = Fault::CloseMidRequest {
        every_nth: 4,
        burst: 3,
        half_answer: true,
    };
    let (moto, proxy, run) = run_through(
        half,
        json!({"workload": "io", "items": 12, "concurrency": [1, 4]}),
        60_000,
    );
    let r = &run.body;
    assert_eq!(r["truncated"], false, "{r}");
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    let rows = samples(r);
    assert_eq!(rows.len(), 24);
    let prefix = r["summary"]["key_prefix"].as_str().unwrap();
    let table = moto.scan(TABLE);
    let mut ok = 0;
    for row in rows {
        let attempts = row["attempts"].as_u64().unwrap();
        assert!((1..=IO_MAX_ATTEMPTS as u64).contains(&attempts), "{row}");
        let key = format!(
            "{prefix}/{}-c{}/{}",
            row["level"], row["concurrency"], row["item"]
        );
        match row["error"].as_str() {
            None => {
                ok += 1;
                assert!(
                    table.contains_key(&key),
                    "{key} reported ok, not in the table"
                );
            }
            Some(code) => {
                assert!(
                    CUT_CODES.contains(&code),
                    "unexpected error code {code}: {row}"
                );
                assert_eq!(attempts, IO_MAX_ATTEMPTS as u64, "{row}");
            }
        }
    }
    assert!(ok > 0 && ok < 24, "some fail, some succeed: {ok}");
    assert!(table.len() >= ok, "{} in the table, {ok} ok", table.len());
    let requests = proxy.requests.load(Ordering::SeqCst);
    assert!(
        requests >= 24 && proxy.faulted.load(Ordering::SeqCst) > 0,
        "{requests}"
    );
    // At one in flight the model holds here too.
    let (want, _) = expected_one_at_a_time(half, 0, 12);
    for (row, (attempts, good)) in rows.iter().take(12).zip(&want) {
        assert_eq!(&row["attempts"].as_u64().unwrap(), attempts, "{row}");
        assert_eq!(row["error"].is_null(), *good, "{row}");
    }
    eprintln!(
        "half answers: 24 items, {ok} ok, {:?} / {:?}, {} in the table, took {:?}",
        levels(r)[0]["error_codes"],
        levels(r)[1]["error_codes"],
        table.len(),
        run.took
    );
}

#[test]
fn a_slow_server_is_cut_at_the_deadline_with_what_it_measured() {
    let delay_ms = 200;
    let timeout_ms = 2_500;
    let (moto, proxy, run) = run_through(
        Fault::Slow { delay_ms },
        json!({"workload": "io", "items": 50, "concurrency": [1, 4]}),
        timeout_ms,
    );
    let r = &run.body;
    assert_eq!(r["truncated"], true, "{r}");
    assert_eq!(r["truncated_reason"], "deadline", "{r}");
    assert!(
        run.took < Duration::from_millis(timeout_ms + 1_500),
        "took {:?}",
        run.took
    );
    let rows = samples(r);
    // 50 calls of ≥ 200 ms do not fit in 2.5 s: the first level is cut, the second never starts.
    assert_eq!(levels(r).len(), 1, "{r}");
    assert!((2..50).contains(&rows.len()), "{} rows", rows.len());
    let (done, cut): (Vec<&Value>, Vec<&Value>) = rows.iter().partition(|s| s["error"].is_null());
    assert!(
        done.len() >= 2,
        "measured before the deadline: {}",
        done.len()
    );
    for row in &done {
        assert_eq!(row["attempts"], 1, "{row}");
        assert!(
            row["latency_us"].as_u64().unwrap() >= delay_ms * 1000,
            "the proxy's delay is in the latency: {row}"
        );
    }
    assert!(cut.len() <= 1, "{cut:?}");
    for row in &cut {
        assert_eq!(row["error"], "Deadline", "{row}");
    }
    // One request per call, none faulted: the time went to the delay.
    assert_eq!(proxy.faulted.load(Ordering::SeqCst), 0);
    assert!(proxy.requests.load(Ordering::SeqCst) >= done.len());
    // What the response calls written is in the table (a call cut by the deadline may be too).
    let table = moto.scan(TABLE).len();
    assert!(
        (done.len()..=rows.len()).contains(&table),
        "{table} in the table, {} ok",
        done.len()
    );
    eprintln!(
        "slow {delay_ms} ms: {} rows, {} ok, {} cut, took {:?} for a {timeout_ms} ms deadline",
        rows.len(),
        done.len(),
        cut.len(),
        run.took
    );
}

#[test]
fn a_server_that_never_answers_is_cut_at_the_deadline() {
    // Accepts connections and reads, but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let timeout_ms = 2_500;
    let run = run_probe(
        &function_env(&format!("http://127.0.0.1:{port}")),
        &json!({"workload": "io", "items": 50, "concurrency": [1, 4]}),
        timeout_ms,
        Duration::from_secs(30),
    );
    assert!(run.ok, "{}", run.body);
    let r = &run.body;
    assert_response_contract(r, "io");
    assert_eq!(r["truncated"], true, "{r}");
    assert_eq!(r["truncated_reason"], "deadline", "{r}");
    // The process returned within the function's timeout (plus process start and exit).
    assert!(
        run.took < Duration::from_millis(timeout_ms + 1_500),
        "took {:?}",
        run.took
    );
    let rows = samples(r);
    assert_eq!(rows.len(), 1, "{r}");
    assert_eq!(rows[0]["error"], "Deadline", "{r}");
    assert_eq!(levels(r).len(), 1);
    assert_eq!(levels(r)[0]["errors"], 1);
    eprintln!(
        "never answers: 1 row (Deadline), took {:?} for a {timeout_ms} ms deadline",
        run.took
    );
}

#[test]
fn missing_configuration_is_not_configured() {
    let payload = json!({"workload": "io", "items": 1});
    let everything = function_env("http://127.0.0.1:9");
    let without = |drop: &str| -> Vec<(&'static str, String)> {
        everything
            .iter()
            .filter(|(k, _)| *k != drop)
            .cloned()
            .collect()
    };
    let mut empty_table = without("TABLE_NAME");
    empty_table.push(("TABLE_NAME", "  ".into()));
    for (env, needle) in [
        (without("TABLE_NAME"), "TABLE_NAME"),
        (empty_table, "TABLE_NAME"),
        (without("AWS_REGION"), "AWS_REGION"),
        (without("AWS_SECRET_ACCESS_KEY"), "AWS_ACCESS_KEY_ID"),
    ] {
        let run = run_probe(&env, &payload, 30_000, Duration::from_secs(30));
        assert!(!run.ok, "{needle}: {}", run.body);
        assert_eq!(run.body["errorType"], "NotConfigured", "{}", run.body);
        let msg = run.body["errorMessage"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg}");
    }
    // A bad payload is refused before any configuration is looked at.
    let run = run_probe(
        &without("TABLE_NAME"),
        &json!({"workload": "io", "concurrency": [1, 0]}),
        30_000,
        Duration::from_secs(30),
    );
    assert_eq!(run.body["errorType"], "InvalidPayload", "{}", run.body);
    let run = run_probe(
        &without("TABLE_NAME"),
        &json!({"workload": "io", "concurrency": [64], "item_bytes": 400000}),
        30_000,
        Duration::from_secs(30),
    );
    assert_eq!(run.body["errorType"], "OverBudget", "{}", run.body);
}

/// Every io payload in bench-payloads/ (shrunk) through the Runtime API emulator, against moto:
/// the client is built on the first io invocation and reused by the warm ones.
#[test]
fn every_io_bench_payload_through_the_emulator() {
    let moto = Moto::start();
    moto.create_table(TABLE);
    let env = function_env(&moto.url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let watch = Watch::start(&env);

    // Other workloads never build the client.
    let first = watch.invoke(&json!({"workload": "env"}));
    assert_eq!(first.status, 200, "{:?}", first.body);

    let payloads: Vec<(String, Value)> = bench_payloads()
        .into_iter()
        .filter(|(_, p)| p["workload"] == "io")
        .collect();
    let names: Vec<&str> = payloads.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["io-concurrent.json", "io-sequential.json", "io-sweep.json"] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    let mut written = 0;
    for (i, (name, payload)) in payloads.into_iter().enumerate() {
        let small = shrink(payload.clone());
        let a = watch.invoke(&small);
        assert_eq!(a.status, 200, "{name}: {:?}", a.body);
        let r = &a.body;
        assert_response_contract(r, "io");
        assert_levels_match_samples(r);
        assert_eq!(r["truncated"], false, "{name}");
        assert_eq!(r["environment"]["cold_start"], false, "{name}");
        let s = &r["summary"];
        assert_eq!(s["errors"], 0, "{name}: {s}");
        assert_eq!(
            s["client_built_this_invocation"],
            i == 0,
            "{name}: built on the first io invocation only"
        );
        let want = payload["concurrency"].as_array().unwrap();
        assert_eq!(levels(r).len(), want.len(), "{name}");
        for (l, c) in levels(r).iter().zip(want) {
            assert_eq!(&l["concurrency"], c, "{name}");
            assert_eq!(l["items_ok"], small["items"], "{name}: {l}");
        }
        written += s["items_written"].as_u64().unwrap() as usize;
    }
    assert_eq!(moto.scan(TABLE).len(), written);
}

/// Eight io invocations at once in one process (Lambda Managed Instances, `run --concurrency`):
/// the client is built once, by exactly one of them, while the others wait for it; every item
/// of every invocation lands under its own key prefix; overlapping invocations mark their
/// process CPU figures as shared.
#[test]
fn concurrent_invocations_share_one_client_and_never_each_others_keys() {
    let moto = Moto::start();
    moto.create_table(TABLE);
    let k = 8;
    let mut cmd = probe_cmd(&["--timeout-ms", "120000", "--concurrency", &k.to_string()]);
    cmd.env_clear()
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(function_env(&moto.url).iter().map(|(k, v)| (*k, v.clone())));
    let payload = json!({"workload": "io", "items": 10, "concurrency": [1, 4], "item_bytes": 64});
    let run = common::run_probe_cmd_lines(
        cmd,
        payload.to_string().as_bytes(),
        Duration::from_secs(180),
    );
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(run.lines.len(), k);
    let mut prefixes = Vec::new();
    let mut built = 0;
    for r in &run.lines {
        assert_response_contract(r, "io");
        let s = &r["summary"];
        assert_eq!(s["items_written"], 20, "{s}");
        assert_eq!(s["errors"], 0, "{s}");
        if s["client_built_this_invocation"] == true {
            built += 1;
        }
        prefixes.push(s["key_prefix"].as_str().unwrap().to_string());
        assert_eq!(
            r["environment"]["sandbox_id"],
            run.lines[0]["environment"]["sandbox_id"]
        );
        let o = &r["overlap"];
        if o["figures_shared"] == true {
            let shared: Vec<&str> = o["shared_figures"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert!(shared.contains(&"summary.levels[].cpu_us_per_call"), "{o}");
        }
    }
    assert_eq!(built, 1, "the client must be built exactly once");
    prefixes.sort();
    prefixes.dedup();
    assert_eq!(prefixes.len(), k, "{prefixes:?}");
    assert_eq!(moto.scan(TABLE).len(), 20 * k);
    // Released together, they overlapped.
    assert!(run
        .lines
        .iter()
        .any(|r| r["overlap"]["others_max"].as_u64() > Some(0)));
}
