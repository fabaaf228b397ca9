//! `emulate`: run the probe under Lambda's CPU share and memory limit, one memory size after
//! another, with cgroups, and print one JSON line per run plus a table.
//!
//! Per memory size M: a CFS quota of M ÷ 1,769 vCPU, the cores Lambda shows (cpuset), a memory
//! limit of M MB and `AWS_LAMBDA_FUNCTION_MEMORY_SIZE=M`; one `lambda-probe run - --repeat N`
//! process per size, in a fresh cgroup, serves its N runs as a sandbox does: the first cold,
//! the rest warm. What this host cannot give is said in the results, never capped silently.
//!
//! With `--managed V`: a Lambda Managed Instances execution environment of V vCPUs instead, one
//! level per `--concurrency K`: V whole cores (cpuset, no CFS quota), memory = ratio × V GiB,
//! and one probe process serving K invocations at once (`run --concurrency K`), so the
//! per-invocation duration against K shows how the invocations share the cores.

/// eprintln!, except that a closed standard error (a hung-up terminal) is ignored instead of
/// panicking, so that cleanup always runs to its end.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cgroup;
mod child;
mod lambda;
mod signals;
mod table;

use cgroup::{CoresVia, RunCgroup, RunStats, Session, SetupError};
use child::Ending;
use lambda::Plan;
use lambda_probe::error::ErrorType;
use lambda_probe::host::cgroup::{memory_total_bytes, swap_on};
use lambda_probe::host::cpu::{affinity_cpus, format_cpu_list};
use lambda_probe::host::CgroupVersion;
use lambda_probe::measure::stats::round;
use lambda_probe::response::{Answer, FunctionError, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const MAX_RUNS: u32 = 100;
/// The largest environment `--managed` takes: LMI's 32 GiB at 2 GiB per vCPU.
const MAX_MANAGED_VCPUS: u32 = 16;

/// Run the probe under Lambda's CPU share and memory limit, one memory size after another.
///
/// Each memory size M gets a CPU quota of M ÷ 1,769 vCPU (cgroup cpu), the cores Lambda shows
/// (2 up to 3,008 MB, then 3/4/5/6 from 3,009/5,308/7,077/8,846 MB; cpuset), a memory limit of
/// M MB and AWS_LAMBDA_FUNCTION_MEMORY_SIZE=M. Needs root, or a cgroup v2 subtree delegated to
/// you. Output: one JSON line per run, the probe's response (or its error) with "emulated" (the
/// limits applied, read back from the kernel, and what this host cannot reproduce) and
/// "emulate_run" (run number, cold, status ok | function_error | failed, the reason, the
/// cgroup's counters). Progress lines and a final table go to standard error. Exit status: 0
/// when the sweep ran to its end (failed runs are results), 1 when it could not start or the
/// probe refused the payload, 2 for bad arguments, 128+N when stopped by signal N.
#[derive(Debug, PartialEq, clap::Args)]
pub struct Args {
    /// Lambda memory sizes in MB, 128..=10240, comma-separated, run in that order.
    #[arg(long = "memory", value_name = "LIST", value_parser = lambda::MemoryList::parse,
          required_unless_present = "managed", conflicts_with = "managed")]
    memory: Option<lambda::MemoryList>,
    /// Emulate a Lambda Managed Instances execution environment of VCPUS vCPUs instead of
    /// on-demand memory sizes: VCPUS whole cores (cpuset, no CFS quota), --gib-per-vcpu ×
    /// VCPUS GiB of memory, and --concurrency invocations at once in the one probe process.
    #[arg(long, value_name = "VCPUS", value_parser = clap::value_parser!(u32).range(1..=MAX_MANAGED_VCPUS as i64))]
    managed: Option<u32>,
    /// With --managed: memory per vCPU in GiB (ExecutionEnvironmentMemoryGiBPerVCpu): 2, 4 or 8.
    #[arg(long, value_name = "GIB", default_value = "2", value_parser = lambda::parse_gib_per_vcpu)]
    gib_per_vcpu: f64,
    /// With --managed: invocations at once, one level after another, comma-separated (each
    /// level a fresh probe process and cgroup; --runs rounds of K each). Default 1.
    #[arg(long, value_name = "LIST", value_parser = lambda::ConcurrencyList::parse)]
    concurrency: Option<lambda::ConcurrencyList>,
    /// The event, as for `lambda-probe run` (- reads standard input).
    #[arg(long, value_name = "FILE")]
    payload: String,
    /// Runs per memory size, all in one probe process (`run --repeat N`) as in one Lambda
    /// sandbox: run 1 is the cold start, the rest are warm.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=MAX_RUNS as i64))]
    runs: u32,
    /// A new probe process (and cgroup) for every run: every run is cold.
    #[arg(long)]
    fresh_process: bool,
    /// Write the JSON lines there instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The probe binary (default: lambda-probe next to this program).
    #[arg(long, value_name = "PATH")]
    probe: Option<PathBuf>,
    /// Each run's deadline, as a Lambda timeout; a run still going 10 s past it is killed and
    /// recorded as failed.
    #[arg(long, default_value_t = lambda_probe::lambda_model::MAX_TIMEOUT_MS, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(1..=lambda_probe::lambda_model::MAX_TIMEOUT_MS))]
    timeout_ms: u64,
    /// Run without cgroups (no CPU or memory limit; only the environment variable is set).
    /// Results then say "emulated": null.
    #[arg(long)]
    unthrottled: bool,
    /// The CFS period the quota is enforced over, in ms (1..=1000): the run gets its share of
    /// every period, then waits for the next. Default: the kernel's (Linux: 100 ms), as the
    /// run's cgroup has it. Lambda does not document its own; measurements on real functions
    /// report pauses every ~20 ms: try both with bench-payloads/cpu-timeline.json.
    #[arg(long, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(lambda::MIN_PERIOD_MS..=lambda::MAX_PERIOD_MS))]
    period_ms: Option<u64>,
}

