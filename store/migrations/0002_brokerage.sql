-- Brokerage: every execution (fill) keyed by its broker id, and the daily equity history.
-- Trades, P&L and statistics are computed from these (exporter-trading), never from the broker
-- at request time.

CREATE TABLE fill (
    fill_id     text        PRIMARY KEY,
    symbol      text        NOT NULL,
    side        text        NOT NULL CHECK (side IN ('buy', 'sell')),
    quantity    numeric     NOT NULL CHECK (quantity > 0),
    price       numeric     NOT NULL CHECK (price >= 0),
    fee         numeric     NOT NULL DEFAULT 0 CHECK (fee >= 0),
    time        timestamptz NOT NULL,
    order_id    text,
    strategy    text,
    -- 'broker' (the trades collector) or 'ingest' (published by the trading system).
    origin      text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fill_time ON fill (time, fill_id);
CREATE INDEX fill_symbol_time ON fill (symbol, time);

CREATE TABLE equity_point (
    time                timestamptz PRIMARY KEY,
    equity              numeric     NOT NULL,
    profit_loss         numeric,
    profit_loss_percent numeric,
    received_at         timestamptz NOT NULL DEFAULT now()
);
