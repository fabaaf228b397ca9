//! Prices per size, and the three recommendations (cheapest, fastest, balanced), each with its
//! reason in words. Pure functions.

use super::model::{At, Bound, Work};
use lambda_probe::lambda_model::{self as lm, Arch};
use serde::Serialize;

/// Power Tuning's default `balancedWeight`.
pub const DEFAULT_BALANCED_WEIGHT: f64 = 0.5;
/// "Fastest" is the smallest size within this fraction of the best time, and "cheapest" the
/// fastest size within this fraction of the lowest cost.
pub const WITHIN: f64 = 0.01;

/// One size, predicted and priced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Priced {
    #[serde(flatten)]
    pub at: At,
    /// The predicted duration billed (rounded up to 1 ms).
    pub billed_ms: f64,
    /// A warm invocation: duration + request.
    pub cost_usd: f64,
    /// A cold one: INIT billed too.
    pub cold_cost_usd: f64,
    pub cost_per_million_usd: f64,
    /// The memory guard's refusal at this size, if the run would not fit.
    pub refused: Option<String>,
}

pub fn price(at: At, arch: Arch, init_ms: f64, refused: Option<String>) -> Priced {
    let warm = lm::invocation_cost(arch, at.memory_mb, at.predicted_ms, 0.0);
    let cold = lm::invocation_cost(arch, at.memory_mb, at.predicted_ms, init_ms);
    Priced {
        billed_ms: warm.billed_ms,
        cost_usd: warm.total_usd,
        cold_cost_usd: cold.total_usd,
        cost_per_million_usd: warm.total_usd * 1e6,
        refused,
        at,
    }
}

/// A recommended size and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pick {
    pub memory_mb: u32,
    pub predicted_ms: f64,
    pub cost_usd: f64,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendations {
    pub cheapest: Pick,
    pub fastest: Pick,
    pub balanced: Pick,
    pub balanced_weight: f64,
}

