//! Reading one thread's pauses: which of them are throttling, the enforcement period they show,
//! and the CPU the thread got per period. Pure functions of the pause list, so they are tested
//! on synthetic patterns.
//!
//! What the data look like under a CFS quota (measured here, kernel 6.18, 4 ms ticks): a
//! throttled thread is stopped when its runtime runs out, which the kernel notices at a tick
//! (so pauses *start* on the 4 ms tick grid, runs come in tick-sized steps), and all throttled
//! threads are released together when the period timer refills the quota (so pauses *end* on
//! the period's grid, within tens of µs). Everything else that stops a thread (another process
//! taking the core, an interrupt, the hypervisor) ends at no particular phase of that grid.
//! So the period is read from the pause ends: the longest pauses give a first grid, and a
//! pause is throttling when it ends on that grid.

use crate::measure::stats::{interquartile_mean, percentile};

/// A line needs at least this many points.
const MIN_POINTS: usize = 3;
/// A grid needs at least this many long pauses on it: with fewer, pauses at random times fit
/// some grid too often (1 run in 7 with 8 random pauses and no such minimum); with it, about 1
/// in 500 with 12–14 and fewer with more (`false_grids_from_random_pauses_are_rare`). So a
/// period takes 10 periods of spinning to show: 200 ms at 20 ms, 1 s at 100 ms.
pub const MIN_ON_GRID: usize = 10;
/// The reference length for "long": the 3rd longest pause, so one or two freak pauses (the
/// hypervisor, a page-in) do not set it.
const REFERENCE_RANK: usize = 3;
/// Long pauses (the seeds of the grid) are at least this fraction of the reference.
const SEED_FRACTION: f64 = 0.25;
/// A throttling pause is at least this fraction of the shortest seed: aligned ends are the
/// evidence, this only keeps very short pauses that end on the grid by chance out.
const THROTTLING_FRACTION: f64 = 0.125;
/// Two long pauses on a grid may be at most this many periods apart (a few skipped periods
/// fit; a tick-sized grid under random preemption does not).
const MAX_MULTIPLE: f64 = 8.0;
/// This share of the long pauses must end on a grid for it to be the grid.
const FIT_SHARE: f64 = 0.75;
/// No enforcement grid is finer than this: it also keeps out the scheduler tick's grid (4 ms
/// here, 1 ms at 1000 Hz), on which pauses end when other processes take the core in turns.
const MIN_GRID_US: f64 = 5_000.0;
/// The grid is sought in the first this many long pauses (a minute of 20 ms periods is 3,000).
const MAX_SEEDS: usize = 2_000;
/// A grid is numbered from this many long pauses spread over the run, the best kept.
const STARTS: usize = 8;
/// Grids are sought from the most frequent spacings between long pauses, this many.
const CANDIDATE_SPACINGS: usize = 8;

/// How early a throttling pause may end before its grid point: 200 µs + 1% of the period
/// (the grid is fitted; the kernel's timer is exact).
pub fn early_us(grid_us: f64) -> f64 {
    200.0 + 0.01 * grid_us
}

/// How late it may end after it: 500 µs + 10% of the period. A released thread waits when
/// another process holds its core (up to that process's slice, a few ms).
pub fn late_us(grid_us: f64) -> f64 {
    500.0 + 0.10 * grid_us
}

/// How far from a whole number of periods the spacing between two throttling pauses may be.
fn spacing_tolerance_us(grid_us: f64) -> f64 {
    early_us(grid_us) + late_us(grid_us)
}

/// One pause: µs from the run's start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pause {
    pub start_us: f64,
    pub length_us: f64,
    /// The thread's CPU time since its spin began, read right after the pause.
    pub cpu_us: f64,
}

impl Pause {
    pub fn end_us(&self) -> f64 {
        self.start_us + self.length_us
    }
}

/// What one thread saw: its spin's start and end (µs from the run's start), the CPU it used
/// over the spin, and its pauses in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Spin {
    pub started_us: f64,
    pub ended_us: f64,
    pub cpu_us: f64,
    pub pauses: Vec<Pause>,
}

