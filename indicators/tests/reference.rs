//! Checks every indicator that TA-Lib reference files cover (SMA, EMA, RSI, MACD, Bollinger)
//! against the values TA-Lib 0.6 computed on real prices, warm-up `None`s included.

use std::path::PathBuf;

use exporter_indicators::{Bars, Series, bollinger, compute_all, ema, macd, rsi, sma};

/// A CSV file read by hand: header names and the cells of each row.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn load(name: &str) -> Self {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/indicators");
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "TA-Lib reference fixture {} is missing ({e}); it lives in shared/fixtures/indicators/ beside the workspace",
                path.display()
            )
        });
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> = lines
            .next()
            .expect("fixture has a header")
            .split(',')
            .map(|c| c.trim().to_owned())
            .collect();
        let rows: Vec<Vec<String>> = lines
            .map(|l| {
                l.split(',')
                    .map(|c| c.trim().to_owned())
                    .collect::<Vec<_>>()
            })
            .inspect(|r| assert_eq!(r.len(), header.len(), "{name}: ragged row {r:?}"))
            .collect();
        assert!(!rows.is_empty(), "{name} has no rows");
        Self { header, rows }
    }

    fn index(&self, column: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == column)
            .unwrap_or_else(|| panic!("no column {column} in {:?}", self.header))
    }

    /// A column where every cell is a number (an input).
    fn values(&self, column: &str) -> Vec<f64> {
        let i = self.index(column);
        self.rows
            .iter()
            .map(|r| {
                r[i].parse()
                    .unwrap_or_else(|e| panic!("{column}: {:?}: {e}", r[i]))
            })
            .collect()
    }

    /// A reference column: an empty cell is TA-Lib's warm-up (`None`).
    fn expected(&self, column: &str) -> Series {
        let i = self.index(column);
        self.rows
            .iter()
            .map(|r| (!r[i].is_empty()).then(|| r[i].parse().expect("a number")))
            .collect()
    }
}

/// Asserts `got` matches TA-Lib's column to 1e-6 relative, and is `None` exactly where the
/// reference cell is empty.
fn assert_column(file: &str, table: &Table, column: &str, got: &[Option<f64>]) {
    let want = table.expected(column);
    assert_eq!(got.len(), want.len(), "{file} {column}: length");
    let mut compared = 0;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        match (g, w) {
            (None, None) => {}
            (Some(g), Some(w)) => {
                let tolerance = 1e-6 * w.abs().max(1e-6);
                assert!(
                    (g - w).abs() <= tolerance,
                    "{file} {column}[{i}]: got {g}, TA-Lib {w}"
                );
                compared += 1;
            }
            _ => panic!("{file} {column}[{i}]: got {g:?}, TA-Lib {w:?} (warm-up mismatch)"),
        }
    }
    assert!(compared > 0, "{file} {column}: no values compared");
}

/// Index of the first value TA-Lib gives in a column.
fn first_value(table: &Table, column: &str) -> usize {
    table
        .expected(column)
        .iter()
        .position(Option::is_some)
        .expect("column has values")
}

/// Checks every reference column of one file computed from its closes.
fn check_file(file: &str) {
    let table = Table::load(file);
    let close = table.values("close");
    assert_column(file, &table, "sma_20", &sma(&close, 20));
    assert_column(file, &table, "ema_12", &ema(&close, 12));
    assert_column(file, &table, "ema_26", &ema(&close, 26));
    assert_column(file, &table, "rsi_14", &rsi(&close, 14));
    let (line, signal, hist) = macd(&close, 12, 26, 9);
    assert_column(file, &table, "macd", &line);
    assert_column(file, &table, "macd_signal", &signal);
    assert_column(file, &table, "macd_hist", &hist);
    let (upper, middle, lower) = bollinger(&close, 20, 2.0);
    assert_column(file, &table, "bb_upper", &upper);
    assert_column(file, &table, "bb_middle", &middle);
    assert_column(file, &table, "bb_lower", &lower);
}

#[test]
fn closes_2009_match_talib_in_every_column() {
    check_file("reference-closes-2009.csv");
}

#[test]
fn aapl_2020_daily_matches_talib_in_every_column() {
    check_file("reference-aapl-2020-daily.csv");
}

