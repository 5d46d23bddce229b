-- Tiers with their own retention: the roll-ups become range-partitioned by time like `point`,
-- so each tier's retention drops whole partitions: `rollup_1m` by UTC day
-- (rollup_1m_pYYYYMMDD), `rollup_1h` by UTC month (rollup_1h_pYYYYMM). The rows an install
-- already holds move into the new layout here. Never edit after it lands; add a new numbered
-- migration instead.

ALTER TABLE rollup_1m RENAME TO rollup_1m_unpartitioned;
ALTER TABLE rollup_1m_unpartitioned RENAME CONSTRAINT rollup_1m_pkey TO rollup_1m_unpartitioned_pkey;
ALTER TABLE rollup_1h RENAME TO rollup_1h_unpartitioned;
ALTER TABLE rollup_1h_unpartitioned RENAME CONSTRAINT rollup_1h_pkey TO rollup_1h_unpartitioned_pkey;

CREATE TABLE rollup_1m (
    series_id   integer          NOT NULL,
    bucket_time timestamptz      NOT NULL,
    sum         double precision NOT NULL,
    count       integer          NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    first_time  timestamptz      NOT NULL,
    first_value double precision NOT NULL,
    last_time   timestamptz      NOT NULL,
    last_value  double precision NOT NULL,
    PRIMARY KEY (series_id, bucket_time)
) PARTITION BY RANGE (bucket_time);

CREATE TABLE rollup_1h (
    series_id   integer          NOT NULL,
    bucket_time timestamptz      NOT NULL,
    sum         double precision NOT NULL,
    count       integer          NOT NULL,
    min         double precision NOT NULL,
    max         double precision NOT NULL,
    first_time  timestamptz      NOT NULL,
    first_value double precision NOT NULL,
    last_time   timestamptz      NOT NULL,
    last_value  double precision NOT NULL,
    PRIMARY KEY (series_id, bucket_time)
) PARTITION BY RANGE (bucket_time);

DO $$
DECLARE
    start date;
BEGIN
    FOR start IN
        SELECT DISTINCT (bucket_time AT TIME ZONE 'UTC')::date FROM rollup_1m_unpartitioned
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF rollup_1m FOR VALUES FROM (%L) TO (%L)',
            'rollup_1m_p' || to_char(start, 'YYYYMMDD'),
            start::text || ' 00:00:00+00',
            (start + 1)::text || ' 00:00:00+00');
    END LOOP;
    FOR start IN
        SELECT DISTINCT date_trunc('month', bucket_time AT TIME ZONE 'UTC')::date
        FROM rollup_1h_unpartitioned
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF rollup_1h FOR VALUES FROM (%L) TO (%L)',
            'rollup_1h_p' || to_char(start, 'YYYYMM'),
            start::text || ' 00:00:00+00',
            (start + interval '1 month')::date::text || ' 00:00:00+00');
    END LOOP;
END
$$;

INSERT INTO rollup_1m SELECT * FROM rollup_1m_unpartitioned;
INSERT INTO rollup_1h SELECT * FROM rollup_1h_unpartitioned;
DROP TABLE rollup_1m_unpartitioned;
DROP TABLE rollup_1h_unpartitioned;
