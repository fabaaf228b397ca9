//! The local door: `lambda-probe run` (the same `handle` the Lambda loop calls) and `lambda-probe
//! schema`, and the short human summary of a response.

use crate::measure::Deadline;
use crate::response::Response;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The most invocations one `run --repeat` serves: far past any warm-up, short of a runaway.
pub const MAX_REPEAT: u32 = 1000;

/// lambda-probe: measure what a Lambda memory size buys.
///
/// Without arguments it is the Lambda function (custom runtime, `bootstrap`).
#[derive(Debug, Parser)]
#[command(name = "lambda-probe", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one payload here and print the response the function would return (or its error,
    /// {"errorType","errorMessage"}, with exit status 1).
    Run(RunArgs),
    /// Print the JSON Schema of the event or of the response.
    Schema {
        #[arg(value_enum)]
        of: SchemaOf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SchemaOf {
    Event,
    Response,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The event: a JSON file, or - for standard input.
    pub payload: String,
    /// Give each invocation a deadline, as Lambda's timeout does (ms).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Invoke the payload N times in this one process, as a warm sandbox would: one JSON line
    /// per invocation (the first cold_start true, the rest false), each with its own deadline;
    /// an error is a line too and the rest still run. Exit status 1 if any answered with an
    /// error.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_REPEAT as i64))]
    pub repeat: u32,
    /// Serve K invocations at once in this one process, as a Lambda Managed Instances
    /// environment with AWS_LAMBDA_MAX_CONCURRENCY = K does: K workers start together and each
    /// invokes the payload --repeat times in turn, all through the same handler; one JSON line
    /// per invocation as it ends (each says in `overlap` how many others ran meanwhile). The
    /// total is K × N lines.
    #[arg(long, default_value_t = 1, value_name = "K",
          value_parser = clap::value_parser!(u32).range(1..=crate::lambda_model::managed::MAX_CONCURRENCY as i64))]
    pub concurrency: u32,
    /// Run the same experiment made quick (fewer iterations, buffers, repeats or items; the
    /// same modes): a smoke test of a payload before the real run.
    #[arg(long)]
    pub quick: bool,
    /// Print a short human summary instead of the JSON (one invocation only).
    #[arg(long)]
    pub summary: bool,
    /// Also write the JSON (one line per invocation, errors included) to this file, created or
    /// emptied first: with --summary, the summary on the terminal and the response for
    /// `lambda-probe-tools report` and `predict`.
    #[arg(long, value_name = "PATH")]
    pub save: Option<std::path::PathBuf>,
    /// Run as a function of this memory size, as AWS_LAMBDA_FUNCTION_MEMORY_SIZE would say
    /// (the memory guard's limit, and the size the tools read); `host`: the size whose CPU share
    /// is this machine's cores (2 cores: 3538). No CPU or memory limit is applied:
    /// `lambda-probe-tools emulate` does that.
    #[arg(long, value_name = "MB|host", value_parser = parse_memory_mb)]
    pub memory_mb: Option<u32>,
}

/// `--memory-mb`: a Lambda memory size, or `host` for the one whose share is this machine's
/// cores (Lambda's rule, from `lambda_model`).
fn parse_memory_mb(text: &str) -> Result<u32, String> {
    let mb = if text == "host" {
        crate::lambda_model::memory_for_vcpu(crate::host::sandbox_cores() as f64)
    } else {
        text.parse()
            .map_err(|_| format!("{text:?} is not a memory size in MB (128..=10240) or `host`"))?
    };
    crate::lambda_model::check_memory_mb(mb)?;
    Ok(mb)
}

pub async fn main() -> ExitCode {
    // clap prints help and version on stdout with status 0, usage errors on stderr with 2.
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args).await,
        Command::Schema { of } => {
            let schema = match of {
                SchemaOf::Event => crate::schema::event(),
                SchemaOf::Response => crate::schema::response(),
            };
            println!("{}", crate::schema::pretty(&schema));
            ExitCode::SUCCESS
        }
    }
}

