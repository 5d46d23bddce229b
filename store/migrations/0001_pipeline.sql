-- Pipeline core: message de-duplication, series dictionary, partitioned points, latest samples,
-- dead letters. Never edit after it lands; add a new numbered migration instead.

-- Every message id the aggregator has committed. A redelivered message finds its id here and
-- writes nothing, so nothing is ever counted twice.
CREATE TABLE ingested_message (
    message_id  uuid        PRIMARY KEY,
    subject     text        NOT NULL,
    source      text        NOT NULL,
    host        text        NOT NULL,
    -- The collector's per-process sequence number: a gap means a sample was lost upstream.
    seq         bigint      NOT NULL,
    sample_time timestamptz NOT NULL,
    ingested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingested_message_ingested_at ON ingested_message USING brin (ingested_at);

-- Series dictionary: one row per (source, host, name, labels).
CREATE TABLE series (
    series_id  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source     text    NOT NULL,
    host       text    NOT NULL,
    name       text    NOT NULL,
    labels     jsonb   NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, host, name, labels)
);
CREATE INDEX series_name ON series (name, host);

-- Numeric points, partitioned by day (partitions are created by the aggregator ahead of use and
-- dropped after the retention period).
CREATE TABLE point (
    time      timestamptz      NOT NULL,
    series_id integer          NOT NULL,
    value     double precision NOT NULL
) PARTITION BY RANGE (time);
CREATE INDEX point_series_time ON point (series_id, time);
CREATE INDEX point_time_brin ON point USING brin (time);

-- The latest whole sample per (source, host), for instant reads.
CREATE TABLE latest_sample (
    source      text        NOT NULL,
    host        text        NOT NULL,
    message_id  uuid        NOT NULL,
    sample_time timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    body        jsonb       NOT NULL,
    PRIMARY KEY (source, host)
);

-- Messages that could not be read, kept with their raw bytes and the reason.
CREATE TABLE dead_letter (
    dead_letter_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Nats-Msg-Id when the message had one, else stream:sequence: a redelivery is stored once.
    dedupe_key     text        NOT NULL UNIQUE,
    received_at    timestamptz NOT NULL DEFAULT now(),
    subject        text        NOT NULL,
    reason         text        NOT NULL,
    raw            bytea       NOT NULL,
    headers        jsonb
);
CREATE INDEX dead_letter_received_at ON dead_letter (received_at);