pub fn main(args: Args) -> ExitCode {
    // An environment LMI does not offer (e.g. 16 vCPUs at 4 GiB each) is a bad argument.
    if let Err(e) = plans(&args, &affinity_cpus(), None) {
        say!("emulate: {e}");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            say!("emulate: {e}");
            ExitCode::from(1)
        }
    }
}

/// What each level of the sweep is: the memory sizes, or the Lambda Managed Instances
/// environment at each concurrency.
fn plans(args: &Args, host_cpus: &[u32], host_memory: Option<u64>) -> Result<Vec<Plan>, String> {
    match (&args.memory, args.managed) {
        (_, Some(_)) if args.period_ms.is_some() => Err(
            "--period-ms sets the period of a CFS quota; a Lambda Managed Instances environment (--managed) has no quota".into(),
        ),
        (_, Some(vcpus)) => args
            .concurrency
            .as_ref()
            .map_or(vec![1], |c| c.0.clone())
            .into_iter()
            .map(|k| Plan::managed(vcpus, args.gib_per_vcpu, k, host_cpus, host_memory))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                format!(
                    "--managed {vcpus} --gib-per-vcpu {}: {e}",
                    args.gib_per_vcpu
                )
            }),
        (Some(_), None) if args.concurrency.is_some() || args.gib_per_vcpu != 2.0 => Err(
            "--concurrency and --gib-per-vcpu describe a Lambda Managed Instances environment: they go with --managed".into(),
        ),
        (Some(list), None) => Ok(list
            .0
            .iter()
            .map(|&mb| {
                Plan::new(mb, host_cpus, host_memory)
                    .with_period(args.period_ms.map(|ms| ms * 1000))
            })
            .collect()),
        (None, None) => Err("--memory or --managed is required".into()),
    }
}

/// The limits one run got, as attached to its JSON line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Emulated {
    pub memory_mb: u32,
    /// The CFS quota ÷ period, as read back from the kernel; null: no quota (Lambda Managed
    /// Instances: whole cores).
    pub cpu_quota_vcpu: Option<f64>,
    /// The CPUs the run could use.
    pub cores: u32,
    pub cgroup: CgroupVersion,
    pub cpu_quota_us: Option<u64>,
    pub cpu_period_us: u64,
    /// Who chose the period: the kernel (its default, as the cgroup had it) or `--period-ms`.
    #[serde(default)]
    pub cpu_period_from: PeriodFrom,
    pub cpus: String,
    pub cores_via: CoresVia,
    pub memory_limit_bytes: u64,
    pub swap: String,
    /// What Lambda gives at this size.
    pub lambda_vcpu: f64,
    pub lambda_cores: u32,
    /// Where this host differs from Lambda at this size (empty: faithful).
    pub not_reproducible: Vec<String>,
    /// A Lambda Managed Instances environment (`--managed`): its vCPUs, memory per vCPU, and the
    /// invocations it served at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<lambda::Managed>,
}

/// Who chose the CFS period a run's quota is enforced over.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum PeriodFrom {
    /// The kernel's default, as the run's cgroup had it.
    #[default]
    #[serde(rename = "kernel")]
    Kernel,
    /// `--period-ms`.
    #[serde(rename = "--period-ms")]
    PeriodMs,
}

