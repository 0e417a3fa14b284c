//! Percentiles, ratios and their spread over rounds.

/// The `q`-quantile (nearest rank) of sorted nanoseconds.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
}

/// Median and p99 of unsorted nanoseconds.
pub fn median_p99(samples: &[u64]) -> (u64, u64) {
    let mut s = samples.to_vec();
    s.sort_unstable();
    (quantile(&s, 0.5), quantile(&s, 0.99))
}

/// A ratio SDK / raw over all samples, with the least and greatest of the
/// same ratio taken round by round.
#[derive(Debug, Clone, Copy)]
pub struct Ratio {
    pub value: f64,
    pub round_median: f64,
    pub min: f64,
    pub max: f64,
}

impl Ratio {
    pub fn new(value: f64, per_round: &[f64]) -> Self {
        let min = per_round.iter().copied().fold(f64::INFINITY, f64::min);
        let max = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sorted = per_round.to_vec();
        sorted.sort_by(f64::total_cmp);
        let round_median = match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Self {
            value,
            round_median,
            min,
            max,
        }
    }

    /// The median of the per-round ratios, as the ratio.
    pub fn from_rounds(per_round: &[f64]) -> Self {
        let mut r = Self::new(f64::NAN, per_round);
        r.value = r.round_median;
        r
    }

    /// `per round: median M, min..max A..B`.
    pub fn spread(&self) -> String {
        if self.min.is_finite() {
            format!(
                "per round: median {:.2}, min..max {:.2}..{:.2}",
                self.round_median, self.min, self.max
            )
        } else {
            "one run".to_owned()
        }
    }
}

/// The median of `times`, in seconds (`times` must not be empty).
pub fn median_secs(times: &[std::time::Duration]) -> f64 {
    let mut secs: Vec<f64> = times.iter().map(|t| t.as_secs_f64()).collect();
    secs.sort_by(f64::total_cmp);
    secs[secs.len() / 2]
}

/// Microseconds with two decimals.
pub fn us(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1_000.0)
}

/// Bytes as KiB with one decimal.
pub fn kib(bytes: isize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&s, 0.5), 50);
        assert_eq!(quantile(&s, 0.99), 99);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(median_p99(&[3, 1, 2]), (2, 3));
    }

    #[test]
    fn spread_of_rounds() {
        let r = Ratio::new(1.0, &[0.9, 1.2, 1.0]);
        assert_eq!(r.spread(), "per round: median 1.00, min..max 0.90..1.20");
        assert_eq!(Ratio::new(1.0, &[1.0, 2.0]).round_median, 1.5);
    }
}