async fn run(args: RunArgs) -> ExitCode {
    if args.summary && (args.repeat > 1 || args.concurrency > 1) {
        // One summary per invocation would bury the comparison; the JSON lines carry it.
        eprintln!("--summary describes one invocation: with --repeat or --concurrency above 1, read the JSON lines instead (each has cold_start, invocation_index and overlap)");
        return ExitCode::from(2);
    }
    let text = if args.payload == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map(|_| s)
    } else {
        std::fs::read_to_string(&args.payload)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read {}: {e}", args.payload);
            return ExitCode::from(2);
        }
    };
    let save = match &args.save {
        None => None,
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(Arc::new(std::sync::Mutex::new(f))),
            Err(e) => {
                eprintln!("cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    if let Some(mb) = args.memory_mb {
        crate::host::give_memory_mb(mb);
    }
    let event = match serde_json::from_str::<Value>(&text) {
        Ok(event) => event,
        Err(e) => {
            // Nothing can run: one error line, whatever --repeat asked for.
            let e =
                crate::error::ProbeError::invalid(format!("the payload is not valid JSON: {e}"));
            println!("{}", e.to_json());
            return ExitCode::FAILURE;
        }
    };
    let event = if args.quick {
        // A payload the probe refuses is refused below, as it is: quick changes only sizes.
        match crate::request::parse(
            event.clone(),
            crate::workloads::Host {
                cores: crate::host::sandbox_cores(),
            },
        ) {
            Ok(request) => request.quick().event(),
            Err(_) => event,
        }
    } else {
        event
    };
    let event = Arc::new(event);
    let any_error = Arc::new(AtomicBool::new(false));
    // All workers start their first invocation together, as Lambda's runtime workers are all
    // polling when the invocations arrive.
    let start = Arc::new(tokio::sync::Barrier::new(args.concurrency as usize));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (event, any_error, start, save) = (
            event.clone(),
            any_error.clone(),
            start.clone(),
            save.clone(),
        );
        let (repeat, timeout_ms, summary) = (args.repeat, args.timeout_ms, args.summary);
        workers.spawn(async move {
            start.wait().await;
            for _ in 0..repeat {
                if !invoke_once(&event, timeout_ms, summary, save.as_deref()).await {
                    any_error.store(true, Ordering::SeqCst);
                }
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        if let Err(e) = done {
            eprintln!("an invocation worker failed: {e}");
            any_error.store(true, Ordering::SeqCst);
        }
    }
    if any_error.load(Ordering::SeqCst) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One invocation through `handle`, as the Lambda loop makes it (the same cold_start,
/// invocation_index and overlap accounting), printed as one line (and saved as one, with
/// `--save`); false when it answered with an error or could not be saved.
async fn invoke_once(
    event: &Value,
    timeout_ms: Option<u64>,
    summary: bool,
    save: Option<&std::sync::Mutex<std::fs::File>>,
) -> bool {
    // Each invocation gets its own deadline, as each Lambda invocation gets its timeout.
    let deadline = timeout_ms
        .map(|ms| Deadline::after(Duration::from_millis(ms)))
        .unwrap_or_else(Deadline::none);
    let (json, human, mut ok) = match crate::handle(event.clone(), deadline).await {
        Ok((response, _)) => (
            serde_json::to_string(&response).unwrap_or_default() + "\n",
            summary.then(|| human_summary(&response)),
            true,
        ),
        Err(e) => (e.to_json().to_string() + "\n", None, false),
    };
    if let Some(file) = save {
        // Lines of concurrent invocations never interleave: one write each, under the lock.
        let mut f = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = f.write_all(json.as_bytes()).and_then(|_| f.flush()) {
            eprintln!("cannot save the response: {e}");
            ok = false;
        }
    }
    let text = human.unwrap_or(json);
    // One write per invocation, flushed, so a reader sees each as it ends, lines of
    // concurrent invocations never interleave, and a process killed mid-series leaves its
    // finished lines behind.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    ok
}

/// A few lines a person can read: what ran, on what, and the headline figures.
pub fn human_summary(r: &Response) -> String {
    let env = &r.environment;
    let c = r.result.common();
    let mut out = format!(
        "{} on {} ({} visible cores, {}, memory: {}): wall {:.3} ms, cpu {:.3} ms, effective vCPU {}, {} new pages{}\n",
        r.workload(),
        env.arch,
        env.visible_cores,
        env.cpu_model.as_deref().unwrap_or("unknown CPU"),
        env.memory_mb
            .map(|m| format!("{m} MB"))
            .unwrap_or_else(|| "not in Lambda".into()),
        c.wall_ms,
        c.cpu_ms,
        c.effective_vcpu
            .map(|v| format!("{v:.3}"))
            .unwrap_or_else(|| "-".into()),
        c.new_pages,
        match r.truncated_reason {
            Some(why) => format!(" — TRUNCATED ({})", why.name()),
            None => String::new(),
        }
    );
    out += &r.result.summary_text();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<RunArgs, String> {
        let mut argv = vec!["lambda-probe", "run"];
        argv.extend(list);
        match Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Run(a) => Ok(a),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn run_args() {
        let a = parse(&["p.json", "--timeout-ms", "800", "--summary"]).unwrap();
        assert_eq!(a.payload, "p.json");
        assert_eq!(a.timeout_ms, Some(800));
        assert!(a.summary);
        assert_eq!(a.repeat, 1);
        assert!(parse(&[]).is_err());
        assert!(parse(&["a", "b"]).is_err());
        assert!(parse(&["a", "--timeout-ms", "x"]).is_err());
        let a = parse(&["-", "--repeat", "3", "--timeout-ms", "50"]).unwrap();
        assert_eq!((a.payload.as_str(), a.repeat), ("-", 3));
        assert_eq!(parse(&["p", "--repeat", "1000"]).unwrap().repeat, 1000);
        assert_eq!(parse(&["p"]).unwrap().concurrency, 1);
        assert_eq!(parse(&["p"]).unwrap().memory_mb, None);
        assert_eq!(
            parse(&["p", "--memory-mb", "1024"]).unwrap().memory_mb,
            Some(1024)
        );
        // `host`: this machine's cores as a Lambda size, by the one model.
        assert_eq!(
            parse(&["p", "--memory-mb", "host"]).unwrap().memory_mb,
            Some(crate::lambda_model::memory_for_vcpu(
                crate::host::sandbox_cores() as f64
            ))
        );
        let a = parse(&["p", "--concurrency", "16", "--repeat", "2"]).unwrap();
        assert_eq!((a.concurrency, a.repeat), (16, 2));
        assert_eq!(
            parse(&["p", "--concurrency", "1600"]).unwrap().concurrency,
            crate::lambda_model::managed::MAX_CONCURRENCY
        );
        for (bad, says) in [
            (vec!["p", "--repeat", "0"], "1..=1000"),
            (vec!["p", "--repeat", "1001"], "1..=1000"),
            (vec!["p", "--repeat", "-2"], "'-2'"),
            (vec!["p", "--repeat", "three"], "--repeat"),
            (vec!["p", "--repeat"], "--repeat"),
            (vec!["p", "--concurrency", "0"], "1..=1600"),
            (vec!["p", "--concurrency", "1601"], "1..=1600"),
            (vec!["p", "--memory-mb", "127"], "not a Lambda memory size"),
            (
                vec!["p", "--memory-mb", "10241"],
                "not a Lambda memory size",
            ),
            (vec!["p", "--memory-mb", "lots"], "or `host`"),
        ] {
            let e = parse(&bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[tokio::test]
    async fn every_workload_has_a_summary_line() {
        // The summary of a real response of each workload that runs without a table.
        for event in [
            serde_json::json!({"workload": "env"}),
            serde_json::json!({"workload": "pbkdf2", "iterations": 100, "passwords": 2, "threads": [1, 2]}),
            serde_json::json!({"workload": "alloc", "buffers": 4, "buffer_bytes": 65536}),
            serde_json::json!({"workload": "memset", "bytes": 1048576, "repeats": 2}),
        ] {
            let (r, _) = crate::handle(event.clone(), Deadline::none())
                .await
                .unwrap();
            let text = human_summary(&r);
            assert!(text.starts_with(r.workload()), "{event}: {text}");
            assert!(text.contains("wall"), "{text}");
        }
    }

    /// Real responses of every workload (the report fixtures, tests/fixtures/results/): each
    /// has its summary, with its workload's own lines.
    #[test]
    fn every_workload_in_the_fixtures_has_a_summary() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results/responses.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let Ok(crate::response::Answer::Response(r)) = crate::response::Answer::from_value(v)
            else {
                continue;
            };
            let text = human_summary(&r);
            assert!(text.starts_with(r.workload()), "{text}");
            if r.workload() != "env" {
                assert!(
                    text.lines().count() > 1,
                    "{}: no lines of its own:\n{text}",
                    r.workload()
                );
            }
            seen.insert(r.workload());
        }
        assert_eq!(seen.len(), crate::workloads::WORKLOADS.len(), "{seen:?}");
    }
}
