//! Trades, P&L and statistics (work in progress).