impl PeriodFrom {
    /// "the kernel's", "--period-ms".
    pub fn words(self) -> &'static str {
        match self {
            PeriodFrom::Kernel => "the kernel's",
            PeriodFrom::PeriodMs => "--period-ms",
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The probe answered with a response.
    Ok,
    /// The probe answered with an error (`errorType`), as a Lambda function error.
    FunctionError,
    /// The run died or hung: no answer.
    Failed,
}

/// Why a run failed.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The kernel's OOM killer killed a process of the run at the memory limit.
    OomKill,
    /// Killed by a signal.
    Signal,
    /// Still running past its deadline plus the grace; killed.
    Timeout,
    /// Exited with a status other than the probe's 0 (response) or 1 (error).
    ExitStatus,
    /// Exited without a JSON answer.
    BadOutput,
    /// Its cgroup or process could not be set up.
    Setup,
}

/// This tool's account of one run, attached to its JSON line as `emulate_run`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    pub memory_mb: u32,
    pub run: u32,
    pub runs: u32,
    /// The first invocation of its probe process (`environment.cold_start`; with no answer,
    /// from its place in the series).
    pub cold: bool,
    pub status: Status,
    pub reason: Option<Reason>,
    /// In words: the error type and message, or how the run died.
    pub detail: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    /// Spawn to exit of the probe process, start-up included (all the runs it served).
    pub process_wall_ms: Option<f64>,
    /// What the process's cgroup counted over all the runs it served (null when unthrottled).
    pub cgroup_stats: Option<RunStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_tail: Option<String>,
}

/// One run's JSON line, in parts.
#[derive(Clone, Debug)]
pub struct Record {
    /// Position of its memory size in `--memory`.
    pub size_index: usize,
    pub plan: Plan,
    pub emulated: Option<Emulated>,
    pub info: RunInfo,
    /// The probe's response or error.
    pub answer: Option<Answer>,
}

impl Record {
    pub fn line(&self) -> Value {
        let answer = match &self.answer {
            Some(Answer::Response(r)) => serde_json::to_value(r),
            Some(Answer::Error(e)) => serde_json::to_value(e),
            None => Ok(Value::Object(Map::new())),
        };
        let mut m = match answer {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        m.insert(
            "emulated".into(),
            serde_json::to_value(&self.emulated).unwrap_or(Value::Null),
        );
        m.insert(
            "emulate_run".into(),
            serde_json::to_value(&self.info).unwrap_or(Value::Null),
        );
        Value::Object(m)
    }
}

fn default_probe() -> Result<PathBuf, String> {
    let me =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    Ok(me.with_file_name("lambda-probe"))
}

fn read_payload(source: &str) -> Result<Vec<u8>, String> {
    let bytes = if source == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
            .map_err(|e| format!("cannot read the payload from standard input: {e}"))?;
        b
    } else {
        std::fs::read(source).map_err(|e| format!("cannot read the payload {source}: {e}"))?
    };
    serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| format!("the payload {source} is not JSON: {e}"))?;
    Ok(bytes)
}

fn permission_help(e: &SetupError) -> String {
    let mut s = format!("cannot set up cgroups: {}", e.message);
    if e.needs_permission {
        s += "\n\nEmulating Lambda needs to create cgroups with the cpu and memory controllers \
(and cpuset for the cores): run as root (sudo), or on cgroup v2 from a cgroup delegated to you \
that holds no other process, e.g. `systemd-run --user --scope -p Delegate=yes lambda-probe-tools \
emulate …`. To run without Lambda's CPU and memory limits anyway, pass --unthrottled (the results \
then say \"emulated\": null).";
    }
    s
}

