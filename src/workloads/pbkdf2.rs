//! PBKDF2-HMAC (sha256/sha512) on N passwords, once per entry of `threads`: on one thread, then on
//! rayon pools of more threads. The 2019 "multiprocessing in Lambda" experiment, per password.

use super::{
    blocking, check_range, Context, Host, Outcome, Phase, Plotted, Run, Speedup, Workload,
};
use crate::error::ProbeError;
use crate::measure::stats::round;
use crate::measure::{speedup, thread_cpu_us, Deadline, Span, Stopwatch};
use crate::response::TruncatedReason;
use crate::telemetry::{Metric, Unit};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha512};
use std::time::Instant;

/// The pbkdf2 workload.
#[derive(Clone, Copy, Debug, PartialEq, JsonSchema)]
pub struct Pbkdf2;

// ---------------------------------------------------------------- parameters

#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Hash {
    Sha256,
    /// The 2019 experiment's hash.
    #[default]
    Sha512,
}

impl Hash {
    pub fn name(&self) -> &'static str {
        match self {
            Hash::Sha256 => "sha256",
            Hash::Sha512 => "sha512",
        }
    }
}

/// 1,000,000 iterations on 4 passwords: the 2019 "multiprocessing in Lambda" experiment.
pub const DEFAULT_ITERATIONS: u32 = 1_000_000;
pub const DEFAULT_PASSWORDS: u32 = 4;
/// 100 M iterations is minutes of CPU even at 10,240 MB; the deadline stops longer runs anyway.
pub const MAX_ITERATIONS: u32 = 100_000_000;
/// Enough to keep 64 threads busy; each password is one sample row, so this bounds the response.
pub const MAX_PASSWORDS: u32 = 64;
/// Lambda shows at most 6 cores; 64 threads is far past anything worth measuring.
pub const MAX_THREADS: u32 = 64;
/// A sweep of 1..=16 thread counts is plenty; each entry re-derives every password.
pub const MAX_THREAD_ENTRIES: usize = 16;

/// The event's fields.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pbkdf2Input {
    /// The HMAC hash.
    #[serde(default)]
    hash: Hash,
    /// PBKDF2 iterations per password, 1..=100,000,000.
    #[serde(default = "default_iterations")]
    #[schemars(range(min = 1, max = MAX_ITERATIONS))]
    iterations: u32,
    /// Passwords `password-0` … derived with salt `lambda-probe`, 1..=64.
    #[serde(default = "default_passwords")]
    #[schemars(range(min = 1, max = MAX_PASSWORDS))]
    passwords: u32,
    /// The thread counts to run, in order, 1..=16 entries of 1..=64; every entry derives all
    /// passwords again. Default: [1, the cores the sandbox shows (affinity)].
    #[serde(default)]
    threads: Option<Vec<u32>>,
}

fn default_iterations() -> u32 {
    DEFAULT_ITERATIONS
}