#[test]
fn talib_warm_up_lengths_are_the_documented_ones() {
    // The conventions the fixtures encode: SMA/BB at period-1, EMA at period-1, RSI at period,
    // and MACD (all three lines) only once the signal exists: 26 - 1 + 9 - 1 = 33.
    let table = Table::load("reference-closes-2009.csv");
    for (column, first) in [
        ("sma_20", 19),
        ("bb_upper", 19),
        ("ema_12", 11),
        ("ema_26", 25),
        ("rsi_14", 14),
        ("macd", 33),
        ("macd_signal", 33),
        ("macd_hist", 33),
    ] {
        assert_eq!(first_value(&table, column), first, "{column}");
    }
}

#[test]
fn macd_is_not_the_difference_of_standalone_emas() {
    // TA-Lib seeds the fast EMA with the mean of closes 14..=25, not 0..=11, so ema_12 - ema_26
    // (each seeded on its own) is far from TA-Lib's MACD: a regression guard on that convention.
    let table = Table::load("reference-closes-2009.csv");
    let close = table.values("close");
    let naive = ema(&close, 12)[33]
        .zip(ema(&close, 26)[33])
        .map(|(f, s)| f - s);
    let (line, _, _) = macd(&close, 12, 26, 9);
    let (naive, line) = (naive.expect("naive value"), line[33].expect("macd value"));
    assert!(
        (naive - line).abs() > 0.1,
        "naive {naive} vs TA-Lib-style {line}"
    );
    // And the fast EMA TA-Lib uses: seeded at index 25 with mean(close[14..=25]).
    let fast_seed: f64 = close[14..=25].iter().sum::<f64>() / 12.0;
    let slow_seed: f64 = close[..=25].iter().sum::<f64>() / 26.0;
    let (k_fast, k_slow) = (2.0 / 13.0, 2.0 / 27.0);
    let (mut fast, mut slow) = (fast_seed, slow_seed);
    for &c in &close[26..=33] {
        fast = (c - fast) * k_fast + fast;
        slow = (c - slow) * k_slow + slow;
    }
    assert!(
        (fast - slow - line).abs() < 1e-12,
        "{} vs {line}",
        fast - slow
    );
}

#[test]
fn compute_all_over_the_aapl_bars_matches_the_reference_columns() {
    let file = "reference-aapl-2020-daily.csv";
    let table = Table::load(file);
    let bars = Bars {
        high: table.values("high"),
        low: table.values("low"),
        close: table.values("close"),
        volume: table.values("volume"),
        sessions: None,
    };
    let all = compute_all(&bars);
    for column in &table.header[6..] {
        assert_column(file, &table, column, &all[column.as_str()]);
    }
    assert!(!all.contains_key("vwap"), "vwap without sessions");
    // 49 daily bars: too few for SMA(50)/SMA(200), so all null, never 0.
    assert!(all["sma_50"].iter().all(Option::is_none));
    assert!(all["sma_200"].iter().all(Option::is_none));
    // ATR(14) starts at index 14, STOCH(14,3,3) at 17 (both lines), OBV at 0.
    assert_eq!(all["atr_14"].iter().position(Option::is_some), Some(14));
    assert_eq!(all["stoch_k"].iter().position(Option::is_some), Some(17));
    assert_eq!(all["stoch_d"].iter().position(Option::is_some), Some(17));
    assert_eq!(all["obv"][0], Some(bars.volume[0]));
    for v in all["stoch_k"].iter().chain(&all["stoch_d"]).flatten() {
        assert!((0.0..=100.0).contains(v), "stochastic {v} out of 0..=100");
    }
}

#[test]
fn atr_on_aapl_is_seeded_with_the_mean_of_true_ranges_1_to_14() {
    let table = Table::load("reference-aapl-2020-daily.csv");
    let (h, l, c) = (
        table.values("high"),
        table.values("low"),
        table.values("close"),
    );
    let tr = |i: usize| {
        let a = h[i] - l[i];
        let b = (h[i] - c[i - 1]).abs();
        let d = (l[i] - c[i - 1]).abs();
        a.max(b).max(d)
    };
    let seed: f64 = (1..=14).map(tr).sum::<f64>() / 14.0;
    let next = (seed * 13.0 + tr(15)) / 14.0;
    let got = exporter_indicators::atr(&h, &l, &c, 14);
    assert!(got[13].is_none());
    assert!((got[14].expect("seed") - seed).abs() < 1e-9);
    assert!((got[15].expect("next") - next).abs() < 1e-9);
}
