//! The model: one run's phases and Lambda's rules (`lambda_probe::lambda_model`) give the run's
//! duration at every memory size. Pure functions, no I/O.
//!
//! Per phase, the run measured its CPU time `C`, the threads `t` it keeps busy, and whether it
//! also waits on something no CPU share changes (the network). At memory M the phase gets a
//! share of `s = M ÷ 1,769` vCPU-seconds per second, on `cores(M)` cores, and while it is not
//! held back it runs its CPU at `r = min(t, cores(M))` vCPU. So the phase takes
//!
//! ```text
//!     max(W + C ÷ r, C ÷ s)
//! ```
//!
//! `W + C ÷ r` is the phase with all the CPU it can use (its wait `W` plus its work at full
//! speed); `C ÷ s` is the least wall its CPU needs at the share. For work that never waits
//! (`W = 0`) this is `C ÷ min(s, cores, t)`, Lambda's rule as written in `usable_vcpu`. For work
//! that mostly waits, light CPU is never throttled (a 5 ms wait per call, 0.3 ms of CPU per call
//! stays under the quota at any size), and the share only binds once `C ÷ s` passes the wait.
//!
//! `W` comes from the run itself, inverting the same formula at the size it ran at: a phase that
//! waits and took longer than `C ÷ s₀` was not held back, so `W = wall − C ÷ r₀`; one that took
//! no longer than `C ÷ s₀` was held back by its share, and its wait is only known to lie between
//! 0 and `wall − C ÷ r₀` (the prediction then carries that range).
//!
//! The share is enforced per period `P`: a run uses its quota at full speed, then waits for the
//! next period. Against the fluid `C ÷ s`, one period's quota used at full speed is worth
//! `u = P × (1 − s ÷ r)`. A stretch of held-back phases that starts with its period's quota
//! unspent (a new process, a warm sandbox after a pause, work that used less than its share
//! before it) gains up to `u`; one that starts the run may instead find it spent and lose up to
//! `u`; one that ends mid-period runs its last partial quota at full speed and gains up to `u`.
//! The prediction takes half of each gain (`fluid − u` for a run held back throughout), the
//! range all of them (`fluid − 2u … fluid + u`), never below the run with no share at all.
//!
//! The same work does not always take the same CPU time (caches, a busy sibling hyperthread,
//! the hypervisor). Where the run has equal items of work (pbkdf2's passwords), the range also
//! takes each phase's CPU time as far below and above as the run's items strayed from their
//! median (p10–p90), and likewise its wait (io's calls' latencies).

use lambda_probe::lambda_model as lm;
use lambda_probe::workloads::Phase;
use serde::Serialize;

/// What a run had when it was measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    /// The vCPU-seconds per second it could use: its cgroup quota, or Lambda's M ÷ 1,769;
    /// `None` when nothing limited it (its cores were the limit).
    pub share_vcpu: Option<f64>,
    /// The cores it could run on.
    pub cores: u32,
    /// The whole run (`summary.wall_ms`, `summary.cpu_ms`).
    pub wall_ms: f64,
    pub cpu_ms: f64,
}

impl Measured {
    /// The vCPU a phase of `threads` threads ran its CPU at when nothing held it back.
    fn rate(&self, threads: f64) -> f64 {
        threads.max(1.0).min(self.cores.max(1) as f64)
    }

    fn share(&self) -> f64 {
        self.share_vcpu.unwrap_or(f64::INFINITY)
    }
}

/// Below this much CPU the rest of a run (what its phases leave out) is not worth a phase.
const REST_MIN_MS: f64 = 0.5;
/// A waiting phase whose wall is within this fraction of `C ÷ s₀` counts as held back by its
/// share (the period's free quota at a run's start makes a held-back phase a little faster than
/// `C ÷ s₀`, never much slower).
const HELD_BACK_MARGIN: f64 = 0.05;