fn default_passwords() -> u32 {
    DEFAULT_PASSWORDS
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct Pbkdf2Params {
    pub hash: Hash,
    pub iterations: u32,
    pub passwords: u32,
    /// Thread counts to run, in order; every entry derives all passwords again.
    pub threads: Vec<u32>,
}

impl Pbkdf2Input {
    fn resolve(self, host: &Host) -> Result<Pbkdf2Params, ProbeError> {
        const W: &str = "pbkdf2";
        check_range(W, "iterations", self.iterations, 1, MAX_ITERATIONS)?;
        check_range(W, "passwords", self.passwords, 1, MAX_PASSWORDS)?;
        let threads = match self.threads {
            Some(t) => t,
            None => {
                let mut t = vec![1, host.cores.max(1) as u32];
                t.dedup();
                t
            }
        };
        if threads.is_empty() || threads.len() > MAX_THREAD_ENTRIES {
            return Err(ProbeError::invalid(format!(
                "{W}: `threads` must list 1..={MAX_THREAD_ENTRIES} thread counts, got {}",
                threads.len()
            )));
        }
        for &t in &threads {
            check_range(W, "threads[]", t, 1, MAX_THREADS)?;
        }
        Ok(Pbkdf2Params {
            hash: self.hash,
            iterations: self.iterations,
            passwords: self.passwords,
            threads,
        })
    }
}

impl Workload for Pbkdf2 {
    const NAME: &'static str = "pbkdf2";
    /// Each level's CPU time is the process's; each password's (`samples[].cpu_us`) is its
    /// thread's own, exact whatever else runs.
    const PROCESS_WIDE: &'static [&'static str] =
        &["summary.levels[].cpu_ms", "summary.levels[].effective_vcpu"];
    const ABOUT: &'static str = "PBKDF2-HMAC (sha512/sha256) on 4 passwords × 1,000,000 iterations, on 1 thread and on N threads: the 2019 \"multiprocessing in Lambda\" experiment";
    type Input = Pbkdf2Input;
    type Params = Pbkdf2Params;
    type Figures = Figures;
    type Sample = PasswordSample;

    fn resolve(input: Pbkdf2Input, host: &Host) -> Result<Pbkdf2Params, ProbeError> {
        input.resolve(host)
    }

    /// 2,000 iterations: milliseconds instead of seconds.
    fn quick(mut params: Pbkdf2Params) -> Pbkdf2Params {
        params.iterations = params.iterations.min(2000);
        params
    }

    async fn run(
        params: Pbkdf2Params,
        ctx: Context,
    ) -> Result<Outcome<Figures, PasswordSample>, ProbeError> {
        blocking(move || run(&params, ctx.deadline)).await
    }

    /// `sha512 4x1000000 threads=1,2`.
    fn experiment(p: &Pbkdf2Params) -> String {
        format!(
            "{} {}x{} threads={}",
            p.hash.name(),
            p.passwords,
            p.iterations,
            join(&p.threads)
        )
    }

    /// Single-thread throughput and the best multi-thread speedup.
    fn metrics(run: &Run<Self>) -> Vec<Metric> {
        let levels = &run.summary.figures.levels;
        let mut m = Vec::new();
        if let Some(one) = levels.iter().find(|l| l.threads == 1) {
            m.push(Metric::new(
                "Pbkdf2IterationsPerS",
                Unit::CountPerSecond,
                one.iterations_per_s,
            ));
        }
        if let Some(s) = Self::speedup(run) {
            m.push(Metric::new("Pbkdf2Speedup", Unit::None, s.value));
        }
        m
    }

    fn summary_text(run: &Run<Self>) -> String {
        let mut out = String::new();
        for l in &run.summary.figures.levels {
            out += &format!(
                "  {:>10}: {:>10.3} ms wall, {:>10.3} ms cpu, effective vCPU {:>6}, speedup {:>6}, {:.1} iterations/s\n",
                threads_label(l.threads),
                l.wall_ms,
                l.cpu_ms,
                opt(l.effective_vcpu),
                opt(l.speedup),
                l.iterations_per_s,
            );
        }
        out
    }

    fn plotted(run: &Run<Self>) -> Vec<Plotted> {
        let mut out = Vec::new();
        if let Some(s) = Self::speedup(run) {
            out.push(Plotted {
                plot: "speedup",
                title: "Multi-thread speedup vs memory",
                y_label: "Best speedup over 1 thread (×)",
                decimals: 2,
                series: None,
                value: s.value,
                note: Some("Speedup = 1-thread time ÷ best multi-thread time. Vertical lines: where Lambda shows one more core; grey line: min(M ÷ 1,769, cores)."),
                cpu_model_guide: true,
            });
        }
        for l in &run.summary.figures.levels {
            if l.passwords_done == run.params.passwords {
                out.push(Plotted {
                    plot: "iterations",
                    title: "PBKDF2 throughput vs memory",
                    y_label: "Iterations per second",
                    decimals: 0,
                    series: Some(threads_label(l.threads)),
                    value: l.iterations_per_s,
                    note: None,
                    cpu_model_guide: false,
                });
            }
        }
        out
    }

    /// Every password's thread CPU (`samples[].cpu_us`), summed.
    fn thread_cpu_ms(run: &Run<Self>) -> Option<f64> {
        (!run.samples.is_empty())
            .then(|| run.samples.iter().map(|s| s.cpu_us as f64).sum::<f64>() / 1000.0)
    }

    /// The best complete multi-thread level's speedup over one thread.
    fn speedup(run: &Run<Self>) -> Option<Speedup> {
        Speedup::best(
            run.summary
                .figures
                .levels
                .iter()
                .map(|l| (l.threads, l.speedup)),
            threads_label,
        )
    }

    /// One phase per thread count: its CPU, all of it work (pbkdf2 never waits), and the
    /// threads it keeps busy on average when CPU is plentiful: the passwords are equal tasks,
    /// so `p` of them on `t` threads take ⌈p ÷ t⌉ rounds and keep p ÷ ⌈p ÷ t⌉ threads busy
    /// (4 passwords: 2 on 2 threads, 2 on 3, 4 on 4 or more).
    fn phases(run: &Run<Self>) -> Vec<Phase> {
        run.summary
            .figures
            .levels
            .iter()
            .map(|l| {
                let cpu: Vec<f64> = run
                    .samples
                    .iter()
                    .filter(|s| s.threads == l.threads)
                    .map(|s| s.cpu_us as f64)
                    .collect();
                Phase {
                    cpu_spread: super::item_spread(&cpu),
                    ..Phase::cpu(
                        threads_label(l.threads),
                        l.wall_ms,
                        l.cpu_ms,
                        busy_threads(l.threads, l.passwords_done),
                    )
                }
            })
            .collect()
    }
}

