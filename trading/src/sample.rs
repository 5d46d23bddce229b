//! A deterministic generator of realistic fills, for benchmarks, demos and property tests.
//!
//! Real fills cannot be shipped with the code, yet the trade builder and statistics need large,
//! varied inputs to be measured and checked: longs and shorts, scale-ins, partial exits, flips,
//! several symbols interleaved, fees. [`sample_fills`] makes them from a seed with a small
//! linear congruential generator (no dependency), so a given `(count, seed)` always gives the
//! same fills.

use chrono::{DateTime, Datelike, TimeDelta, Utc, Weekday};
use rust_decimal::Decimal;

use crate::{Fill, Side};

/// Symbols and their starting prices in cents.
const SYMBOLS: [(&str, i64); 6] = [
    ("AAPL", 19_000),
    ("MSFT", 42_000),
    ("NVDA", 13_000),
    ("TSLA", 25_000),
    ("SPY", 58_000),
    ("AMD", 15_000),
];

/// Strategy tags put on opening fills (a quarter of trades have none).
const STRATEGIES: [&str; 3] = ["momentum", "mean_reversion", "breakout"];

/// First session open: 2025-01-02 14:30:00 UTC (09:30 New York), as Unix seconds.
const FIRST_SESSION_OPEN_UNIX_SECONDS: i64 = 1_735_828_200;

/// Length of a regular US equity session (09:30 to 16:00), in seconds.
const SESSION_LENGTH_SECONDS: i64 = 23_400;

/// The 64-bit LCG of Knuth's MMIX; the high bits are returned, as the low ones are weak.
#[derive(Debug)]
struct Lcg(u64);

impl Lcg {
    /// The next 31 random bits.
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A number in `0..bound` (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// Per-symbol generator state.
#[derive(Debug, Clone, Copy)]
struct SymbolState {
    /// Last price, in cents.
    price_cents: i64,
    /// Signed position in shares (> 0 long, < 0 short).
    position_shares: i64,
    /// Strategy tag of the open trade.
    strategy: Option<&'static str>,
}

/// `count` fills over six US stocks, deterministic for a given `seed`.
///
/// Prices random-walk by up to ±0.1 % per fill from realistic levels; fills come 1 to 20
/// seconds apart within 09:30–16:00 New York (14:30–21:00 UTC) sessions on weekdays from
/// 2 January 2025; quantities are whole shares, fees 0.005 per share with a 1.00 minimum.
/// From flat a symbol opens long (60 %) or short (40 %); in a position the next fill is a
/// scale-in (25 %), a partial exit (30 %), a full exit (35 %) or a flip through zero (10 %).
pub fn sample_fills(count: usize, seed: u64) -> Vec<Fill> {
    let mut rng = Lcg(seed ^ 0x9E37_79B9_7F4A_7C15);
    let mut states: Vec<SymbolState> = SYMBOLS
        .iter()
        .map(|&(_, price_cents)| SymbolState {
            price_cents,
            position_shares: 0,
            strategy: None,
        })
        .collect();
    let mut session_open =
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(FIRST_SESSION_OPEN_UNIX_SECONDS);
    let mut session_seconds: i64 = 0;
    let mut fills = Vec::with_capacity(count);

    for index in 0..count {
        session_seconds += 1 + rng.below(20) as i64;
        if session_seconds >= SESSION_LENGTH_SECONDS {
            session_seconds = 1 + rng.below(20) as i64;
            session_open += TimeDelta::days(1);
            while matches!(session_open.weekday(), Weekday::Sat | Weekday::Sun) {
                session_open += TimeDelta::days(1);
            }
        }

        let symbol_index = rng.below(SYMBOLS.len() as u64) as usize;
        let state = &mut states[symbol_index];
        let step_basis_points = rng.below(21) as i64 - 10;
        state.price_cents =
            (state.price_cents + state.price_cents * step_basis_points / 10_000).max(100);

        let new_shares = 10 * (1 + rng.below(30) as i64);
        let held = state.position_shares.abs();
        let direction = state.position_shares.signum();
        // Signed shares this fill trades.
        let traded_shares = if held == 0 {
            if rng.below(10) < 6 {
                new_shares
            } else {
                -new_shares
            }
        } else {
            match rng.below(100) {
                0..25 => direction * new_shares,
                25..55 => -direction * (held * (1 + rng.below(3) as i64) / 4).max(1),
                55..90 => -direction * held,
                _ => -direction * (held + new_shares),
            }
        };
        let position_before = state.position_shares;
        state.position_shares += traded_shares;
        if position_before.signum() != state.position_shares.signum() && state.position_shares != 0
        {
            // Opened from flat or flipped: the new trade gets a fresh tag.
            state.strategy = (rng.below(4) > 0).then(|| STRATEGIES[rng.below(3) as usize]);
        }

        let quantity_shares = traded_shares.abs();
        let fee = Decimal::new(quantity_shares * 5, 3).max(Decimal::ONE);
        fills.push(Fill {
            id: format!("F{index:08}"),
            symbol: SYMBOLS[symbol_index].0.to_owned(),
            side: if traded_shares > 0 {
                Side::Buy
            } else {
                Side::Sell
            },
            quantity: Decimal::from(quantity_shares),
            price: Decimal::new(state.price_cents, 2),
            fee,
            time: session_open + TimeDelta::seconds(session_seconds),
            strategy: state.strategy.map(str::to_owned),
        });
    }
    fills
}