/// The periods a throttled thread went through, from the end of its first throttling pause to
/// the end of its last (whole periods only).
#[derive(Clone, Debug, PartialEq)]
pub struct Periods {
    /// The grid the throttling pauses end on: the enforcement period.
    pub grid_us: f64,
    /// The typical spacing between the ends of consecutive throttling pauses (the mean of the
    /// middle half): the grid when the thread is paused once per period, more when periods
    /// are skipped. The middle half: a missed or a stray pause does not move it, and a pattern
    /// that alternates (20 ms, 60 ms, …) gets its mean.
    pub period_us: f64,
    /// The CPU the thread got between consecutive throttling pauses, one per cycle, divided by
    /// the periods of the cycle it ran in (so a pause missed on a busy host does not make a
    /// double run; a run past the quota followed by skipped periods stays whole).
    pub runs_us: Vec<f64>,
    /// CPU time ÷ wall time over the cycles.
    pub share: f64,
    /// The wall time the share was taken over.
    pub window_us: f64,
    /// The CPU the thread got before its first throttling pause.
    pub first_run_us: f64,
    /// Grid points inside the window at which the thread stayed paused: it had used more than
    /// a period's quota and waited out whole periods.
    pub skipped: u64,
}

/// One thread's reading.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Per pause (in the order given): whether it is a throttling pause.
    pub throttling: Vec<bool>,
    /// The periods, or why there are none.
    pub periods: Result<Periods, String>,
}

/// Candidate grids: the most frequent spacings between consecutive long pauses (in 1% bins),
/// each divided by 1..=8, at least [`MIN_GRID_US`], coarsest first.
fn candidates(ends: &[f64]) -> Vec<f64> {
    let mut spacings: Vec<f64> = ends
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|s| *s >= MIN_GRID_US)
        .collect();
    spacings.sort_by(|a, b| a.total_cmp(b));
    // (centre, count) of runs of spacings within 1% of the run's first.
    let mut bins: Vec<(f64, usize)> = Vec::new();
    let mut i = 0;
    while i < spacings.len() {
        let j = spacings[i..].partition_point(|s| *s <= spacings[i] * 1.01) + i;
        bins.push((spacings[(i + j) / 2], j - i));
        i = j;
    }
    bins.sort_by_key(|b| std::cmp::Reverse(b.1));
    let mut out: Vec<f64> = bins
        .iter()
        .take(CANDIDATE_SPACINGS)
        .flat_map(|&(s, _)| (1..=MAX_MULTIPLE as u32).map(move |k| s / k as f64))
        .filter(|g| *g >= MIN_GRID_US)
        .collect();
    out.sort_by(|a, b| b.total_cmp(a));
    out
}

/// The enforcement grid in the ends of the long pauses (sorted): the coarsest grid on which
/// [`FIT_SHARE`] of them lie, each a whole number of periods (1..=8) after the previous one
/// on it, give or take the early and late allowances. Returns (spacing, position of grid
/// point 0): a line fitted through the ends on it, moved to its earliest ends (late ones
/// waited for a core; none is early); `None` when no grid holds that many.
pub fn find_grid(ends: &[f64]) -> Option<(f64, f64)> {
    if ends.len() < MIN_ON_GRID {
        return None;
    }
    let need = ((ends.len() as f64) * FIT_SHARE).ceil() as usize;
    candidates(ends).into_iter().find_map(|estimate| {
        // Numbered from a few ends spread over the run in turn (any one may be off the grid).
        let points = (0..STARTS)
            .map(|i| i * ends.len() / STARTS)
            .map(|start| number(ends, start, estimate))
            .max_by_key(|p| p.len())?;
        if points.len() < need.max(MIN_ON_GRID) {
            return None;
        }
        // A line through them all, then again through those it leaves within tolerance.
        let (mut grid, mut phase) = line(&points)?;
        for _ in 0..2 {
            let kept: Vec<(f64, f64)> = points
                .iter()
                .copied()
                .filter(|&(n, e)| (e - phase - grid * n).abs() <= spacing_tolerance_us(grid))
                .collect();
            (grid, phase) = line(&kept)?;
        }
        let residuals: Vec<f64> = points
            .iter()
            .map(|&(n, e)| e - phase - grid * n)
            .filter(|r| r.abs() <= spacing_tolerance_us(grid))
            .collect();
        let edge = percentile(&residuals, 10.0).unwrap_or(0.0);
        Some((grid, phase + edge))
    })
}