/// One phase as the model sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Work {
    pub name: String,
    pub cpu_ms: f64,
    pub threads: f64,
    /// The wall the phase spends waiting on something no CPU share changes (the point the
    /// prediction uses)…
    pub wait_ms: f64,
    /// …and the range it is known to lie in (equal ends when the run tells it exactly).
    pub wait_low_ms: f64,
    pub wait_high_ms: f64,
    /// Page faults and their cost, part of `cpu_ms` (see `Phase`).
    pub new_pages: Option<u64>,
    pub fault_ms: Option<f64>,
    /// How much the same work's CPU time moved within the run (a fraction; 0 when the run
    /// cannot tell): the range takes the CPU time that much lower and higher.
    pub cpu_spread: f64,
}

/// The run's phases as work: each phase's wait found from the run (see the module
/// documentation), and what the phases leave out of the run's CPU and wall (set-up, tear-down)
/// as one more phase, "rest of the run", CPU work on one thread.
pub fn works(phases: &[Phase], run: &Measured) -> Vec<Work> {
    let mut out: Vec<Work> = phases.iter().map(|p| work(p, run)).collect();
    let cpu_rest = run.cpu_ms - phases.iter().map(|p| p.cpu_ms).sum::<f64>();
    let wall_rest = run.wall_ms - phases.iter().map(|p| p.wall_ms).sum::<f64>();
    if cpu_rest >= REST_MIN_MS {
        let rest = Phase::cpu("rest of the run", wall_rest.max(0.0), cpu_rest, 1.0);
        out.push(work(&rest, run));
    }
    out
}

fn work(p: &Phase, run: &Measured) -> Work {
    let cpu = p.cpu_ms.max(0.0);
    let at_full_speed = cpu / run.rate(p.threads);
    let (low, high) = if !p.waits {
        (0.0, 0.0)
    } else {
        let open = (p.wall_ms - at_full_speed).max(0.0);
        let held_back = cpu > 0.0 && p.wall_ms <= cpu / run.share() * (1.0 + HELD_BACK_MARGIN);
        if held_back {
            (0.0, open)
        } else {
            (open, open)
        }
    };
    // How much the wait moved within the run widens its range the same way.
    let ws = p.wait_spread.unwrap_or(0.0).clamp(0.0, 1.0);
    Work {
        name: p.name.clone(),
        cpu_ms: cpu,
        threads: p.threads.max(1.0),
        wait_ms: (low + high) / 2.0,
        wait_low_ms: low * (1.0 - ws),
        wait_high_ms: high * (1.0 + ws),
        new_pages: p.new_pages,
        fault_ms: p.fault_ms,
        cpu_spread: p.cpu_spread.unwrap_or(0.0).clamp(0.0, 1.0),
    }
}

/// What a phase, or a run at one size, is bound by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bound {
    /// Its CPU share, M ÷ 1,769: more memory is faster.
    CpuShare,
    /// The cores the function sees.
    Cores,
    /// The threads it keeps busy: more memory buys nothing.
    Threads,
    /// Waiting on something no memory size changes.
    Wait,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::CpuShare => "cpu-share",
            Bound::Cores => "cores",
            Bound::Threads => "threads",
            Bound::Wait => "wait",
        }
    }
}

/// Where the prediction is for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    pub memory_mb: u32,
    /// The period the share is enforced over, in ms.
    pub period_ms: f64,
    /// Fewer cores than Lambda shows (a host with fewer, as under `emulate`); `None`: Lambda's.
    pub max_cores: Option<u32>,
}

/// One phase at one size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseAt {
    pub name: String,
    pub ms: f64,
    pub bound: Bound,
    /// Its CPU ÷ its wall: the vCPU it keeps busy on average.
    pub vcpu: f64,
}

/// A run's duration at one size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct At {
    pub memory_mb: u32,
    pub vcpu_share: f64,
    pub cores: u32,
    pub predicted_ms: f64,
    pub low_ms: f64,
    pub high_ms: f64,
    /// The phases at their average rates, before the period's effects.
    pub fluid_ms: f64,
    /// What bounds the most of its time.
    pub bound: Bound,
    pub phases: Vec<PhaseAt>,
}

