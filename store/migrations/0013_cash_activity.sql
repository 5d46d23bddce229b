-- Non-trade account activities: fees, dividends, interest, deposits, withdrawals (Alpaca's FEE,
-- DIV, INT, CSD, CSW, ... activities), keyed by the broker's id. A repeated id replaces the row
-- (the broker corrects an amount or a status under the same id). What each counts as in the P&L
-- is decided by exporter-trading from activity_type, not stored.

CREATE TABLE cash_activity (
    activity_id       text        PRIMARY KEY,
    activity_type     text        NOT NULL,
    activity_sub_type text,
    date              date        NOT NULL,
    net_amount        numeric     NOT NULL,
    symbol            text,
    order_id          text,
    description       text,
    status            text,
    received_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cash_activity_date ON cash_activity (date, activity_id);