/// The recommendations among the sizes the run fits in and finishes within Lambda's longest
/// timeout; `None` when there is none.
pub fn recommend(rows: &[Priced], works: &[Work], balanced_weight: f64) -> Option<Recommendations> {
    let ok: Vec<&Priced> = rows
        .iter()
        .filter(|r| r.refused.is_none() && r.at.predicted_ms <= lm::MAX_TIMEOUT_MS as f64)
        .collect();
    let smallest_fit = ok.iter().map(|r| r.at.memory_mb).min()?;
    let smallest_tried = rows.iter().map(|r| r.at.memory_mb).min()?;
    let best_ms = ok
        .iter()
        .map(|r| r.at.predicted_ms)
        .fold(f64::INFINITY, f64::min);
    let fastest = ok
        .iter()
        .filter(|r| r.at.predicted_ms <= best_ms * (1.0 + WITHIN))
        .min_by_key(|r| r.at.memory_mb)?;
    let least_cost = ok.iter().map(|r| r.cost_usd).fold(f64::INFINITY, f64::min);
    let cheapest = ok
        .iter()
        .filter(|r| r.cost_usd <= least_cost * (1.0 + WITHIN))
        .min_by(|a, b| {
            a.at.predicted_ms
                .total_cmp(&b.at.predicted_ms)
                .then(a.at.memory_mb.cmp(&b.at.memory_mb))
        })?;
    let max_cost = ok.iter().map(|r| r.cost_usd).fold(0.0, f64::max);
    let max_ms = ok.iter().map(|r| r.at.predicted_ms).fold(0.0, f64::max);
    let w = balanced_weight;
    let score =
        |r: &Priced| w * ratio(r.cost_usd, max_cost) + (1.0 - w) * ratio(r.at.predicted_ms, max_ms);
    let balanced = ok.iter().min_by(|a, b| score(a).total_cmp(&score(b)))?;

    let busy = busiest_threads(works);
    let fits_note = if smallest_fit > smallest_tried {
        format!(
            " (below {smallest_fit} MB the run does not fit in memory, or would run past 900 s)"
        )
    } else {
        String::new()
    };
    let pick = |r: &Priced, reason: String| Pick {
        memory_mb: r.at.memory_mb,
        predicted_ms: r.at.predicted_ms,
        cost_usd: r.cost_usd,
        reason,
    };
    let flat_up_to = ok
        .iter()
        .filter(|r| r.cost_usd <= least_cost * (1.0 + WITHIN))
        .map(|r| r.at.memory_mb)
        .max()
        .unwrap_or(cheapest.at.memory_mb);
    let cheapest_reason = match cheapest.at.bound {
        Bound::Wait => format!(
            "mostly waiting: its duration barely changes with memory, so the least memory is the \
             least cost{fits_note}"
        ),
        _ if flat_up_to > smallest_fit => format!(
            "CPU-bound: up to {flat_up_to} MB twice the memory runs in half the time, so those \
             sizes cost within 1% of each other (${:.9} per invocation); {} MB is the fastest \
             of them{fits_note}",
            cheapest.cost_usd, cheapest.at.memory_mb
        ),
        _ => format!(
            "the lowest predicted cost, ${:.9} per invocation{fits_note}",
            cheapest.cost_usd
        ),
    };
    // Where the busy threads have all the CPU they can use.
    let knee_mb = (busy * lm::ONE_VCPU_MB as f64).ceil() as u32;
    let fastest_reason = match fastest.at.bound {
        Bound::Threads if fastest.at.memory_mb <= knee_mb => format!(
            "{}: above {} MB it gains nothing and costs more",
            threads_words(busy),
            fastest.at.memory_mb
        ),
        Bound::Threads => format!(
            "{}: from {knee_mb} MB on it gains nothing; {} MB is the smallest of the sizes asked \
             for past that",
            threads_words(busy),
            fastest.at.memory_mb
        ),
        Bound::Wait => format!(
            "mostly waiting: from {} MB on, more memory saves under 1% of its time",
            fastest.at.memory_mb
        ),
        Bound::Cores => format!(
            "its {} are held to the {} cores Lambda shows at {} MB: larger sizes gain under 1%",
            threads_words(busy),
            fastest.at.cores,
            fastest.at.memory_mb
        ),
        Bound::CpuShare => format!(
            "CPU-bound on all the share it gets ({:.2} vCPU for {}): larger sizes gain under 1%",
            fastest.at.vcpu_share,
            threads_words(busy)
        ),
    };
    let balanced_reason = format!(
        "weighs cost and duration {w:.2} : {:.2} (Power Tuning's balancedWeight {w}): {:.1} ms \
         for ${:.9}, against {:.1} ms at the fastest and ${:.9} at the cheapest",
        1.0 - w,
        balanced.at.predicted_ms,
        balanced.cost_usd,
        fastest.at.predicted_ms,
        cheapest.cost_usd
    );
    Some(Recommendations {
        cheapest: pick(cheapest, cheapest_reason),
        fastest: pick(fastest, fastest_reason),
        balanced: pick(balanced, balanced_reason),
        balanced_weight: w,
    })
}

fn ratio(v: f64, max: f64) -> f64 {
    if max > 0.0 {
        v / max
    } else {
        0.0
    }
}

/// The most threads a phase with a tenth or more of the run's CPU keeps busy.
fn busiest_threads(works: &[Work]) -> f64 {
    let total: f64 = works.iter().map(|w| w.cpu_ms).sum();
    works
        .iter()
        .filter(|w| w.cpu_ms >= total / 10.0)
        .map(|w| w.threads)
        .fold(1.0, f64::max)
}

