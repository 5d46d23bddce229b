-- The exchange calendar from the broker (Alpaca's /v2/calendar), refreshed daily: the days the
-- market opens with their hours (local times of the exchange), and the range of dates the
-- calendar covers. A weekday in the range without a market_day row is a holiday; outside the
-- range nothing is known.

CREATE TABLE market_day (
    date          date        PRIMARY KEY,
    open_time     time        NOT NULL,
    close_time    time        NOT NULL CHECK (close_time > open_time),
    session_open  time,
    session_close time,
    received_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE market_calendar_range (
    -- One row: the range known so far.
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    timezone   text        NOT NULL,
    first_date date        NOT NULL,
    last_date  date        NOT NULL CHECK (last_date >= first_date),
    updated_at timestamptz NOT NULL DEFAULT now()
);
