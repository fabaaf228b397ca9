//! Order statistics, written once: every median and percentile in a response comes from here.

/// Nearest-rank percentile (`p` in 0..=100) of `values`; `None` for an empty slice.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Median (the mean of the two middle values for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

/// The mean of the middle half (the interquartile mean): as robust as the median to a few
/// outliers, but for values that alternate between two levels it gives their mean where the
/// median would pick one of them. `None` for an empty slice.
pub fn interquartile_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let n = sorted.len();
    // Weights over the middle half: whole values inside it, fractions at its two edges.
    let (lo, hi) = (n as f64 / 4.0, 3.0 * n as f64 / 4.0);
    let (mut sum, mut weight) = (0.0, 0.0);
    for (i, v) in sorted.iter().enumerate() {
        let w = (hi.min(i as f64 + 1.0) - lo.max(i as f64)).max(0.0);
        sum += w * v;
        weight += w;
    }
    Some(sum / weight)
}

pub fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

/// Rounds for display in JSON: keeps responses small without losing meaningful digits.
pub fn round(x: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 90.0), Some(90.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(max(&[1.0, 7.0, 3.0]), Some(7.0));
    }

    #[test]
    fn interquartile_mean_drops_the_outer_quarters() {
        assert_eq!(interquartile_mean(&[]), None);
        assert_eq!(interquartile_mean(&[5.0]), Some(5.0));
        // 1..=8: the middle half is 3, 4, 5, 6.
        let v: Vec<f64> = (1..=8).map(f64::from).collect();
        assert_eq!(interquartile_mean(&v), Some(4.5));
        // An outlier does not move it.
        assert_eq!(
            interquartile_mean(&[20.0, 20.0, 20.0, 20.0, 20.0, 400.0]),
            Some(20.0)
        );
        // Two alternating levels: their mean.
        let alt: Vec<f64> = (0..10)
            .map(|i| if i % 2 == 0 { 20.0 } else { 60.0 })
            .collect();
        assert_eq!(interquartile_mean(&alt), Some(40.0));
        // Fractional edges: 1, 2, 3 → the middle 1.5 values are half of 1, all of 2, ...
        let m = interquartile_mean(&[1.0, 2.0, 3.0]).unwrap();
        assert!((m - 2.0).abs() < 1e-12, "{m}");
    }

    #[test]
    fn rounding() {
        assert_eq!(round(1.23456, 2), 1.23);
        assert_eq!(round(2.5e-3, 3), 0.003);
    }
}