fn run(args: &Args) -> Result<ExitCode, String> {
    signals::install()?;
    let probe = match &args.probe {
        Some(p) => p.clone(),
        None => default_probe()?,
    };
    if !probe.is_file() {
        return Err(format!(
            "no probe binary at {}: build it with `cargo build --release --bin lambda-probe` (it goes next to this program), or pass --probe PATH",
            probe.display()
        ));
    }
    let payload = read_payload(&args.payload)?;
    let session = if args.unthrottled {
        None
    } else {
        let layout = lambda_probe::host::cgroup::layout().map_err(|e| {
            permission_help(&SetupError {
                message: e,
                needs_permission: true,
            })
        })?;
        Some(Session::create(&layout).map_err(|e| permission_help(&e))?)
    };
    let mut sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let host_cpus = match &session {
        Some(s) => s.host_cpus.clone(),
        None => affinity_cpus(),
    };
    let host_memory = memory_total_bytes();
    let plans = plans(args, &host_cpus, host_memory)?;
    if let (Some(vcpus), Some(first)) = (args.managed, plans.first()) {
        let levels: Vec<String> = plans.iter().map(|p| p.concurrency().to_string()).collect();
        say!(
            "emulate: a Lambda Managed Instances environment of {vcpus} vCPU(s) as whole cores ({}, no CFS quota), {} MB ({} GiB per vCPU); {} invocation(s) at once, one level after another, {} round(s) each",
            format_cpu_list(&first.cpus),
            first.memory_mb,
            args.gib_per_vcpu,
            levels.join(", "),
            args.runs,
        );
    }
    say!(
        "emulate: {} on a host of {} cores ({}), {} MiB, swap {}; probe {}; payload {}; {} run(s) per size",
        match &session {
            Some(s) => s.describe(),
            None => "UNTHROTTLED (--unthrottled: no cgroup, no CPU or memory limit)".to_string(),
        },
        host_cpus.len(),
        format_cpu_list(&host_cpus),
        host_memory.map(|b| (b >> 20).to_string()).unwrap_or_else(|| "?".into()),
        if swap_on() { "on" } else { "off" },
        probe.display(),
        args.payload,
        args.runs,
    );
    for n in session.iter().flat_map(|s| &s.notes) {
        say!("emulate: note: {n}");
    }

    let total: u32 = plans.iter().map(|p| p.concurrency() * args.runs).sum();
    let mut records: Vec<Record> = Vec::new();
    let mut stopped_by = None;
    let mut refused = None;
    'sweep: for (size_index, plan) in plans.iter().enumerate() {
        // (first run, invocations) per probe process: `runs` rounds of K at once (K = 1 on
        // demand), in one process or (--fresh-process) one process per round.
        let k = plan.concurrency();
        let series: Vec<(u32, u32)> = if args.fresh_process {
            (1..=args.runs).map(|run| ((run - 1) * k + 1, k)).collect()
        } else {
            vec![(1, args.runs * k)]
        };
        for (first_run, count) in series {
            if let Some(sig) = signals::received() {
                stopped_by = Some(sig);
                break 'sweep;
            }
            let r = run_series(
                args,
                &probe,
                &payload,
                session.as_ref(),
                plan,
                first_run,
                count,
            );
            let series_records = match r {
                Ok(records) => records,
                Err(sig) => {
                    stopped_by = Some(sig);
                    break 'sweep;
                }
            };
            for record in series_records {
                let record = Record {
                    size_index,
                    ..record
                };
                let mut line = record.line().to_string();
                line.push('\n');
                sink.write_all(line.as_bytes())
                    .and_then(|_| sink.flush())
                    .map_err(|e| format!("cannot write the results: {e}"))?;
                say!(
                    "emulate: [{:>w$}/{total}] {}",
                    records.len() + 1,
                    table::progress(&record),
                    w = total.to_string().len()
                );
                let invalid = matches!(
                    &record.answer,
                    Some(Answer::Error(e)) if e.probe_error_type() == Some(ErrorType::InvalidPayload)
                );
                records.push(record);
                if invalid {
                    refused = Some(());
                    break 'sweep;
                }
            }
        }
    }
    drop(session);
    say!("{}", table::table(&records, &plans).trim_end());
    if let Some(sig) = stopped_by {
        say!(
            "emulate: stopped by {} after {} of {total} runs; every cgroup was removed",
            signals::name(sig),
            records.len()
        );
        return Ok(ExitCode::from((128 + sig.clamp(0, 127)) as u8));
    }
    if refused.is_some() {
        return Err(
            "the probe refused the payload (InvalidPayload, above): fix it and run again".into(),
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One probe process in its own cgroup, serving runs `first_run ..` (`count` of them), one
/// record each. Err(signal) when this tool was told to stop meanwhile.
fn run_series(
    args: &Args,
    probe: &Path,
    payload: &[u8],
    session: Option<&Session>,
    plan: &Plan,
    first_run: u32,
    count: u32,
) -> Result<Vec<Record>, i32> {
    let mut info = RunInfo {
        memory_mb: plan.memory_mb,
        run: first_run,
        runs: args.runs * plan.concurrency(),
        cold: true,
        status: Status::Failed,
        reason: None,
        detail: None,
        exit_code: None,
        signal: None,
        process_wall_ms: None,
        cgroup_stats: None,
        stderr_tail: None,
    };
    let mut record = Record {
        size_index: 0,
        plan: plan.clone(),
        emulated: None,
        info: info.clone(),
        answer: None,
    };
    // A series that cannot start: each of its runs is a failed line, so none goes missing.
    let setup_failed = |mut record: Record, detail: String| {
        record.info.reason = Some(Reason::Setup);
        record.info.detail = Some(detail);
        (0..count)
            .map(|i| {
                let mut r = record.clone();
                r.info.run = first_run + i;
                r.info.cold = i == 0;
                r
            })
            .collect::<Vec<_>>()
    };
    let mut cg = match session {
        Some(s) => {
            let name = format!("m{}-k{}-r{first_run}", plan.memory_mb, plan.concurrency());
            match RunCgroup::create(s, &name, plan) {
                Ok(cg) => {
                    record.emulated = Some(emulated(s, plan, &cg));
                    Some(cg)
                }
                Err(e) => return Ok(setup_failed(record, e)),
            }
        }
        None => None,
    };
    let spec = child::Spec {
        probe,
        payload,
        memory_mb: plan.memory_mb,
        timeout_ms: args.timeout_ms,
        repeat: count / plan.concurrency(),
        concurrency: plan.concurrency(),
        max_concurrency_env: plan.managed.as_ref().map(|m| m.concurrency),
        procs_files: cg.as_ref().map(|c| c.procs_files()).unwrap_or_default(),
        affinity: match (session, &cg) {
            (Some(s), Some(_)) if s.cores_via == CoresVia::Affinity => Some(plan.cpus.clone()),
            _ => None,
        },
    };
    let mut running = match child::spawn(&spec) {
        Ok(r) => r,
        Err(e) => return Ok(setup_failed(record, e)),
    };
    // Each invocation has its own deadline; the process may take all of them, plus the grace.
    let limit = Duration::from_millis(args.timeout_ms) * count + child::KILL_GRACE;
    let (ending, wall_ms) = match running.wait(limit) {
        Ok(w) => w,
        Err(e) => return Ok(setup_failed(record, e)),
    };
    if let Ending::Interrupted(sig) = ending {
        return Err(sig);
    }
    let stats = cg.as_ref().map(|c| c.stats());
    if let Some(c) = cg.as_mut() {
        if let Err(e) = c.remove() {
            say!("emulate: warning: {e}");
        }
    }
    let output = running.output(Duration::from_secs(5));
    info.process_wall_ms = Some(round(wall_ms, 3));
    match ending {
        Ending::Exited(code) => info.exit_code = Some(code),
        Ending::Signaled(sig) => info.signal = Some(signals::name(sig)),
        Ending::TimedOut | Ending::Interrupted(_) => info.signal = Some("SIGKILL".into()),
    }
    info.cgroup_stats = stats.clone();
    let classified = classify_series(ending, &output.stdout, stats.as_ref(), count);
    Ok(classified
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut info = info.clone();
            info.run = first_run + i as u32;
            info.cold = match &c.answer {
                Some(Answer::Response(r)) => r.environment.invocation.cold_start,
                _ => i == 0,
            };
            info.status = c.status;
            info.reason = c.reason;
            info.detail = c.detail;
            if info.status == Status::Failed && !output.stderr_tail.is_empty() {
                info.stderr_tail = Some(output.stderr_tail.clone());
            }
            Record {
                info,
                answer: c.answer,
                ..record.clone()
            }
        })
        .collect())
}