/// The run's duration at `target`: each phase by the formula of the module documentation, the
/// period's free quota at the start and end of a held-back stretch as the range.
pub fn predict(works: &[Work], target: &Target) -> At {
    let share = lm::vcpu_share(target.memory_mb);
    let lambda_cores = lm::visible_cores(target.memory_mb);
    let cores = target
        .max_cores
        .map_or(lambda_cores, |m| m.min(lambda_cores));
    let mut phases = Vec::with_capacity(works.len());
    let (mut point, mut low, mut high) = (0.0, 0.0, 0.0);
    // Per phase: its CPU-share bound, and how much of it the period's free quota can save.
    let mut savings: Vec<Option<(f64, f64)>> = Vec::with_capacity(works.len());
    for w in works {
        // Not held back, the phase runs its CPU on its threads, at most the cores it sees.
        let rate = w.threads.min(cores as f64);
        let phase_ms = |wait: f64, cpu: f64| -> (f64, bool) {
            if cpu <= 0.0 {
                return (wait, false);
            }
            let free = wait + cpu / rate;
            let held = cpu / share;
            if held > free {
                (held, true)
            } else {
                (free, false)
            }
        };
        let (ms, held_back) = phase_ms(w.wait_ms, w.cpu_ms);
        let (ms_low, _) = phase_ms(w.wait_low_ms, w.cpu_ms * (1.0 - w.cpu_spread));
        let (ms_high, _) = phase_ms(w.wait_high_ms, w.cpu_ms * (1.0 + w.cpu_spread));
        point += ms;
        low += ms_low;
        high += ms_high;
        let bound = if held_back {
            Bound::CpuShare
        } else if w.cpu_ms <= 0.0 || w.wait_ms > w.cpu_ms / rate {
            Bound::Wait
        } else if w.threads > cores as f64 {
            Bound::Cores
        } else {
            Bound::Threads
        };
        // What one period's quota used at full speed instead of at the share is worth:
        // P × (1 − s ÷ r); and the time the share holds the phase back.
        savings.push(held_back.then(|| {
            (
                target.period_ms * (1.0 - share / rate).max(0.0),
                (ms - (w.wait_ms + w.cpu_ms / rate)).max(0.0),
            )
        }));
        phases.push(PhaseAt {
            name: w.name.clone(),
            ms,
            bound,
            vcpu: if ms > 0.0 { w.cpu_ms / ms } else { 0.0 },
        });
    }
    // Each stretch of held-back phases: one period's quota at full speed at its start when it
    // finds the quota unspent (after work that used less than its share, or at the start of a
    // run in a new process or a sandbox that paused), and its last partial quota at full speed
    // at its end; never more than the time the share holds it back. A stretch that starts the
    // run may also find its quota spent (by what ran before the handler): up to u slower.
    let (mut gain_point, mut gain_max, mut loss_max) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < savings.len() {
        let Some((u_start, _)) = savings[i] else {
            i += 1;
            continue;
        };
        let j = savings[i..]
            .iter()
            .position(Option::is_none)
            .map_or(savings.len(), |k| i + k);
        let held: f64 = savings[i..j].iter().flatten().map(|(_, h)| h).sum();
        let u_end = savings[j - 1].map_or(0.0, |(u, _)| u);
        // After a phase that used a fraction f of its share, a fraction 1 − f of the quota is
        // left unspent on average.
        let unspent = match i.checked_sub(1) {
            Some(k) if phases[k].ms > 0.0 => (1.0 - phases[k].vcpu / share).clamp(0.0, 1.0),
            _ => 1.0,
        };
        let gain = (u_start * unspent + u_end).min(held);
        gain_point += gain / 2.0;
        gain_max += gain;
        if works[..i].iter().all(|w| w.cpu_ms <= 0.0) {
            loss_max += u_start;
        }
        i = j;
    }
    let bound = dominant(&phases);
    At {
        memory_mb: target.memory_mb,
        vcpu_share: share,
        cores,
        predicted_ms: point - gain_point,
        low_ms: low - gain_max,
        high_ms: high + loss_max,
        fluid_ms: point,
        bound,
        phases,
    }
}

/// The bound that holds the most of the time.
fn dominant(phases: &[PhaseAt]) -> Bound {
    let mut by: Vec<(Bound, f64)> = Vec::new();
    for p in phases {
        match by.iter_mut().find(|(b, _)| *b == p.bound) {
            Some((_, ms)) => *ms += p.ms,
            None => by.push((p.bound, p.ms)),
        }
    }
    by.into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(b, _)| b)
        .unwrap_or(Bound::Wait)
}

