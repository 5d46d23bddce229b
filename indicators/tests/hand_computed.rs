//! Hand-computed cases for the indicators the TA-Lib reference files do not cover (ATR,
//! Stochastic, OBV, VWAP), plus the edge cases: short inputs, gaps, mismatched lengths.

use exporter_indicators::{
    Bars, SERIES_NAMES, atr, bollinger, compute_all, ema, macd, obv, rsi, sma, stochastic, vwap,
};

/// Asserts two series are equal to 1e-9, `None` in the same places.
fn assert_series(got: &[Option<f64>], want: &[Option<f64>]) {
    assert_eq!(got.len(), want.len(), "length: got {got:?}, want {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        match (g, w) {
            (None, None) => {}
            (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "[{i}]: got {g}, want {w}"),
            _ => panic!("[{i}]: got {g:?}, want {w:?} (got {got:?})"),
        }
    }
}

#[test]
fn atr_wilder_seeded_with_mean_true_range() {
    let high = [10.0, 11.0, 12.0, 13.0, 12.0, 15.0];
    let low = [8.0, 9.0, 10.0, 10.0, 9.0, 12.0];
    let close = [9.0, 10.0, 11.0, 12.0, 9.0, 14.0];
    // TR1 = max(11-9, |11-9|, |9-9|)    = 2
    // TR2 = max(12-10, |12-10|, |10-10|) = 2
    // TR3 = max(13-10, |13-11|, |10-11|) = 3
    // TR4 = max(12-9, |12-12|, |9-12|)   = 3
    // TR5 = max(15-12, |15-9|, |12-9|)   = 6 (gap up: the previous close counts)
    // ATR(3)[3] = (2 + 2 + 3) / 3           = 7/3
    // ATR(3)[4] = (7/3 * 2 + 3) / 3         = 23/9
    // ATR(3)[5] = (23/9 * 2 + 6) / 3        = 100/27
    assert_series(
        &atr(&high, &low, &close, 3),
        &[
            None,
            None,
            None,
            Some(7.0 / 3.0),
            Some(23.0 / 9.0),
            Some(100.0 / 27.0),
        ],
    );
    // Period 1 is the true range itself, from bar 1.
    assert_series(
        &atr(&high, &low, &close, 1),
        &[None, Some(2.0), Some(2.0), Some(3.0), Some(3.0), Some(6.0)],
    );
}

#[test]
fn stochastic_slow_k_and_d_with_sma_smoothing() {
    let high = [10.0, 12.0, 11.0, 13.0, 14.0, 12.0];
    let low = [8.0, 9.0, 7.0, 10.0, 11.0, 10.0];
    let close = [9.0, 11.0, 8.0, 12.0, 14.0, 10.0];
    // fast %K(3):
    //   [2] HH = 12, LL = 7:  (8 - 7) / 5 * 100  = 20
    //   [3] HH = 13, LL = 7:  (12 - 7) / 6 * 100 = 83.333…
    //   [4] HH = 14, LL = 7:  (14 - 7) / 7 * 100 = 100
    //   [5] HH = 14, LL = 10: (10 - 10) / 4 * 100 = 0
    // slow %K = SMA(2): [3] (20 + 83.333)/2 = 51.667, [4] (83.333 + 100)/2 = 91.667, [5] 50
    // slow %D = SMA(2) of slow %K: [4] (51.667 + 91.667)/2 = 71.667, [5] (91.667 + 50)/2 = 70.833
    // TA-Lib starts both lines at 3 - 1 + 2 - 1 + 2 - 1 = 4, so slow %K[3] is not output.
    let (k, d) = stochastic(&high, &low, &close, 3, 2, 2);
    let k3 = 100.0 * 5.0 / 6.0;
    assert_series(
        &k,
        &[None, None, None, None, Some((k3 + 100.0) / 2.0), Some(50.0)],
    );
    assert_series(
        &d,
        &[
            None,
            None,
            None,
            None,
            Some(((20.0 + k3) / 2.0 + (k3 + 100.0) / 2.0) / 2.0),
            Some(((k3 + 100.0) / 2.0 + 50.0) / 2.0),
        ],
    );
}

#[test]
fn stochastic_of_a_flat_range_is_zero_as_in_talib() {
    // highest high == lowest low: TA-Lib writes 0, not NaN.
    let flat = [5.0; 20];
    let (k, d) = stochastic(&flat, &flat, &flat, 14, 3, 3);
    assert_eq!(k[16], None);
    assert_eq!(k[17], Some(0.0));
    assert_eq!(d[19], Some(0.0));
}