/// The `count` runs of one probe process: each JSON line it printed is its run's answer (a
/// response, or an error object); the runs it never answered are failed with the reason the
/// process ended ([`classify`] of its ending with no answer), so none goes missing.
fn classify_series(
    ending: Ending,
    stdout: &str,
    stats: Option<&RunStats>,
    count: u32,
) -> Vec<Classified> {
    // One run: the single run's rules, which also check the exit status against the answer.
    if count == 1 {
        return vec![classify(ending, stdout, stats)];
    }
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    (0..count as usize)
        .map(|i| {
            let answer = lines
                .get(i)
                .and_then(|l| serde_json::from_str::<Value>(l).ok());
            match answer.map(Answer::from_value) {
                Some(Ok(Answer::Error(e))) => Classified::function_error(e),
                Some(Ok(Answer::Response(r))) => Classified::ok(*r),
                Some(Err(why)) => Classified::unreadable(why),
                None => {
                    let mut c = classify(ending, "", stats);
                    if i > lines.len() {
                        c.detail = c.detail.map(|d| {
                            format!(
                                "not run: the process ended during run {} ({d})",
                                lines.len() + 1
                            )
                        });
                    }
                    c
                }
            }
        })
        .collect()
}

fn emulated(session: &Session, plan: &Plan, cg: &RunCgroup) -> Emulated {
    let a = &cg.applied;
    // The kernel's period is known only now: a quota it floors to 1 ms is said.
    let mut plan = plan.clone();
    plan.note_quota_floor(a.cpu_period_us);
    Emulated {
        memory_mb: plan.memory_mb,
        cpu_quota_vcpu: a
            .cpu_quota_us
            .map(|q| round(q as f64 / a.cpu_period_us.max(1) as f64, 4)),
        cores: a.cpus.len() as u32,
        cgroup: session.version,
        cpu_quota_us: a.cpu_quota_us,
        cpu_period_us: a.cpu_period_us,
        cpu_period_from: if plan.period_us.is_some() {
            PeriodFrom::PeriodMs
        } else {
            PeriodFrom::Kernel
        },
        cpus: format_cpu_list(&a.cpus),
        cores_via: a.cores_via,
        memory_limit_bytes: a.memory_limit_bytes,
        swap: a.swap.to_string(),
        lambda_vcpu: round(plan.vcpu, 4),
        lambda_cores: plan.lambda_cores,
        not_reproducible: plan.not_reproducible.clone(),
        managed: plan.managed.clone(),
    }
}

