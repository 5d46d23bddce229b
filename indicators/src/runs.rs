//! Gap handling shared by every indicator: a series is cut into runs of bars whose inputs are all
//! finite, so that one NaN (a missing bar) costs a fresh warm-up instead of poisoning every later
//! value of a recursive indicator such as an EMA.

use std::ops::Range;

/// Whether bar `i` has a finite value in every input series (a series too short to reach `i`
/// counts as a gap, so mismatched lengths never panic).
pub(crate) fn finite_at(inputs: &[&[f64]], i: usize) -> bool {
    inputs
        .iter()
        .all(|s| s.get(i).is_some_and(|v| v.is_finite()))
}

/// The maximal runs of consecutive bars in `0..len` where every input is finite.
pub(crate) fn finite_runs(len: usize, inputs: &[&[f64]]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for i in 0..len {
        match (finite_at(inputs, i), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push(s..len);
    }
    runs
}

/// Arithmetic mean of a non-empty slice.
pub(crate) fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// TA-Lib's smoothing factor for an EMA of `period` bars: `2 / (period + 1)`.
pub(crate) fn ema_k(period: usize) -> f64 {
    2.0 / (period as f64 + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_at_non_finite_values_and_short_series() {
        let a = [1.0, f64::NAN, 3.0, 4.0, f64::INFINITY, 6.0];
        let b = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(finite_runs(6, &[&a]), vec![0..1, 2..4, 5..6]);
        assert_eq!(finite_runs(6, &[&a, &b]), vec![0..1, 2..4]);
        assert!(finite_runs(0, &[&a]).is_empty());
    }
}