#[test]
fn obv_adds_subtracts_and_holds_on_equal_closes() {
    let close = [10.0, 11.0, 11.0, 10.0, 12.0];
    let volume = [100.0, 200.0, 300.0, 400.0, 500.0];
    // [0] first bar's volume = 100 (TA-Lib)
    // [1] 11 > 10: 100 + 200 = 300
    // [2] 11 = 11: unchanged  = 300
    // [3] 10 < 11: 300 - 400 = -100
    // [4] 12 > 10: -100 + 500 = 400
    assert_series(
        &obv(&close, &volume),
        &[
            Some(100.0),
            Some(300.0),
            Some(300.0),
            Some(-100.0),
            Some(400.0),
        ],
    );
}

#[test]
fn obv_skips_a_gap_bar_and_compares_with_the_last_finite_close() {
    let close = [10.0, f64::NAN, 9.0, 9.0];
    let volume = [100.0, 50.0, 30.0, 20.0];
    // [0] 100; [1] gap: None; [2] 9 < 10: 100 - 30 = 70; [3] equal: 70
    assert_series(
        &obv(&close, &volume),
        &[Some(100.0), None, Some(70.0), Some(70.0)],
    );
}

#[test]
fn vwap_accumulates_within_a_session_and_resets_at_a_new_one() {
    let high = [11.0, 13.0, 12.0, 21.0, 24.0];
    let low = [9.0, 11.0, 9.0, 19.0, 21.0];
    let close = [10.0, 12.0, 9.0, 20.0, 21.0];
    let volume = [100.0, 300.0, 100.0, 50.0, 150.0];
    let sessions = [1, 1, 1, 2, 2];
    // typical = (h + l + c) / 3: 10, 12, 10 | 20, 22
    // [0] 10*100 = 1000;             1000 / 100 = 10
    // [1] + 12*300 = 3600 -> 4600;   4600 / 400 = 11.5
    // [2] + 10*100 = 1000 -> 5600;   5600 / 500 = 11.2
    // [3] new session: 20*50 = 1000; 1000 / 50  = 20
    // [4] + 22*150 = 3300 -> 4300;   4300 / 200 = 21.5
    assert_series(
        &vwap(&high, &low, &close, &volume, &sessions),
        &[Some(10.0), Some(11.5), Some(11.2), Some(20.0), Some(21.5)],
    );
}

#[test]
fn vwap_is_none_until_volume_and_carries_over_a_gap_bar() {
    let high = [11.0, 11.0, f64::NAN, 13.0];
    let low = [9.0, 9.0, 9.0, 11.0];
    let close = [10.0, 10.0, 10.0, 12.0];
    let volume = [0.0, 100.0, 100.0, 100.0];
    let sessions = [7, 7, 7, 7];
    // [0] no volume yet: None; [1] 10*100 / 100 = 10; [2] gap: None, skipped;
    // [3] (1000 + 12*100) / 200 = 11
    assert_series(
        &vwap(&high, &low, &close, &volume, &sessions),
        &[None, Some(10.0), None, Some(11.0)],
    );
}

#[test]
fn inputs_shorter_than_the_warm_up_give_all_none() {
    for n in [0, 1, 2, 13, 14, 19, 25, 33] {
        let x: Vec<f64> = (0..n).map(|i| 100.0 + i as f64).collect();
        let none = vec![None; n];
        if n < 20 {
            assert_eq!(sma(&x, 20), none);
            assert_eq!(
                bollinger(&x, 20, 2.0),
                (none.clone(), none.clone(), none.clone())
            );
        }
        if n < 12 {
            assert_eq!(ema(&x, 12), none);
        }
        if n <= 14 {
            assert_eq!(rsi(&x, 14), none);
            assert_eq!(atr(&x, &x, &x, 14), none);
        }
        if n <= 17 {
            assert_eq!(
                stochastic(&x, &x, &x, 14, 3, 3),
                (none.clone(), none.clone())
            );
        }
        if n <= 33 {
            assert_eq!(
                macd(&x, 12, 26, 9),
                (none.clone(), none.clone(), none.clone())
            );
        }
        let all = compute_all(&Bars {
            high: x.clone(),
            low: x.clone(),
            close: x.clone(),
            volume: vec![1.0; n],
            sessions: None,
        });
        for (name, series) in &all {
            assert_eq!(series.len(), n, "{name}");
            if name != "obv" && n < 12 {
                assert!(series.iter().all(Option::is_none), "{name} at n = {n}");
            }
        }
    }
}