#[derive(Debug, PartialEq)]
struct Classified {
    status: Status,
    reason: Option<Reason>,
    detail: Option<String>,
    answer: Option<Answer>,
}

impl Classified {
    fn ok(response: Response) -> Self {
        Classified {
            status: Status::Ok,
            reason: None,
            detail: None,
            answer: Some(Answer::Response(Box::new(response))),
        }
    }

    /// The probe answered with an error object: `errorType: errorMessage` as the detail.
    fn function_error(e: FunctionError) -> Self {
        Classified {
            status: Status::FunctionError,
            reason: None,
            detail: Some(format!("{}: {}", e.error_type, e.error_message)),
            answer: Some(Answer::Error(e)),
        }
    }

    /// JSON that is neither a response this version reads nor an error: the run failed, and
    /// the detail says why (e.g. a probe of another schema_version).
    fn unreadable(why: String) -> Self {
        Classified {
            status: Status::Failed,
            reason: Some(Reason::BadOutput),
            detail: Some(format!("the probe's answer cannot be read: {why}")),
            answer: None,
        }
    }
}

/// What a run's ending and output mean. The probe's `run` door exits 0 with a response or 1
/// with an error object; anything else is a failed run, and an OOM kill in its cgroup is named
/// as the reason whatever the exit looked like.
fn classify(ending: Ending, stdout: &str, stats: Option<&RunStats>) -> Classified {
    let answer = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .map(Answer::from_value);
    let oom_kills = stats.and_then(|s| s.oom_kills).unwrap_or(0);
    let limit_mib = |s: Option<&RunStats>| {
        s.and_then(|s| s.peak_memory_bytes)
            .map(|b| format!(", peak {:.1} MiB", b as f64 / 1048576.0))
            .unwrap_or_default()
    };
    let failed = |reason: Reason, detail: String| Classified {
        status: Status::Failed,
        reason: Some(reason),
        detail: Some(detail),
        answer: None,
    };
    let how = match ending {
        Ending::Exited(c) => format!("exited with status {c}"),
        Ending::Signaled(s) => format!("was killed by {}", signals::name(s)),
        Ending::TimedOut => format!(
            "was still running {} s past its deadline, and was killed",
            child::KILL_GRACE.as_secs()
        ),
        Ending::Interrupted(s) => format!("was stopped by {}", signals::name(s)),
    };
    if oom_kills > 0 {
        return failed(
            Reason::OomKill,
            format!(
                "the OOM killer killed {oom_kills} process(es) of the run at its memory limit; the probe {how}{}",
                limit_mib(stats)
            ),
        );
    }
    match (ending, answer) {
        (Ending::Exited(0), Some(Ok(Answer::Response(r)))) => Classified::ok(*r),
        (Ending::Exited(1), Some(Ok(Answer::Error(e)))) => Classified::function_error(e),
        (Ending::Exited(0 | 1), Some(Err(why))) => Classified::unreadable(why),
        (Ending::Signaled(_), _) => failed(Reason::Signal, format!("the probe {how}")),
        (Ending::TimedOut, _) => failed(Reason::Timeout, format!("the probe {how}")),
        (Ending::Exited(0 | 1), _) => failed(
            Reason::BadOutput,
            format!("the probe {how} without a JSON answer on standard output"),
        ),
        (Ending::Exited(_), _) | (Ending::Interrupted(_), _) => {
            failed(Reason::ExitStatus, format!("the probe {how}"))
        }
    }
}