/// The least-squares line `end = phase + grid × index` through (index, end) points: (grid,
/// phase); `None` for fewer than [`MIN_POINTS`] points or a single index.
fn line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    if points.len() < MIN_POINTS {
        return None;
    }
    let count = points.len() as f64;
    let mean_n = points.iter().map(|p| p.0).sum::<f64>() / count;
    let mean_e = points.iter().map(|p| p.1).sum::<f64>() / count;
    let var_n: f64 = points.iter().map(|p| (p.0 - mean_n).powi(2)).sum();
    if var_n <= 0.0 {
        return None;
    }
    let cov: f64 = points.iter().map(|p| (p.0 - mean_n) * (p.1 - mean_e)).sum();
    let grid = cov / var_n;
    Some((grid, mean_e - grid * mean_n))
}

/// (index, end) of the ends that are on a grid of spacing `estimate` through `ends[start]`,
/// in order, counting whole periods (1..=8) from the nearest end already on it, forwards and
/// backwards from `start`, so a slightly-off estimate never loses count over a long run.
fn number(ends: &[f64], start: usize, estimate: f64) -> Vec<(f64, f64)> {
    let tol = spacing_tolerance_us(estimate);
    let step = |from: (f64, f64), e: f64, sign: f64| -> Option<(f64, f64)> {
        let k = ((e - from.1) * sign / estimate).round();
        ((1.0..=MAX_MULTIPLE).contains(&k) && ((e - from.1) * sign - k * estimate).abs() <= tol)
            .then_some((from.0 + sign * k, e))
    };
    let origin = (0.0, ends[start]);
    let mut before = Vec::new();
    let mut anchor = origin;
    for &e in ends[..start].iter().rev() {
        if let Some(p) = step(anchor, e, -1.0) {
            before.push(p);
            anchor = p;
        }
    }
    before.reverse();
    before.push(origin);
    let mut anchor = origin;
    for &e in &ends[start + 1..] {
        if let Some(p) = step(anchor, e, 1.0) {
            before.push(p);
            anchor = p;
        }
    }
    before
}

/// `x` folded into [-grid/2, grid/2): its distance from the nearest grid point, signed.
fn wrap(x: f64, grid: f64) -> f64 {
    x - grid * (x / grid).round()
}

/// How often the process was paused, over several threads: the typical spacing (as
/// [`Periods::period_us`]) between the grid points at which any thread's throttling pause
/// ended. Threads share one quota, so in a period one thread may be throttled and the other
/// not; the process is still paused once a period. `ends_us`: each thread's throttling pause
/// ends; `grid_us`: the enforcement grid. `None` with fewer than two such points.
pub fn period_over_threads(ends_us: &[Vec<f64>], grid_us: f64) -> Option<f64> {
    let mut all: Vec<f64> = ends_us.iter().flatten().copied().collect();
    all.sort_by(|a, b| a.total_cmp(b));
    // Ends within the allowance of each other are one grid point.
    let mut points: Vec<f64> = Vec::new();
    for e in all {
        match points.last() {
            Some(&p) if e - p <= spacing_tolerance_us(grid_us) => {}
            _ => points.push(e),
        }
    }
    let spacings: Vec<f64> = points.windows(2).map(|w| w[1] - w[0]).collect();
    interquartile_mean(&spacings)
}