#[test]
fn a_gap_restarts_recursive_indicators_instead_of_poisoning_them() {
    let x = [1.0, 2.0, 3.0, f64::NAN, 4.0, 5.0, 6.0, 7.0];
    // SMA(2): None wherever the window holds the NaN.
    assert_series(
        &sma(&x, 2),
        &[
            None,
            Some(1.5),
            Some(2.5),
            None,
            None,
            Some(4.5),
            Some(5.5),
            Some(6.5),
        ],
    );
    // EMA(3): seed (1+2+3)/3 = 2; after the gap a fresh seed (4+5+6)/3 = 5, then
    // (7 - 5) * 0.5 + 5 = 6.
    assert_series(
        &ema(&x, 3),
        &[
            None,
            None,
            Some(2.0),
            None,
            None,
            None,
            Some(5.0),
            Some(6.0),
        ],
    );
    // A long series with one early gap still produces every indicator at its end.
    let mut long: Vec<f64> = (0..300).map(|i| 100.0 + (i as f64 * 0.3).sin()).collect();
    long[5] = f64::NAN;
    let all = compute_all(&Bars {
        high: long.iter().map(|v| v + 1.0).collect(),
        low: long.iter().map(|v| v - 1.0).collect(),
        close: long.clone(),
        volume: vec![1000.0; 300],
        sessions: Some(vec![1; 300]),
    });
    for (name, series) in &all {
        assert!(series[5].is_none(), "{name} at the gap");
        assert!(series[299].is_some_and(f64::is_finite), "{name} at the end");
    }
    // The restart is a fresh warm-up: MACD's next value is 33 bars after the gap.
    assert_eq!(all["macd"][6..].iter().position(Option::is_some), Some(33));
}

#[test]
fn rsi_of_a_flat_series_is_zero_as_in_talib() {
    let flat = [3.0; 16];
    assert_eq!(rsi(&flat, 14)[14], Some(0.0));
    // Only gains: 100.
    let up: Vec<f64> = (0..16).map(f64::from).collect();
    assert_eq!(rsi(&up, 14)[15], Some(100.0));
}

#[test]
fn mismatched_lengths_do_not_panic() {
    let close = [1.0, 2.0, 3.0, 4.0, 5.0];
    let short = [2.0, 3.0];
    assert_eq!(atr(&short, &short, &close, 1).len(), 5);
    assert_eq!(stochastic(&short, &close, &close, 1, 1, 1).0.len(), 5);
    assert_eq!(
        obv(&close, &short),
        vec![Some(2.0), Some(5.0), None, None, None]
    );
    assert_eq!(vwap(&close, &close, &close, &close, &[1]).len(), 5);
    assert_eq!(vwap(&close, &close, &close, &close, &[1])[1], None);
}

#[test]
fn compute_all_names_and_vwap_only_with_sessions() {
    let n = 250;
    let close: Vec<f64> = (0..n).map(|i| 50.0 + (i % 7) as f64).collect();
    let mut bars = Bars {
        high: close.iter().map(|c| c + 0.5).collect(),
        low: close.iter().map(|c| c - 0.5).collect(),
        close,
        volume: vec![10.0; n],
        sessions: None,
    };
    let without = compute_all(&bars);
    let without: Vec<&str> = without.keys().map(String::as_str).collect();
    let expected: Vec<&str> = SERIES_NAMES
        .iter()
        .copied()
        .filter(|n| *n != "vwap")
        .collect();
    assert_eq!(without, expected);
    bars.sessions = Some((0..n as i64).map(|i| i / 78).collect());
    let with = compute_all(&bars);
    assert_eq!(
        with.keys().map(String::as_str).collect::<Vec<_>>(),
        SERIES_NAMES.to_vec()
    );
    for (name, series) in &with {
        assert_eq!(series.len(), n, "{name}");
        assert!(series[n - 1].is_some(), "{name} has a last value");
    }
    assert_eq!(with["sma_200"].iter().position(Option::is_some), Some(199));
    assert_eq!(with["sma_50"].iter().position(Option::is_some), Some(49));
}
