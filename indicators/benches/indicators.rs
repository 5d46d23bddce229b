//! Cost of `compute_all` over ten years of daily bars, the largest chart the API serves, measured
//! against a plain pass summing the closes so the figure can be judged on any machine.

use std::hint::black_box;
use std::time::{Duration, Instant};

use exporter_indicators::{Bars, compute_all};

/// Bars per run: 252 trading days × 10 years.
const BARS: usize = 2520;
/// Timed calls of each kind.
const RUNS: u32 = 1000;

/// A deterministic random walk (xorshift), so every run times the same data.
fn synthetic_bars() -> Bars {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut bars = Bars {
        sessions: None,
        ..Bars::default()
    };
    let mut price: f64 = 100.0;
    for _ in 0..BARS {
        price *= 1.0 + (next() - 0.5) * 0.04;
        let (a, b) = (next() * 0.02, next() * 0.02);
        bars.high.push(price * (1.0 + a));
        bars.low.push(price * (1.0 - b));
        bars.close.push(price);
        bars.volume.push(1.0e6 * (0.5 + next()));
    }
    bars
}

/// Mean time of `RUNS` calls of `f`.
fn mean_time(mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    let start = Instant::now();
    for _ in 0..RUNS {
        f();
    }
    start.elapsed() / RUNS
}

fn main() {
    let bars = synthetic_bars();
    let baseline = mean_time(|| {
        black_box(black_box(&bars.close).iter().sum::<f64>());
    });
    let all = mean_time(|| {
        black_box(compute_all(black_box(&bars)));
    });
    println!("bars per call: {BARS}, calls: {RUNS}");
    println!("baseline (sum of closes): {baseline:?} per call");
    println!("compute_all:              {all:?} per call");
    println!(
        "ratio:                    {:.0}x",
        all.as_secs_f64() / baseline.as_secs_f64().max(f64::MIN_POSITIVE)
    );
}