/// Reads one thread's pauses.
pub fn read(t: &Spin) -> Reading {
    let n = t.pauses.len();
    let none = |why: String| Reading {
        throttling: vec![false; n],
        periods: Err(why),
    };
    if n < MIN_ON_GRID {
        return none(format!(
            "not throttled: {n} pause(s) in the whole run, too few to recur (it takes {MIN_ON_GRID} long pauses on a regular grid)"
        ));
    }
    let mut lengths: Vec<f64> = t.pauses.iter().map(|p| p.length_us).collect();
    lengths.sort_by(|a, b| b.total_cmp(a));
    let reference = lengths[REFERENCE_RANK - 1];
    let seed_floor = reference * SEED_FRACTION;
    let seeds: Vec<&Pause> = t
        .pauses
        .iter()
        .filter(|p| p.length_us >= seed_floor)
        .collect();
    // The grid is sought in the first seeds only: enough for any period, and the work stays
    // bounded (it runs after the spin, inside the deadline's safety margin).
    let seed_ends: Vec<f64> = seeds.iter().take(MAX_SEEDS).map(|p| p.end_us()).collect();
    let Some((grid, phase)) = find_grid(&seed_ends) else {
        return none(format!(
            "not throttled: the {} longest pauses (≥ {:.3} ms, the longest {:.3} ms) do not end on a regular grid, as throttling pauses do; something else paused the thread (see samples)",
            seeds.len(),
            seed_floor / 1000.0,
            lengths[0] / 1000.0
        ));
    };
    let shortest_seed = seeds
        .iter()
        .map(|p| p.length_us)
        .fold(f64::INFINITY, f64::min);
    let floor = shortest_seed * THROTTLING_FRACTION;

    // Throttling: long enough and ending on the grid; one per grid point (the longest).
    let mut throttling = vec![false; n];
    let mut at_point: Vec<(i64, usize)> = Vec::new();
    for (i, p) in t.pauses.iter().enumerate() {
        let from_phase = p.end_us() - phase;
        let off = wrap(from_phase, grid);
        if p.length_us < floor || off < -early_us(grid) || off > late_us(grid) {
            continue;
        }
        // Pauses come in order, so their grid points do too: only the last can be shared.
        let point = (from_phase / grid).round() as i64;
        match at_point.last_mut() {
            Some((k, j)) if *k == point => {
                if t.pauses[*j].length_us < p.length_us {
                    *j = i;
                }
            }
            _ => at_point.push((point, i)),
        }
    }
    for &(_, i) in &at_point {
        throttling[i] = true;
    }
    let chosen: Vec<&Pause> = t
        .pauses
        .iter()
        .zip(&throttling)
        .filter(|(_, &th)| th)
        .map(|(p, _)| p)
        .collect();
    if chosen.len() < 2 {
        return Reading {
            throttling,
            periods: Err(format!(
                "a {:.3} ms grid in the longest pauses, but fewer than 2 pauses end on it",
                grid / 1000.0
            )),
        };
    }
    let (first, last) = (chosen[0], chosen[chosen.len() - 1]);
    let mut runs_us = Vec::with_capacity(chosen.len() - 1);
    let mut spacings_us = Vec::with_capacity(chosen.len() - 1);
    let mut skipped = 0u64;
    for w in chosen.windows(2) {
        let spacing = w[1].end_us() - w[0].end_us();
        spacings_us.push(spacing);
        // Grid points between the two at which the thread was already in the second pause
        // (skipped), and those it ran through (its pause there ended too late to count, or it
        // had quota left): the run is per period it ran in.
        let k = (spacing / grid).round().max(1.0) as u64;
        let waited = (1..k)
            .filter(|&j| w[1].start_us < w[0].end_us() + j as f64 * grid)
            .count() as u64;
        skipped += waited;
        runs_us.push((w[1].cpu_us - w[0].cpu_us).max(0.0) / (k - waited) as f64);
    }
    let window_us = last.end_us() - first.end_us();
    Reading {
        throttling,
        periods: Ok(Periods {
            grid_us: grid,
            period_us: interquartile_mean(&spacings_us).unwrap_or(window_us),
            runs_us,
            share: (last.cpu_us - first.cpu_us).max(0.0) / window_us,
            window_us,
            first_run_us: first.cpu_us,
            skipped,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::stats::median;

    /// A small deterministic generator (xorshift64*), so the synthetic patterns are repeatable.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        }

        fn between(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.next()
        }
    }

    /// Builds a timeline from (start, length) pauses over `[0, end)`, the CPU clock advancing
    /// with every µs not paused (as the kernel would count it).
    fn timeline(mut pauses: Vec<(f64, f64)>, end_us: f64) -> Spin {
        pauses.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut paused = 0.0;
        let pauses = pauses
            .into_iter()
            .map(|(start_us, length_us)| {
                paused += length_us;
                Pause {
                    start_us,
                    length_us,
                    cpu_us: start_us + length_us - paused,
                }
            })
            .collect::<Vec<_>>();
        let total: f64 = pauses.iter().map(|p| p.length_us).sum();
        Spin {
            started_us: 0.0,
            ended_us: end_us,
            cpu_us: end_us - total,
            pauses,
        }
    }

    /// Throttling as the kernel does it with a 4 ms tick: the thread runs from each grid point
    /// until the first tick after its `quota_us` is used, then waits for a grid point at which
    /// its debt is paid.
    fn throttled(grid_us: f64, quota_us: f64, end_us: f64, jitter: &mut Rng) -> Vec<(f64, f64)> {
        let tick = 4_000.0;
        let mut out = Vec::new();
        let mut t = 0.0;
        let mut balance = quota_us;
        while t < end_us {
            // Runs to the first tick at which the balance is spent.
            // Ticks at 1.3 ms past each 4 ms, off the period grid, as measured here.
            let spent_at = t + balance.max(0.0);
            let stop = ((spent_at - 1_300.0) / tick).ceil() * tick + 1_300.0;
            balance -= stop - t;
            // Waits for refills until the balance is positive again.
            let mut next = (stop / grid_us).floor() * grid_us + grid_us;
            balance += quota_us;
            while balance <= 0.0 {
                next += grid_us;
                balance += quota_us;
            }
            balance = balance.min(quota_us);
            let wake = next + jitter.between(20.0, 80.0);
            if wake >= end_us {
                break;
            }
            out.push((stop, wake - stop));
            t = wake;
        }
        out
    }

    fn noise(count: usize, lo: f64, hi: f64, end_us: f64, rng: &mut Rng) -> Vec<(f64, f64)> {
        (0..count)
            .map(|_| (rng.between(0.0, end_us), rng.between(lo, hi)))
            .collect()
    }

    /// `base` with the pauses of `extra` that overlap none of it, nor each other (noise that
    /// would fall inside a pause cannot have happened).
    fn mixed(base: Vec<(f64, f64)>, extra: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
        let overlaps =
            |a: &(f64, f64), b: &(f64, f64)| a.0 < b.0 + b.1 + 10.0 && b.0 < a.0 + a.1 + 10.0;
        let mut out = base;
        for x in extra {
            if !out.iter().any(|y| overlaps(&x, y)) {
                out.push(x);
            }
        }
        out
    }

    fn periods(r: &Reading) -> &Periods {
        r.periods.as_ref().unwrap_or_else(|e| panic!("{e}"))
    }

    fn close(have: f64, want: f64, rel: f64) -> bool {
        (have - want).abs() <= want * rel
    }

    #[test]
    fn a_regular_pattern_with_noise_mixed_in() {
        let mut rng = Rng(7);
        let end = 2_000_000.0;
        // 20 ms at 0.579 vCPU, plus 60 short pauses (interrupts, the hypervisor).
        let p = throttled(20_000.0, 11_580.0, end, &mut rng);
        let throttles = p.len();
        let n = noise(60, 50.0, 800.0, end, &mut rng);
        let t = timeline(mixed(p, n), end);
        let r = read(&t);
        let x = periods(&r);
        assert!(close(x.grid_us, 20_000.0, 0.01), "{x:?}");
        assert!(close(x.period_us, 20_000.0, 0.02), "{x:?}");
        assert!(close(x.share, 0.579, 0.05), "{x:?}");
        let run = median(&x.runs_us).unwrap();
        assert!(close(run, 11_580.0, 0.25), "{run}");
        assert_eq!(x.skipped, 0);
        // Every throttling pause found, no noise taken for one (at most the odd coincidence).
        let found = r.throttling.iter().filter(|&&b| b).count();
        assert!(
            found + 2 >= throttles && found <= throttles + 2,
            "{found} of {throttles}"
        );
        for (p, &th) in t.pauses.iter().zip(&r.throttling) {
            if p.length_us < 1_000.0 {
                assert!(!th, "a noise pause taken for throttling: {p:?}");
            }
        }
    }

    #[test]
    fn noise_as_long_as_the_short_throttling_pauses_is_told_apart_by_where_it_ends() {
        // Two threads at 1.5 vCPU, 20 ms: runs of 10–18 ms (tick steps), so throttling pauses
        // of 1.7–9.7 ms; another process's slices pause the thread for 0.5–2 ms at any phase.
        let mut rng = Rng(11);
        let end = 2_000_000.0;
        let p = throttled(20_000.0, 15_000.0, end, &mut rng);
        let n = noise(40, 500.0, 2_000.0, end, &mut rng);
        let t = timeline(mixed(p, n), end);
        let r = read(&t);
        let x = periods(&r);
        assert!(close(x.grid_us, 20_000.0, 0.01), "{x:?}");
        assert!(close(x.period_us, 20_000.0, 0.05), "{x:?}");
        // The CPU between throttling pauses is the thread's, noise excluded: the share stands.
        assert!(close(x.share, 0.75, 0.08), "{x:?}");
    }

    #[test]
    fn a_skipped_period_pattern_shows_its_spacing_and_the_grid() {
        // 20 ms at 0.072 vCPU (1.45 ms a period, below two 4 ms ticks): runs overshoot to the
        // next tick and the debt costs whole periods.
        let mut rng = Rng(3);
        let end = 2_000_000.0;
        let p = throttled(20_000.0, 1_447.0, end, &mut rng);
        let t = timeline(p, end);
        let r = read(&t);
        let x = periods(&r);
        assert!(close(x.grid_us, 20_000.0, 0.01), "{x:?}");
        // Pauses come every period but now and then skip some, and say so.
        assert!(x.period_us >= x.grid_us * 0.99, "{x:?}");
        assert!(x.skipped > 0, "{x:?}");
        // Runs longer than a period's quota, and yet the share is the quota's.
        let longest = x.runs_us.iter().copied().fold(0.0, f64::max);
        assert!(longest > 1_447.0 * 1.5, "{longest}");
        assert!(close(x.share, 0.072, 0.1), "{x:?}");
    }

    #[test]
    fn pauses_alternating_between_one_and_three_periods_show_their_mean_spacing() {
        // As measured here at 20 ms, 0.072 vCPU on a quiet machine: runs of 4.75 ms (past the
        // tick after the 1.45 ms quota) then a pause to the 3rd grid point, runs of 0.74 ms
        // then a pause to the next.
        let mut p = Vec::new();
        let mut t = 2_000.0;
        for i in 0..40 {
            let (run, periods): (f64, f64) = if i % 2 == 0 {
                (4_750.0, 3.0)
            } else {
                (740.0, 1.0)
            };
            let stop = t + run;
            let end = ((stop / 20_000.0).floor() + periods) * 20_000.0 + 80.0;
            p.push((stop, end - stop));
            t = end;
        }
        let end = t + 1_000.0;
        let r = read(&timeline(p, end));
        let x = periods(&r);
        assert!(close(x.grid_us, 20_000.0, 0.001), "{x:?}");
        assert!(close(x.period_us, 40_000.0, 0.05), "{x:?}");
        // Pauses 2, 4, … 38 each waited out two grid points more.
        assert_eq!(x.skipped, 38, "{x:?}");
        assert!(close(x.share, (4_750.0 + 740.0) / 80_000.0, 0.02), "{x:?}");
    }

    #[test]
    fn a_pause_every_other_period_has_that_spacing_as_its_grid() {
        // Pauses every 40 ms, nothing in between: nothing shows a 20 ms grid, and none is made up.
        let p: Vec<(f64, f64)> = (1..50)
            .map(|i| (i as f64 * 40_000.0 - 37_000.0, 37_000.0))
            .collect();
        let r = read(&timeline(p, 2_000_000.0));
        let x = periods(&r);
        assert!(close(x.grid_us, 40_000.0, 0.001), "{x:?}");
        assert!(close(x.period_us, 40_000.0, 0.001), "{x:?}");
        assert_eq!(x.skipped, 0);
        assert!(close(median(&x.runs_us).unwrap(), 3_000.0, 0.001));
        assert!(close(x.first_run_us, 3_000.0, 0.001), "{x:?}");
    }

    #[test]
    fn a_regular_100_ms_pattern_and_one_freak_pause() {
        let mut rng = Rng(5);
        let end = 2_000_000.0;
        let p = throttled(100_000.0, 50_000.0, end, &mut rng);
        // The hypervisor stops the VM for 300 ms once (it replaces what would have been there).
        let mut p: Vec<(f64, f64)> = p
            .into_iter()
            .filter(|x| x.0 + x.1 < 1_000_000.0 || x.0 > 1_320_000.0)
            .collect();
        p.push((1_010_000.0, 300_000.0));
        let n = noise(30, 50.0, 1_500.0, end, &mut rng);
        let r = read(&timeline(mixed(p, n), end));
        let x = periods(&r);
        assert!(close(x.grid_us, 100_000.0, 0.01), "{x:?}");
        assert!(close(median(&x.runs_us).unwrap(), 50_000.0, 0.1), "{x:?}");
    }

    #[test]
    fn never_throttled_says_so() {
        let end = 2_000_000.0;
        // Nothing at all.
        let r = read(&timeline(vec![], end));
        let e = r.periods.unwrap_err();
        assert!(e.contains("not throttled"), "{e}");
        // Interrupts and another process's slices at random times.
        let mut rng = Rng(13);
        let p = noise(80, 50.0, 4_000.0, end, &mut rng);
        let r = read(&timeline(mixed(vec![], p), end));
        assert!(r.throttling.iter().all(|&b| !b));
        let e = r.periods.unwrap_err();
        assert!(e.contains("do not end on a regular grid"), "{e}");
    }

    #[test]
    fn preemption_at_ticks_is_not_a_period() {
        // Another process preempts the thread now and then; it gets the core back at a tick,
        // so the pause ends are on the 4 ms tick grid, but tens of ticks apart at random.
        let mut rng = Rng(17);
        let mut p = Vec::new();
        let mut t = 0.0;
        while t < 2_000_000.0 {
            t += 4_000.0 * (5.0 + (rng.next() * 40.0).floor());
            let len = 4_000.0 * (1.0 + (rng.next() * 2.0).floor());
            p.push((t - len, len));
        }
        let r = read(&timeline(mixed(vec![], p), 2_000_000.0));
        assert!(r.periods.is_err(), "{:?}", r.periods);
    }

    #[test]
    fn two_threads_sharing_a_quota_pause_the_process_every_period() {
        // Thread 0 throttled in periods 1, 2, 4, 5, 7…, thread 1 in 2, 3, 5, 6…: neither every
        // period, the process every one (ends a few µs apart when both were).
        let t0: Vec<f64> = (1..60)
            .filter(|i| i % 3 != 0)
            .map(|i| i as f64 * 20_000.0 + 40.0)
            .collect();
        let t1: Vec<f64> = (1..60)
            .filter(|i| i % 3 != 1)
            .map(|i| i as f64 * 20_000.0 + 75.0)
            .collect();
        let p = period_over_threads(&[t0.clone(), t1], 20_000.0).unwrap();
        assert!(close(p, 20_000.0, 0.001), "{p}");
        // One thread alone: its own spacing (every other period, then every period: 20 and 40).
        let alone = period_over_threads(&[t0], 20_000.0).unwrap();
        assert!(alone > 25_000.0, "{alone}");
        assert_eq!(period_over_threads(&[vec![5.0]], 20_000.0), None);
    }

    #[test]
    fn the_grid_is_the_coarsest_that_fits() {
        // The ends after each spacing, the pattern repeated 4 times.
        let ends = |spacings: &[f64]| -> Vec<f64> {
            let mut t = 1_234.0;
            let mut out = vec![t];
            for s in spacings.iter().cycle().take(spacings.len() * 4) {
                t += s;
                out.push(t);
            }
            out
        };
        let grid = |spacings: &[f64]| find_grid(&ends(spacings)).map(|g| g.0);
        assert_eq!(find_grid(&[]), None);
        let g = grid(&[20_000.0, 60_000.0, 20_000.0, 60_000.0, 40_000.0]).unwrap();
        assert!(close(g, 20_000.0, 0.001), "{g}");
        let (g, phase) = find_grid(&ends(&[100_050.0, 99_950.0, 100_000.0, 200_000.0])).unwrap();
        assert!(close(g, 100_000.0, 0.001), "{g}");
        assert!(wrap(phase - 1_234.0, g).abs() < 100.0, "{phase}");
        // A long pause off the grid (another process) leaves the grid.
        let g = grid(&[20_000.0, 20_000.0, 7_300.0, 12_700.0, 20_000.0, 20_000.0]).unwrap();
        assert!(close(g, 20_000.0, 0.001), "{g}");
        // Late ends (a released thread waiting for its core) stay on it; the grid's phase is
        // the on-time ends'.
        let mut late = ends(&[20_000.0]);
        late.extend((0..12).map(|i| 101_234.0 + i as f64 * 20_000.0));
        for (i, e) in late.iter_mut().enumerate() {
            *e += [0.0, 1_500.0, 0.0, 700.0][i % 4];
        }
        late.sort_by(|a, b| a.total_cmp(b));
        let (g, phase) = find_grid(&late).unwrap();
        assert!(close(g, 20_000.0, 0.005), "{g}");
        assert!(wrap(phase - 1_234.0, g).abs() < 300.0, "{phase}");
        // Ends with no common grid coarser than 5 ms, and a 4 ms one (the tick's) is no grid.
        assert_eq!(grid(&[17_300.0, 41_900.0, 23_650.0, 88_100.0]), None);
        assert_eq!(
            grid(&[4_000.0, 12_000.0, 8_000.0, 4_000.0, 28_000.0, 4_000.0]),
            None
        );
    }

    /// A grid can be found in any pause pattern by chance; it takes 10 pauses on it to make
    /// that rare: uniform random ends, and ends on a 4 ms tick grid at random ticks.
    #[test]
    fn false_grids_from_random_pauses_are_rare() {
        let mut rng = Rng(99);
        let mut found = 0;
        let mut tries = 0;
        for m in [10, 12, 15, 20, 40] {
            for _ in 0..200 {
                let mut ends: Vec<f64> = (0..m).map(|_| rng.between(0.0, 2e6)).collect();
                ends.sort_by(|a, b| a.total_cmp(b));
                found += find_grid(&ends).is_some() as u32;
                tries += 1;
            }
        }
        assert!(
            found * 100 <= tries,
            "{found} grids in {tries} random patterns"
        );
        for m in [20, 100, 300] {
            for _ in 0..50 {
                let mut ends: Vec<f64> = (0..m)
                    .map(|_| (rng.next() * 500.0).floor() * 4_000.0 + 900.0)
                    .collect();
                ends.sort_by(|a, b| a.total_cmp(b));
                ends.dedup();
                assert_eq!(find_grid(&ends), None, "{ends:?}");
            }
        }
    }
}