fn threads_words(t: f64) -> String {
    if (t - 1.0).abs() < 1e-9 {
        "one busy thread".into()
    } else if (t - t.round()).abs() < 1e-9 {
        format!("{} busy threads", t.round())
    } else {
        format!("{t:.2} busy threads on average")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predict::model::{default_sizes_mb, predict, Target};

    fn work(cpu_ms: f64, threads: f64, wait_ms: f64) -> Work {
        Work {
            name: "w".into(),
            cpu_ms,
            threads,
            wait_ms,
            wait_low_ms: wait_ms,
            wait_high_ms: wait_ms,
            new_pages: None,
            fault_ms: None,
            cpu_spread: 0.0,
        }
    }

    fn rows(works: &[Work], refused_below: u32) -> Vec<Priced> {
        default_sizes_mb()
            .into_iter()
            .map(|m| {
                let at = predict(
                    works,
                    &Target {
                        memory_mb: m,
                        period_ms: lm::REPORTED_PERIOD_MS,
                        max_cores: None,
                    },
                );
                price(
                    at,
                    Arch::Arm64,
                    0.0,
                    (m < refused_below).then(|| "does not fit".to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn one_busy_thread_is_fastest_and_cheapest_at_the_knee() {
        let w = [work(2000.0, 1.0, 0.0)];
        let r = recommend(&rows(&w, 0), &w, DEFAULT_BALANCED_WEIGHT).unwrap();
        assert_eq!(r.fastest.memory_mb, 1769);
        assert!(
            r.fastest
                .reason
                .starts_with("one busy thread: above 1769 MB it gains nothing and costs more"),
            "{}",
            r.fastest.reason
        );
        // The GB-seconds are flat up to 1,769 MB: the fastest of the equally cheap.
        assert_eq!(r.cheapest.memory_mb, 1769, "{}", r.cheapest.reason);
        assert!(
            r.cheapest.reason.contains("CPU-bound"),
            "{}",
            r.cheapest.reason
        );
        assert_eq!(r.balanced.memory_mb, 1769);
    }

    #[test]
    fn two_threads_are_fastest_from_two_vcpu() {
        let w = [work(2000.0, 2.0, 0.0)];
        let r = recommend(&rows(&w, 0), &w, DEFAULT_BALANCED_WEIGHT).unwrap();
        // The best is 1,000 ms from 3,538 MB (2 vCPU); 3,520 MB is the smallest size within 1%.
        assert_eq!(r.fastest.memory_mb, 3520, "{:?}", r.fastest);
        assert!(
            r.fastest.reason.contains("2 busy threads") && r.fastest.reason.contains("under 1%"),
            "{}",
            r.fastest.reason
        );
    }

    #[test]
    fn waiting_work_is_cheapest_at_the_least_memory_that_fits() {
        let w = [work(30.0, 1.0, 600.0)];
        let r = recommend(&rows(&w, 0), &w, DEFAULT_BALANCED_WEIGHT).unwrap();
        assert_eq!(r.cheapest.memory_mb, 128);
        assert!(
            r.cheapest.reason.starts_with("mostly waiting"),
            "{}",
            r.cheapest.reason
        );
        // Where the run does not fit, nothing is recommended.
        let r = recommend(&rows(&w, 256), &w, DEFAULT_BALANCED_WEIGHT).unwrap();
        assert_eq!(r.cheapest.memory_mb, 256);
        assert!(
            r.cheapest.reason.contains("below 256 MB"),
            "{}",
            r.cheapest.reason
        );
        assert!(recommend(&rows(&w, 20_000), &w, 0.5).is_none());
    }

    #[test]
    fn balanced_weighs_like_power_tuning() {
        let w = [work(2000.0, 1.0, 0.0)];
        let all = rows(&w, 0);
        // All weight on cost: the cheapest; all on time: the fastest time.
        let by_cost = recommend(&all, &w, 1.0).unwrap();
        let least = all.iter().map(|r| r.cost_usd).fold(f64::INFINITY, f64::min);
        assert!(by_cost.balanced.cost_usd <= least * 1.000_001);
        let by_time = recommend(&all, &w, 0.0).unwrap();
        assert!((by_time.balanced.predicted_ms - 2000.0).abs() < 1e-6);
    }

    #[test]
    fn costs_come_from_lambdas_prices_with_init_on_cold_starts() {
        let w = [work(1000.0, 1.0, 0.0)];
        let at = predict(
            &w,
            &Target {
                memory_mb: 1024,
                period_ms: lm::REPORTED_PERIOD_MS,
                max_cores: None,
            },
        );
        let p = price(at.clone(), Arch::X86_64, 250.0, None);
        let warm = lm::invocation_cost(Arch::X86_64, 1024, at.predicted_ms, 0.0);
        let cold = lm::invocation_cost(Arch::X86_64, 1024, at.predicted_ms, 250.0);
        assert_eq!(
            (p.cost_usd, p.cold_cost_usd),
            (warm.total_usd, cold.total_usd)
        );
        assert_eq!(p.billed_ms, at.predicted_ms.ceil());
        assert!((p.cost_per_million_usd - warm.total_usd * 1e6).abs() < 1e-9);
    }
}
