-- Market data: bars keyed by (symbol, interval, time), the ranges already fetched (so the API
-- knows what it can serve without asking the collector), splits and dividends, symbol metadata
-- and the latest quote per symbol.

CREATE TABLE bar (
    symbol    text             NOT NULL,
    interval  text             NOT NULL,
    time      timestamptz      NOT NULL,
    open      double precision,
    high      double precision,
    low       double precision,
    close     double precision NOT NULL,
    adj_close double precision,
    volume    bigint,
    PRIMARY KEY (symbol, interval, time)
);

CREATE TABLE bar_coverage (
    symbol      text        NOT NULL,
    interval    text        NOT NULL,
    range_start timestamptz NOT NULL,
    range_end   timestamptz NOT NULL,
    fetched_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, interval, range_start, range_end)
);

CREATE TABLE corporate_event (
    symbol      text             NOT NULL,
    time        timestamptz      NOT NULL,
    kind        text             NOT NULL,
    amount      double precision,
    numerator   double precision,
    denominator double precision,
    PRIMARY KEY (symbol, kind, time)
);

CREATE TABLE symbol_meta (
    symbol     text PRIMARY KEY,
    meta       jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE quote (
    symbol      text PRIMARY KEY,
    quote       jsonb       NOT NULL,
    quote_time  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
