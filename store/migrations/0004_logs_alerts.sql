-- Logs, the trading system's notifications, alerts with their transitions, silences and the
-- delivery log. Never edit after it lands; add a new numbered migration instead.

-- One row per log line. Written only for a logs sample committed for the first time (the
-- ingested_message check), so a redelivered batch never stores a line twice.
CREATE TABLE log_line (
    log_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  uuid        NOT NULL,
    line_no     integer     NOT NULL,
    time        timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    host        text        NOT NULL,
    -- File path or journal:<unit>.
    source      text        NOT NULL,
    -- 0 unknown, 1 trace, 2 debug, 3 info, 4 warning, 5 error, 6 critical: `level >= 5` is
    -- "error and above".
    level       smallint    NOT NULL,
    component   text,
    message     text        NOT NULL,
    fields      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    file_offset bigint,
    truncated   boolean     NOT NULL DEFAULT false
);
CREATE INDEX log_line_time ON log_line (time DESC, log_id DESC);
CREATE INDEX log_line_level_time ON log_line (level, time DESC);
CREATE INDEX log_line_component_time ON log_line (component, time DESC);
CREATE INDEX log_line_received_brin ON log_line USING brin (received_at);

-- Notifications of the trading system, whichever way they came (ingest subject or file).
CREATE TABLE notification (
    notification_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Nats-Msg-Id, envelope id + index, or stream:sequence: a redelivery is stored once.
    dedupe_key      text        NOT NULL UNIQUE,
    time            timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    host            text,
    severity        text        NOT NULL,
    category        text        NOT NULL,
    title           text        NOT NULL,
    message         text        NOT NULL,
    labels          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    resolved        boolean     NOT NULL DEFAULT false
);

-- One alert per rule and label set (fingerprint) from pending until resolved; firing again after
-- it resolved is a new row. The aggregator writes state; the API writes acknowledgements.
CREATE TABLE alert (
    alert_id         uuid        PRIMARY KEY,
    fingerprint      text        NOT NULL,
    rule             text        NOT NULL,
    severity         text        NOT NULL,
    category         text        NOT NULL,
    state            text        NOT NULL CHECK (state IN ('pending', 'firing', 'resolved', 'inactive')),
    labels           jsonb       NOT NULL,
    annotations      jsonb       NOT NULL,
    value            double precision,
    started_at       timestamptz NOT NULL,
    fired_at         timestamptz,
    resolved_at      timestamptz,
    last_active_at   timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    last_notified_at timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- At most one open alert per fingerprint.
CREATE UNIQUE INDEX alert_open_fingerprint ON alert (fingerprint) WHERE state IN ('pending', 'firing');
CREATE INDEX alert_started_at ON alert (started_at DESC);
CREATE INDEX alert_state ON alert (state) WHERE state IN ('pending', 'firing');

-- Every state change, in order: pending, firing, resolved, inactive, acknowledged.
CREATE TABLE alert_transition (
    transition_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id      uuid        NOT NULL REFERENCES alert (alert_id) ON DELETE CASCADE,
    time          timestamptz NOT NULL,
    kind          text        NOT NULL,
    value         double precision,
    actor         text
);
CREATE INDEX alert_transition_alert ON alert_transition (alert_id, transition_id);

-- Silences: matchers (label = value, or =~ regex) over a time window suppress notifications.
CREATE TABLE silence (
    silence_id uuid        PRIMARY KEY,
    matchers   jsonb       NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    created_by text        NOT NULL,
    comment    text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set by DELETE /silences/{id}: the silence stops at once but stays on record.
    expired_at timestamptz
);
CREATE INDEX silence_active ON silence (ends_at) WHERE expired_at IS NULL;

-- Every delivery attempt of a notification message to a receiver (never the URL or token).
CREATE TABLE alert_delivery (
    delivery_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time        timestamptz NOT NULL DEFAULT now(),
    receiver    text        NOT NULL,
    group_key   text        NOT NULL,
    alert_ids   uuid[]      NOT NULL,
    status      text        NOT NULL CHECK (status IN ('sent', 'retrying', 'failed')),
    attempt     integer     NOT NULL,
    http_status integer,
    error       text,
    duration_ms integer     NOT NULL
);
CREATE INDEX alert_delivery_time ON alert_delivery (time DESC);

-- Small key/value state of the alert engine (the last notification row it turned into alerts).
CREATE TABLE alert_engine_state (
    key   text  PRIMARY KEY,
    value jsonb NOT NULL
);