/// The threads `passwords` equal tasks keep busy on average on a pool of `threads`.
fn busy_threads(threads: u32, passwords: u32) -> f64 {
    let (t, p) = (threads.max(1), passwords.max(1));
    p as f64 / p.div_ceil(t) as f64
}

/// `1,2,4`.
pub(crate) fn join(list: &[u32]) -> String {
    list.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn threads_label(threads: u32) -> String {
    if threads == 1 {
        "1 thread".into()
    } else {
        format!("{threads} threads")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
}

/// The salt every derivation uses, so a result can be checked with `openssl kdf`.
pub const SALT: &str = "lambda-probe";

/// Password `i` of a run: `password-0`, `password-1`, …
pub fn password(i: u32) -> String {
    format!("password-{i}")
}

/// Iterations between deadline checks: ~1 ms of work at 1 vCPU, ~15 ms at 128 MB.
const CHECK_EVERY: u32 = 1024;

/// One password derived at one thread count.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct PasswordSample {
    pub threads: u32,
    pub password: u32,
    /// rayon's index of the worker thread that derived it.
    pub worker: usize,
    /// Offset of the derivation's start from the start of its thread count's run.
    pub start_us: u64,
    pub wall_us: u64,
    /// CPU time of the thread that derived it.
    pub cpu_us: u64,
}

/// One thread count's run over all passwords.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[schemars(rename = "Pbkdf2Level")]
pub struct Level {
    pub threads: u32,
    pub passwords_done: u32,
    pub wall_ms: f64,
    /// Process CPU time over the level (all threads; with other invocations running in the
    /// process, theirs too: see `overlap`).
    pub cpu_ms: f64,
    pub effective_vcpu: Option<f64>,
    /// The 1-thread wall time over this one's; null without a complete 1-thread run.
    pub speedup: Option<f64>,
    pub iterations_per_s: f64,
}

/// The first derived key, with everything needed to reproduce it elsewhere.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct FirstKey {
    pub password: String,
    pub salt: String,
    pub iterations: u32,
    pub hash: Hash,
    pub key_bytes: usize,
    pub hex: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[schemars(rename = "Pbkdf2Figures")]
pub struct Figures {
    pub levels: Vec<Level>,
    pub first_key: Option<FirstKey>,
}

/// Derives every password once per thread count, stopping at the deadline.
pub fn run(p: &Pbkdf2Params, deadline: Deadline) -> Outcome<Figures, PasswordSample> {
    let mut samples = Vec::new();
    let mut levels: Vec<Level> = Vec::new();
    let mut first_key = None;
    let mut truncated = None;
    for &threads in &p.threads {
        if deadline.reached() {
            truncated = Some(TruncatedReason::Deadline);
            break;
        }
        let pool = match rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build()
        {
            Ok(pool) => pool,
            Err(_) => {
                // Out of threads is a limit of the sandbox, not a bug: stop and keep what we have.
                truncated = Some(TruncatedReason::ThreadPool);
                break;
            }
        };
        let clock = Stopwatch::start();
        let (rows, span) = Span::measure(|| {
            pool.install(|| {
                (0..p.passwords)
                    .into_par_iter()
                    .map(|i| derive_timed(p, threads, i, &clock, &deadline))
                    .collect::<Vec<_>>()
            })
        });
        let done: Vec<(PasswordSample, Vec<u8>)> = rows.into_iter().flatten().collect();
        if first_key.is_none() {
            first_key = done
                .iter()
                .find(|(s, _)| s.password == 0)
                .map(|(_, key)| FirstKey {
                    password: password(0),
                    salt: SALT.to_string(),
                    iterations: p.iterations,
                    hash: p.hash,
                    key_bytes: key.len(),
                    hex: hex(key),
                });
        }
        let passwords_done = done.len() as u32;
        let complete = passwords_done == p.passwords;
        let baseline = levels
            .iter()
            .find(|l| l.threads == 1 && l.passwords_done == p.passwords)
            .map(|l| l.wall_ms)
            .or_else(|| (threads == 1 && complete).then(|| span.wall_ms()));
        let wall_s = span.wall_us as f64 / 1e6;
        let f = span.figures();
        levels.push(Level {
            threads,
            passwords_done,
            wall_ms: f.wall_ms,
            cpu_ms: f.cpu_ms,
            effective_vcpu: f.effective_vcpu,
            speedup: baseline
                .filter(|_| complete)
                .and_then(|b| speedup(b, span.wall_ms())),
            iterations_per_s: if wall_s > 0.0 {
                round(passwords_done as f64 * p.iterations as f64 / wall_s, 1)
            } else {
                0.0
            },
        });
        samples.extend(done.into_iter().map(|(s, _)| s));
        if !complete {
            truncated = Some(TruncatedReason::Deadline);
            break;
        }
    }
    Outcome {
        samples,
        figures: Figures { levels, first_key },
        truncated,
    }
}

fn derive_timed(
    p: &Pbkdf2Params,
    threads: u32,
    i: u32,
    clock: &Stopwatch,
    deadline: &Deadline,
) -> Option<(PasswordSample, Vec<u8>)> {
    if deadline.reached() {
        return None;
    }
    let started = Instant::now();
    let cpu0 = thread_cpu_us();
    let key = derive(
        p.hash,
        password(i).as_bytes(),
        SALT.as_bytes(),
        p.iterations,
        deadline,
    )?;
    let sample = PasswordSample {
        threads,
        password: i,
        worker: rayon::current_thread_index().unwrap_or(0),
        start_us: clock.offset_us(started),
        wall_us: started.elapsed().as_micros() as u64,
        cpu_us: thread_cpu_us().saturating_sub(cpu0),
    };
    Some((sample, key))
}

/// PBKDF2-HMAC with one output block (the hash's length: 32 bytes for sha256, 64 for sha512).
/// `None` when the deadline came first.
pub fn derive(
    hash: Hash,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    deadline: &Deadline,
) -> Option<Vec<u8>> {
    match hash {
        Hash::Sha256 => first_block::<Hmac<Sha256>>(password, salt, iterations, deadline),
        Hash::Sha512 => first_block::<Hmac<Sha512>>(password, salt, iterations, deadline),
    }
}

/// T1 = U1 ⊕ U2 ⊕ … ⊕ Uc, U1 = PRF(P, S ‖ INT(1)), Uj = PRF(P, Uj−1) (RFC 8018 §5.2). The keyed
/// PRF is built once and cloned per iteration, as the `pbkdf2` crate does; unlike a single call
/// into that crate, this loop can stop at the deadline.
fn first_block<M: Mac + KeyInit + Clone>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    deadline: &Deadline,
) -> Option<Vec<u8>> {
    let prf = <M as KeyInit>::new_from_slice(password).ok()?;
    let mut mac = prf.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u = mac.finalize().into_bytes();
    let mut t = u.clone();
    for i in 1..iterations {
        let mut mac = prf.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes();
        t.iter_mut().zip(u.iter()).for_each(|(t, u)| *t ^= u);
        if i % CHECK_EVERY == 0 && deadline.reached() {
            return None;
        }
    }
    Some(t.to_vec())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(hash: Hash, p: &str, s: &str, c: u32) -> String {
        hex(&derive(hash, p.as_bytes(), s.as_bytes(), c, &Deadline::none()).unwrap())
    }

    #[test]
    fn sha256_matches_rfc7914_vectors() {
        // RFC 7914 §11, first 32 bytes (one block) of each 64-byte output.
        assert_eq!(
            key(Hash::Sha256, "passwd", "salt", 1),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        assert_eq!(
            key(Hash::Sha256, "Password", "NaCl", 80000),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
    }

    #[test]
    fn sha512_matches_published_vectors() {
        assert_eq!(
            key(Hash::Sha512, "password", "salt", 1),
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252\
             c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
        );
        assert_eq!(
            key(Hash::Sha512, "password", "salt", 2),
            "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c\
             f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e"
        );
    }

    fn params(threads: Vec<u32>, iterations: u32) -> Pbkdf2Params {
        Pbkdf2Params {
            hash: Hash::Sha256,
            iterations,
            passwords: 4,
            threads,
        }
    }

    #[test]
    fn every_level_derives_every_password_with_its_own_timings() {
        let r = run(&params(vec![1, 2, 3], 2000), Deadline::none());
        assert_eq!(r.truncated, None);
        assert_eq!(r.samples.len(), 12);
        for t in [1, 2, 3] {
            let mut pw: Vec<u32> = r
                .samples
                .iter()
                .filter(|s| s.threads == t)
                .map(|s| s.password)
                .collect();
            pw.sort();
            assert_eq!(pw, vec![0, 1, 2, 3]);
        }
        assert!(r
            .samples
            .iter()
            .all(|s| s.wall_us > 0 && (s.worker as u32) < s.threads));
        let levels = &r.figures.levels;
        assert_eq!(
            levels.iter().map(|l| l.threads).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(levels[0].speedup, Some(1.0));
        assert!(levels
            .iter()
            .all(|l| l.speedup.is_some() && l.iterations_per_s > 0.0));
        let fk = r.figures.first_key.unwrap();
        assert_eq!(fk.hex, key(Hash::Sha256, "password-0", SALT, 2000));
        assert_eq!(fk.key_bytes, 32);
    }

    #[test]
    fn phases_are_the_levels_with_the_threads_the_passwords_keep_busy() {
        assert_eq!(busy_threads(1, 4), 1.0);
        assert_eq!(busy_threads(2, 4), 2.0);
        assert_eq!(busy_threads(3, 4), 2.0);
        assert_eq!(busy_threads(4, 4), 4.0);
        assert_eq!(busy_threads(6, 4), 4.0);
        assert_eq!(busy_threads(2, 3), 1.5);
        let p = params(vec![1, 3], 1000);
        let out = run(&p, Deadline::none());
        let r = Run::<Pbkdf2>::for_test(p, out);
        let phases = Pbkdf2::phases(&r);
        assert_eq!(phases.len(), 2);
        assert_eq!(
            (phases[0].name.as_str(), phases[0].threads),
            ("1 thread", 1.0)
        );
        assert_eq!(
            (phases[1].name.as_str(), phases[1].threads),
            ("3 threads", 2.0)
        );
        assert!(phases.iter().all(|p| !p.waits && p.cpu_ms > 0.0));
        assert!(phases
            .iter()
            .all(|p| p.cpu_spread.is_some_and(|s| s >= 0.0)));
        // Four passwords: their middle 80% is all of them, (120 − 90) ÷ 2 ÷ 100.
        assert_eq!(
            super::super::item_spread(&[90.0, 100.0, 100.0, 120.0]),
            Some(0.15)
        );
        assert_eq!(super::super::item_spread(&[100.0]), None);
        assert_eq!(phases[1].wall_ms, r.summary.figures.levels[1].wall_ms);
    }

    #[test]
    fn speedup_is_null_without_a_one_thread_run() {
        let r = run(&params(vec![2], 1000), Deadline::none());
        assert_eq!(r.figures.levels[0].speedup, None);
    }

    #[test]
    fn a_near_deadline_stops_early_and_keeps_what_was_measured() {
        // A deadline already inside the safety margin: nothing may run, and it says so.
        let r = run(
            &params(vec![1, 2], 10_000_000),
            Deadline::after(Duration::from_millis(1)),
        );
        assert_eq!(r.truncated, Some(TruncatedReason::Deadline));
        assert!(r.samples.is_empty());

        // A deadline mid-run: the run returns well before the work could finish.
        let started = Instant::now();
        let budget = Duration::from_millis(crate::measure::deadline::SAFETY_MARGIN_MS + 300);
        let r = run(&params(vec![1, 2], 50_000_000), Deadline::after(budget));
        assert_eq!(r.truncated, Some(TruncatedReason::Deadline));
        assert!(started.elapsed() < budget, "ran {:?}", started.elapsed());
    }
}