/// A real response of the probe, for tests: its own handler on this machine.
#[cfg(test)]
pub fn real_response(event: Value) -> Response {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(lambda_probe::handle(
        event,
        lambda_probe::measure::Deadline::none(),
    ))
    .expect("the probe answers")
    .0
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse_args(list: &[&str]) -> Result<Args, String> {
        let mut argv = vec!["emulate"];
        argv.extend(list);
        Cli::try_parse_from(argv)
            .map(|c| c.args)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn arguments() {
        let a = parse_args(&[
            "--memory",
            "128,1769",
            "--payload",
            "p.json",
            "--runs",
            "3",
            "--timeout-ms",
            "5000",
            "--unthrottled",
            "--out",
            "r.jsonl",
        ])
        .unwrap();
        assert_eq!(a.memory.unwrap().0, vec![128, 1769]);
        assert_eq!(a.runs, 3);
        assert_eq!(a.timeout_ms, 5000);
        assert!(a.unthrottled);
        assert_eq!(a.out, Some(PathBuf::from("r.jsonl")));
        assert_eq!(a.probe, None);
        assert!(!a.fresh_process);
        let m = parse_args(&[
            "--managed",
            "2",
            "--concurrency",
            "1,4",
            "--gib-per-vcpu",
            "4",
            "--payload",
            "p",
        ])
        .unwrap();
        assert_eq!(
            (m.managed, m.gib_per_vcpu, m.concurrency.map(|c| c.0)),
            (Some(2), 4.0, Some(vec![1, 4]))
        );
        assert_eq!(m.memory, None);
        let ps = plans(
            &parse_args(&["--managed", "2", "--payload", "p"]).unwrap(),
            &[0, 1],
            None,
        )
        .unwrap();
        assert_eq!(
            (ps.len(), ps[0].concurrency(), ps[0].memory_mb),
            (1, 1, 4096)
        );
        // --concurrency and --gib-per-vcpu describe a managed environment only.
        let od = parse_args(&["--memory", "128", "--concurrency", "2", "--payload", "p"]);
        assert!(plans(&od.unwrap(), &[0, 1], None)
            .unwrap_err()
            .contains("--managed"));
        // 16 vCPUs at 4 GiB each is 64 GiB: no such environment.
        let big = parse_args(&["--managed", "16", "--gib-per-vcpu", "4", "--payload", "p"]);
        assert!(plans(&big.unwrap(), &[0, 1], None)
            .unwrap_err()
            .contains("32768"));
        let fresh = parse_args(&["--memory", "128", "--payload", "p", "--fresh-process"]);
        assert!(fresh.unwrap().fresh_process);
        for (bad, says) in [
            (vec!["--payload", "p"], "--memory"),
            (vec!["--memory", "128"], "--payload"),
            (vec!["--memory", "64", "--payload", "p"], "128..=10240"),
            (
                vec!["--memory", "128", "--payload", "p", "--runs", "0"],
                "--runs",
            ),
            (
                vec![
                    "--memory",
                    "128",
                    "--payload",
                    "p",
                    "--timeout-ms",
                    "900001",
                ],
                "--timeout-ms",
            ),
            (vec!["--memory"], "--memory"),
            (
                vec!["--memory", "128", "--payload", "p", "--runs", "101"],
                "1..=100",
            ),
            (
                vec!["--memory", "128", "--payload", "p", "--fast"],
                "--fast",
            ),
            (
                vec!["--memory", "128", "--managed", "2", "--payload", "p"],
                "cannot be used with",
            ),
            (
                vec!["--managed", "2", "--concurrency", "0", "--payload", "p"],
                "1..=1600",
            ),
            (
                vec!["--managed", "2", "--gib-per-vcpu", "3", "--payload", "p"],
                "2, 4 or 8",
            ),
            (vec!["--managed", "0", "--payload", "p"], "--managed"),
            (vec!["--managed", "17", "--payload", "p"], "--managed"),
        ] {
            let e = parse_args(&bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    fn stats(oom: u64) -> RunStats {
        RunStats {
            oom_kills: Some(oom),
            peak_memory_bytes: Some(128 << 20),
            ..RunStats::default()
        }
    }

    fn env_line() -> String {
        serde_json::to_string(&real_response(json!({"workload": "env"}))).unwrap()
    }

    #[test]
    fn classifies_endings() {
        let ok = classify(
            Ending::Exited(0),
            &format!("{}\n", env_line()),
            Some(&stats(0)),
        );
        assert_eq!(ok.status, Status::Ok);
        match ok.answer {
            Some(Answer::Response(r)) => assert_eq!(r.workload(), "env"),
            other => panic!("{other:?}"),
        }

        let fe = classify(
            Ending::Exited(1),
            "{\"errorType\":\"OverBudget\",\"errorMessage\":\"200 MiB > 128 MB\"}",
            None,
        );
        assert_eq!(fe.status, Status::FunctionError);
        assert_eq!(fe.detail.as_deref(), Some("OverBudget: 200 MiB > 128 MB"));

        let oom = classify(Ending::Signaled(libc::SIGKILL), "", Some(&stats(1)));
        assert_eq!(
            (oom.status, oom.reason),
            (Status::Failed, Some(Reason::OomKill))
        );
        let d = oom.detail.unwrap();
        assert!(d.contains("SIGKILL") && d.contains("peak 128.0 MiB"), "{d}");
        // A descendant OOM-killed while the probe exits with a status: still the OOM.
        let oom = classify(Ending::Exited(137), "", Some(&stats(1)));
        assert_eq!(oom.reason, Some(Reason::OomKill));

        let sig = classify(Ending::Signaled(libc::SIGSEGV), "", Some(&stats(0)));
        assert_eq!(sig.reason, Some(Reason::Signal));
        assert!(sig.detail.unwrap().contains("SIGSEGV"));
        assert_eq!(
            classify(Ending::TimedOut, "", None).reason,
            Some(Reason::Timeout)
        );
        assert_eq!(
            classify(Ending::Exited(0), "not json", None).reason,
            Some(Reason::BadOutput)
        );
        // Exit 0 with an error object, or 1 with a response, is not what the door does.
        assert_eq!(
            classify(
                Ending::Exited(0),
                "{\"errorType\":\"X\",\"errorMessage\":\"\"}",
                None
            )
            .reason,
            Some(Reason::BadOutput)
        );
        assert_eq!(
            classify(Ending::Exited(1), &env_line(), None).reason,
            Some(Reason::BadOutput)
        );
        assert_eq!(
            classify(Ending::Exited(2), "", None).reason,
            Some(Reason::ExitStatus)
        );
        // A response of another schema version is a failed run that says why.
        let old = classify(
            Ending::Exited(0),
            "{\"schema_version\":1,\"workload\":\"env\"}",
            None,
        );
        assert_eq!(old.reason, Some(Reason::BadOutput));
        assert!(old.detail.unwrap().contains("schema_version 1"));
    }

    #[test]
    fn a_series_keeps_its_answers_and_fails_the_runs_it_never_answered() {
        let ok = env_line();
        let err = "{\"errorType\":\"OverBudget\",\"errorMessage\":\"too big\"}";
        let all = classify_series(Ending::Exited(1), &format!("{ok}\n{err}\n{ok}\n"), None, 3);
        let status: Vec<Status> = all.iter().map(|c| c.status).collect();
        assert_eq!(status, [Status::Ok, Status::FunctionError, Status::Ok]);

        // OOM-killed during run 2 of 3: run 1 stays, runs 2 and 3 are the OOM kill.
        let died = classify_series(Ending::Signaled(libc::SIGKILL), &ok, Some(&stats(1)), 3);
        assert_eq!(died[0].status, Status::Ok);
        assert!(died[0].answer.is_some());
        for c in &died[1..] {
            assert_eq!(
                (c.status, c.reason),
                (Status::Failed, Some(Reason::OomKill))
            );
        }
        assert!(!died[1].detail.as_ref().unwrap().contains("not run"));
        let d = died[2].detail.as_ref().unwrap();
        assert!(d.contains("not run") && d.contains("during run 2"), "{d}");

        // One run: the single run's rules (exit 0 with an error object is not the door's).
        let one = classify_series(Ending::Exited(0), err, None, 1);
        assert_eq!(one[0].reason, Some(Reason::BadOutput));
    }

    #[test]
    fn a_line_is_the_answer_with_the_emulation_attached() {
        let plan = Plan::new(884, &[0, 1], None);
        let response = real_response(json!({"workload": "env"}));
        let r = Record {
            size_index: 0,
            plan: plan.clone(),
            emulated: None,
            info: RunInfo {
                memory_mb: 884,
                run: 1,
                runs: 1,
                cold: true,
                status: Status::Ok,
                reason: None,
                detail: None,
                exit_code: Some(0),
                signal: None,
                process_wall_ms: Some(12.0),
                cgroup_stats: None,
                stderr_tail: None,
            },
            answer: Some(Answer::Response(Box::new(response.clone()))),
        };
        let line = r.line();
        assert_eq!(line["workload"], "env");
        assert_eq!(line["emulated"], Value::Null);
        assert_eq!(line["emulate_run"]["status"], "ok");
        assert_eq!(line["emulate_run"]["memory_mb"], 884);
        // The probe's answer reads back from the line as it was.
        match Answer::from_value(line).unwrap() {
            Answer::Response(back) => assert_eq!(*back, response),
            other => panic!("{other:?}"),
        }
    }
}
