-- Roll-up chunks sized for sparse series too (docs/architecture.md, "Compact roll-ups"):
--
-- * The 1-hour tier gets chunks like the 1-minute one: `rollup_1h_chunk`, one row per series
--   and UTC month (the month of its `rollup_1h_pYYYYMM` partition, partitioned alike as
--   rollup_1h_chunk_pYYYYMM and dropped with it), each column in an lz4-compressed array. A row
--   of `rollup_1h` costs ~141 bytes; a series with one sample an hour paid that per sample.
-- * A chunk of the 1-minute tier holds a UTC day (its whole partition) instead of an hour: an
--   hourly series had a one-element chunk (~355 bytes) per sample.
--
-- Here: the chunk partition of every existing month, the months already over moved out of
-- `rollup_1h`, and every existing 1-minute chunk regrouped by day. The aggregator moves the
-- rest (closed days of the current month, closed hours of today) at its next pass. Never edit
-- after it lands; add a new numbered migration.

CREATE TABLE rollup_1h_chunk (
    series_id    integer            NOT NULL,
    -- The UTC month the chunk holds (its first instant).
    chunk_start  timestamptz        NOT NULL,
    bucket_times timestamptz[]      COMPRESSION lz4 NOT NULL,
    sums         double precision[] COMPRESSION lz4 NOT NULL,
    counts       integer[]          COMPRESSION lz4 NOT NULL,
    mins         double precision[] COMPRESSION lz4 NOT NULL,
    maxs         double precision[] COMPRESSION lz4 NOT NULL,
    first_times  timestamptz[]      COMPRESSION lz4 NOT NULL,
    first_values double precision[] COMPRESSION lz4 NOT NULL,
    last_times   timestamptz[]      COMPRESSION lz4 NOT NULL,
    last_values  double precision[] COMPRESSION lz4 NOT NULL,
    PRIMARY KEY (series_id, chunk_start)
) PARTITION BY RANGE (chunk_start);

DO $$
DECLARE
    part text;
    month date;
    day date;
BEGIN
    FOR part IN
        SELECT c.relname::text FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = 'rollup_1h' AND c.relname::text ~ '^rollup_1h_p[0-9]{6}$'
        ORDER BY 1
    LOOP
        month := to_date(substr(part, 12) || '01', 'YYYYMMDD');
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF rollup_1h_chunk FOR VALUES FROM (%L) TO (%L)',
            'rollup_1h_chunk_p' || to_char(month, 'YYYYMM'),
            month::text || ' 00:00:00+00',
            (month + interval '1 month')::date::text || ' 00:00:00+00');
        IF (month + interval '1 month')::date <= (now() AT TIME ZONE 'UTC')::date THEN
            EXECUTE format(
                'INSERT INTO rollup_1h_chunk SELECT series_id, %L::timestamptz, '
                'array_agg(bucket_time ORDER BY bucket_time), array_agg(sum ORDER BY bucket_time), '
                'array_agg(count ORDER BY bucket_time), array_agg(min ORDER BY bucket_time), '
                'array_agg(max ORDER BY bucket_time), array_agg(first_time ORDER BY bucket_time), '
                'array_agg(first_value ORDER BY bucket_time), array_agg(last_time ORDER BY bucket_time), '
                'array_agg(last_value ORDER BY bucket_time) FROM %I GROUP BY series_id',
                month::text || ' 00:00:00+00', part);
            EXECUTE format('TRUNCATE %I', part);
        END IF;
    END LOOP;

    -- Hour chunks of the 1-minute tier into one chunk per series and day (its partition). An
    -- hour's chunk never shares a minute with another hour's, so the union is the day.
    FOR part IN
        SELECT c.relname::text FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = 'rollup_1m_chunk' AND c.relname::text ~ '^rollup_1m_chunk_p[0-9]{8}$'
        ORDER BY 1
    LOOP
        day := to_date(substr(part, 18), 'YYYYMMDD');
        EXECUTE format(
            'CREATE TEMP TABLE regrouped ON COMMIT DROP AS SELECT c.series_id, '
            '%L::timestamptz AS chunk_start, '
            'array_agg(u.b ORDER BY u.b) AS bucket_times, array_agg(u.s ORDER BY u.b) AS sums, '
            'array_agg(u.n ORDER BY u.b) AS counts, array_agg(u.mn ORDER BY u.b) AS mins, '
            'array_agg(u.mx ORDER BY u.b) AS maxs, array_agg(u.ft ORDER BY u.b) AS first_times, '
            'array_agg(u.fv ORDER BY u.b) AS first_values, array_agg(u.lt ORDER BY u.b) AS last_times, '
            'array_agg(u.lv ORDER BY u.b) AS last_values '
            'FROM %I c CROSS JOIN LATERAL unnest(c.bucket_times, c.sums, c.counts, c.mins, c.maxs, '
            'c.first_times, c.first_values, c.last_times, c.last_values) '
            'AS u(b, s, n, mn, mx, ft, fv, lt, lv) GROUP BY c.series_id',
            day::text || ' 00:00:00+00', part);
        EXECUTE format('TRUNCATE %I', part);
        EXECUTE format('INSERT INTO %I SELECT * FROM regrouped', part);
        DROP TABLE regrouped;
    END LOOP;
END
$$;

-- The 1-hour roll-up as one row per series and hour, rows and chunks merged, for people and
-- tests reading by hand (as `rollup_1m_all`).
CREATE VIEW rollup_1h_all AS
    SELECT series_id, bucket_time, sum(sum) AS sum, sum(count)::int4 AS count,
           min(min) AS min, max(max) AS max,
           min(first_time) AS first_time,
           (min(ARRAY[extract(epoch FROM first_time)::float8, first_value]))[2] AS first_value,
           max(last_time) AS last_time,
           (max(ARRAY[extract(epoch FROM last_time)::float8, last_value]))[2] AS last_value
    FROM (
        SELECT series_id, bucket_time, sum, count, min, max,
               first_time, first_value, last_time, last_value
        FROM rollup_1h
        UNION ALL
        SELECT c.series_id, u.*
        FROM rollup_1h_chunk c CROSS JOIN LATERAL unnest(c.bucket_times, c.sums, c.counts,
            c.mins, c.maxs, c.first_times, c.first_values, c.last_times, c.last_values)
            AS u(bucket_time, sum, count, min, max, first_time, first_value, last_time, last_value)
    ) r
    GROUP BY series_id, bucket_time;