/// The default memory sizes: every 64 MB from 128 to 10,240, plus both sides of each
/// visible-core step and each whole number of vCPU (1,769 MB, 3,538 MB, …: where N busy threads
/// stop gaining), in order.
pub fn default_sizes_mb() -> Vec<u32> {
    let mut v: Vec<u32> = (lm::MIN_MEMORY_MB..=lm::MAX_MEMORY_MB)
        .step_by(64)
        .collect();
    v.extend(lm::model_edges_mb());
    v.extend(
        (1..)
            .map(|k| k * lm::ONE_VCPU_MB)
            .take_while(|&m| m <= lm::MAX_MEMORY_MB),
    );
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
impl Work {
    /// Work that is all CPU on `threads` threads: no wait, no page-fault account, no spread.
    pub fn cpu_only(cpu_ms: f64, threads: f64) -> Work {
        Work {
            name: "work".into(),
            cpu_ms,
            threads,
            wait_ms: 0.0,
            wait_low_ms: 0.0,
            wait_high_ms: 0.0,
            new_pages: None,
            fault_ms: None,
            cpu_spread: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(cpu_ms: f64, threads: f64, wait_ms: f64) -> Work {
        Work {
            wait_ms,
            wait_low_ms: wait_ms,
            wait_high_ms: wait_ms,
            ..Work::cpu_only(cpu_ms, threads)
        }
    }

    fn at(works: &[Work], memory_mb: u32) -> At {
        predict(
            works,
            &Target {
                memory_mb,
                period_ms: 100.0,
                max_cores: None,
            },
        )
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn work_that_never_waits_follows_lambdas_usable_vcpu() {
        for threads in [1.0, 2.0, 3.0, 8.0] {
            for m in default_sizes_mb() {
                let a = at(&[Work::cpu_only(1000.0, threads)], m);
                let (v, _) = lm::usable_vcpu(m, threads);
                assert!(
                    close(a.fluid_ms, 1000.0 / v),
                    "{threads} threads at {m} MB: {a:?}"
                );
            }
        }
    }

    #[test]
    fn one_thread_stops_gaining_at_the_1769_mb_knee() {
        let w = [Work::cpu_only(1000.0, 1.0)];
        let below = at(&w, 1768);
        assert_eq!(below.bound, Bound::CpuShare);
        assert!(close(below.fluid_ms, 1000.0 * 1769.0 / 1768.0));
        for m in [1769, 2048, 3009, 10_240] {
            let a = at(&w, m);
            assert_eq!(a.bound, Bound::Threads, "{m} MB");
            assert!(
                close(a.predicted_ms, 1000.0) && a.low_ms == a.high_ms,
                "{a:?}"
            );
        }
    }

    #[test]
    fn the_core_step_at_3009_mb_speeds_up_waiting_work_on_more_threads() {
        // 4 threads, 300 ms of CPU, 100 ms of waiting: not held back by the share at either
        // size, so its CPU runs on 2 cores at 3,008 MB and on 3 from 3,009 MB.
        let w = [waiting(300.0, 4.0, 100.0)];
        let a = at(&w, 3008);
        assert!(
            close(a.predicted_ms, 100.0 + 150.0) && a.bound == Bound::Cores,
            "{a:?}"
        );
        let b = at(&w, 3009);
        assert!(
            close(b.predicted_ms, 100.0 + 100.0) && b.bound == Bound::Cores,
            "{b:?}"
        );
        // Work that never waits is held back by the share on both sides: no step.
        let cpu = [Work::cpu_only(300.0, 4.0)];
        let (x, y) = (at(&cpu, 3008), at(&cpu, 3009));
        assert!(x.bound == Bound::CpuShare && y.bound == Bound::CpuShare);
        assert!(close(x.fluid_ms / y.fluid_ms, 3009.0 / 3008.0));
    }

    #[test]
    fn at_10240_mb_the_share_stays_under_the_six_cores() {
        let a = at(&[Work::cpu_only(5789.0, 8.0)], 10_240);
        assert_eq!((a.cores, a.bound), (6, Bound::CpuShare));
        assert!(close(a.fluid_ms, 5789.0 / lm::vcpu_share(10_240)));
        assert!((a.vcpu_share - 5.7886).abs() < 1e-4);
        // Six threads: still the share (5.79 < 6).
        assert_eq!(
            at(&[Work::cpu_only(100.0, 6.0)], 10_240).bound,
            Bound::CpuShare
        );
    }

    #[test]
    fn a_wait_only_run_takes_the_same_at_every_size() {
        let w = [waiting(0.0, 1.0, 500.0)];
        for m in [128, 1769, 10_240] {
            let a = at(&w, m);
            assert_eq!(
                (a.predicted_ms, a.low_ms, a.high_ms, a.bound),
                (500.0, 500.0, 500.0, Bound::Wait),
                "{m} MB"
            );
        }
    }

    #[test]
    fn threads_beyond_the_cores_are_held_to_the_cores() {
        let w = [Work::cpu_only(1000.0, 4.0)];
        // Lambda at 3,538 MB: 2.0 vCPU of share, 3 cores: the share holds 4 threads back.
        let lambda = at(&w, 3538);
        assert_eq!(lambda.bound, Bound::CpuShare);
        assert!(close(lambda.fluid_ms, 500.0));
        // A host of 2 cores (emulate): the same 500 ms, bound by the cores.
        let host = predict(
            &w,
            &Target {
                memory_mb: 3538,
                period_ms: 100.0,
                max_cores: Some(2),
            },
        );
        assert_eq!((host.bound, host.cores), (Bound::Cores, 2));
        assert!(close(host.predicted_ms, 500.0));
        // Past 2 vCPU of share the host's 2 cores hold it: 4 threads at 7,077 MB.
        let big = predict(
            &w,
            &Target {
                memory_mb: 7077,
                period_ms: 100.0,
                max_cores: Some(2),
            },
        );
        assert_eq!(big.bound, Bound::Cores);
        assert!(close(big.predicted_ms, 500.0));
    }

    #[test]
    fn the_period_gives_the_range_around_the_fluid_share() {
        // 884 MB: s = 0.4997; one period's quota at full speed is worth u = P × (1 − s), won or
        // lost at the start, won at the end.
        let a = at(&[Work::cpu_only(1000.0, 1.0)], 884);
        let fluid = 1000.0 / lm::vcpu_share(884);
        let side = 100.0 * (1.0 - lm::vcpu_share(884));
        assert!(close(a.high_ms, fluid + side));
        assert!(close(a.low_ms, fluid - 2.0 * side));
        assert!(close(a.predicted_ms, fluid - side));
        // A shorter period, a narrower range: Lambda's reported 20 ms.
        let b = predict(
            &[Work::cpu_only(1000.0, 1.0)],
            &Target {
                memory_mb: 884,
                period_ms: lm::REPORTED_PERIOD_MS,
                max_cores: None,
            },
        );
        assert!(close(b.high_ms - b.low_ms, 3.0 * side / 5.0));
        // Never faster than with no share at all: 60 ms of CPU fits in one 100 ms period's
        // quota at 1,024 MB (57.9 ms) almost whole.
        let c = at(&[Work::cpu_only(60.0, 1.0)], 1024);
        assert!(close(c.low_ms, 60.0) && c.predicted_ms >= 60.0, "{c:?}");
        // Two threads after one at 1,769 MB: only the second phase is held back, at the end.
        let d = at(
            &[Work::cpu_only(1000.0, 1.0), Work::cpu_only(1000.0, 2.0)],
            1769,
        );
        assert!(
            close(d.high_ms, 2000.0) && close(d.low_ms, 2000.0 - 50.0),
            "{d:?}"
        );
        assert!(close(d.predicted_ms, 2000.0 - 25.0));
        // A held-back stretch after waiting work that used half its share: half the quota is
        // unspent when it starts (a gain of u ÷ 2), and its end gains up to u.
        let s = lm::vcpu_share(512);
        let waited = waiting(50.0, 1.0, 100.0 / s - 50.0);
        let e = at(&[waited, Work::cpu_only(100.0, 2.0)], 512);
        assert_eq!(e.phases[0].bound, Bound::Wait);
        assert!(close(e.phases[0].vcpu, s / 2.0), "{e:?}");
        let u = 100.0 * (1.0 - s / 2.0);
        assert!(close(e.fluid_ms - e.low_ms, 1.5 * u), "{e:?}");
        assert!(close(e.high_ms, e.fluid_ms), "{e:?}");
    }

    #[test]
    fn the_cpu_spread_of_equal_items_widens_the_range() {
        let w = [Work {
            cpu_spread: 0.05,
            ..Work::cpu_only(1000.0, 1.0)
        }];
        let a = at(&w, 3538);
        assert!(close(a.predicted_ms, 1000.0));
        assert!(close(a.low_ms, 950.0) && close(a.high_ms, 1050.0), "{a:?}");
        // Held back: the spread and the period's range together.
        let b = at(&w, 884);
        let (fluid, u) = (
            1000.0 / lm::vcpu_share(884),
            100.0 * (1.0 - lm::vcpu_share(884)),
        );
        assert!(close(b.low_ms, 0.95 * fluid - 2.0 * u), "{b:?}");
        assert!(close(b.high_ms, 1.05 * fluid + u), "{b:?}");
        // From the phase as the probe reports it.
        let run = Measured {
            share_vcpu: Some(1.0),
            cores: 2,
            wall_ms: 100.0,
            cpu_ms: 100.0,
        };
        let p = Phase {
            cpu_spread: Some(0.02),
            ..Phase::cpu("1 thread", 100.0, 100.0, 1.0)
        };
        assert_eq!(works(&[p], &run)[0].cpu_spread, 0.02);
    }

    #[test]
    fn the_wait_is_found_by_inverting_the_model_at_the_size_the_run_had() {
        let run = Measured {
            share_vcpu: Some(lm::vcpu_share(1024)),
            cores: 2,
            wall_ms: 700.0,
            cpu_ms: 40.0,
        };
        // Not held back (600 ms ≫ 30 ms ÷ 0.579): all the rest was waiting.
        let phase = Phase {
            waits: true,
            ..Phase::cpu("concurrency 1", 600.0, 30.0, 1.0)
        };
        let w = works(std::slice::from_ref(&phase), &run);
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!((w[0].wait_low_ms, w[0].wait_high_ms), (570.0, 570.0));
        // The same size predicts the same wall back.
        assert!(close(at(&w[..1], 1024).predicted_ms, 600.0));
        // The rest of the run: 10 ms of CPU over 100 ms of wall, taken as CPU work.
        assert_eq!(w[1].name, "rest of the run");
        assert!(close(w[1].cpu_ms, 10.0) && w[1].wait_high_ms == 0.0);
        // Held back (wall ≈ C ÷ s₀): the wait is only known to lie in a range.
        let held = Phase {
            waits: true,
            ..Phase::cpu("held", 52.0, 30.0, 1.0)
        };
        let w = works(std::slice::from_ref(&held), &run);
        assert_eq!(w[0].wait_low_ms, 0.0);
        assert!(close(w[0].wait_high_ms, 22.0) && close(w[0].wait_ms, 11.0));
        let a = at(&w[..1], 3008);
        assert!(
            a.low_ms < a.predicted_ms && a.predicted_ms < a.high_ms,
            "{a:?}"
        );
        // A wait that moved ±10% between the run's calls: its range, not its point.
        let spread = Phase {
            wait_spread: Some(0.1),
            ..phase.clone()
        };
        let w = works(std::slice::from_ref(&spread), &run);
        assert_eq!(w[0].wait_ms, 570.0);
        assert!(close(w[0].wait_low_ms, 513.0) && close(w[0].wait_high_ms, 627.0));
        // Work that never waits has no wait, however long it took.
        let cpu = Phase::cpu("cpu", 52.0, 30.0, 1.0);
        assert_eq!(works(&[cpu], &run)[0].wait_high_ms, 0.0);
    }

    #[test]
    fn default_sizes_cover_every_64_mb_and_the_edges() {
        let v = default_sizes_mb();
        assert_eq!(v.first(), Some(&128));
        assert_eq!(v.last(), Some(&10_240));
        for m in [
            1769, 3008, 3009, 3538, 5307, 5308, 7076, 7077, 8845, 8846, 1024, 10_176,
        ] {
            assert!(v.contains(&m), "{m}");
        }
        assert!(v.windows(2).all(|w| w[0] < w[1]));
    }
}
