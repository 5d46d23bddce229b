-- Compact 1-minute roll-up: the days that are over move from `rollup_1m` (a row per series and
-- minute, ~165 bytes) into `rollup_1m_chunk`, one row per series and UTC hour with each column
-- in an lz4-compressed array (`bucket_times[i]` is the minute of `sums[i]`, ...). Partitioned by
-- UTC day like `rollup_1m` (rollup_1m_chunk_pYYYYMMDD), dropped with it by the 1-minute tier's
-- retention. The aggregator compacts each day once it is over (`Store::compact_minutes`); a late
-- sample's upsert into a compacted day makes a row in `rollup_1m` again, which readers merge with
-- the chunk's bucket and the next pass folds into it. Here: the chunk partition of every existing
-- day, and the days already over moved. Never edit after it lands; add a new numbered migration.

CREATE TABLE rollup_1m_chunk (
    series_id    integer            NOT NULL,
    -- The UTC hour the chunk holds.
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
    day date;
BEGIN
    FOR part IN
        SELECT c.relname::text FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = 'rollup_1m' AND c.relname::text ~ '^rollup_1m_p[0-9]{8}$'
        ORDER BY 1
    LOOP
        day := to_date(substr(part, 12), 'YYYYMMDD');
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF rollup_1m_chunk FOR VALUES FROM (%L) TO (%L)',
            'rollup_1m_chunk_p' || to_char(day, 'YYYYMMDD'),
            day::text || ' 00:00:00+00',
            (day + 1)::text || ' 00:00:00+00');
        IF day + 1 <= (now() AT TIME ZONE 'UTC')::date THEN
            EXECUTE format(
                'INSERT INTO rollup_1m_chunk SELECT series_id, '
                'date_bin(''1 hour'', bucket_time, timestamptz ''1970-01-01 00:00:00+00''), '
                'array_agg(bucket_time ORDER BY bucket_time), array_agg(sum ORDER BY bucket_time), '
                'array_agg(count ORDER BY bucket_time), array_agg(min ORDER BY bucket_time), '
                'array_agg(max ORDER BY bucket_time), array_agg(first_time ORDER BY bucket_time), '
                'array_agg(first_value ORDER BY bucket_time), array_agg(last_time ORDER BY bucket_time), '
                'array_agg(last_value ORDER BY bucket_time) FROM %I GROUP BY 1, 2', part);
            EXECUTE format('TRUNCATE %I', part);
        END IF;
    END LOOP;
END
$$;

-- The 1-minute roll-up as one row per series and minute, rows and chunks merged, for people and
-- tests reading by hand.
CREATE VIEW rollup_1m_all AS
    SELECT series_id, bucket_time, sum(sum) AS sum, sum(count)::int4 AS count,
           min(min) AS min, max(max) AS max,
           min(first_time) AS first_time,
           (min(ARRAY[extract(epoch FROM first_time)::float8, first_value]))[2] AS first_value,
           max(last_time) AS last_time,
           (max(ARRAY[extract(epoch FROM last_time)::float8, last_value]))[2] AS last_value
    FROM (
        SELECT series_id, bucket_time, sum, count, min, max,
               first_time, first_value, last_time, last_value
        FROM rollup_1m
        UNION ALL
        SELECT c.series_id, u.*
        FROM rollup_1m_chunk c CROSS JOIN LATERAL unnest(c.bucket_times, c.sums, c.counts,
            c.mins, c.maxs, c.first_times, c.first_values, c.last_times, c.last_values)
            AS u(bucket_time, sum, count, min, max, first_time, first_value, last_time, last_value)
    ) r
    GROUP BY series_id, bucket_time;
