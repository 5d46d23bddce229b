-- Compact raw storage: closed hours of points move from `point` (one row per point, the open
-- chunk) into `point_chunk`, one row per (series, UTC hour) with the times and values in arrays,
-- compressed by PostgreSQL's own TOAST (lz4). Partitioned by UTC day like `point`
-- (point_chunk_pYYYYMMDD), so the raw tier's retention drops both. The aggregator compacts every
-- closed hour (`Store::compact_raw`); a late sample into a compacted hour goes into `point` and
-- is merged into its chunk at the next pass. Readers see `point` and the chunks together.
-- Here: the chunk partitions of every existing day, and the points of the days already closed
-- moved into chunks. Never edit after it lands; add a new numbered migration instead.

CREATE TABLE point_chunk (
    series_id   integer            NOT NULL,
    -- The UTC hour the chunk holds.
    chunk_start timestamptz        NOT NULL,
    -- Sorted by (time, value); `vals[i]` is the value at `times[i]`.
    times       timestamptz[]      COMPRESSION lz4 NOT NULL,
    vals        double precision[] COMPRESSION lz4 NOT NULL,
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
        WHERE p.relname = 'point' AND c.relname::text ~ '^point_p[0-9]{8}$'
        ORDER BY 1
    LOOP
        day := to_date(substr(part, 8), 'YYYYMMDD');
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF point_chunk FOR VALUES FROM (%L) TO (%L)',
            'point_chunk_p' || to_char(day, 'YYYYMMDD'),
            day::text || ' 00:00:00+00',
            (day + 1)::text || ' 00:00:00+00');
        IF day + 1 <= (now() AT TIME ZONE 'UTC')::date THEN
            EXECUTE format(
                'INSERT INTO point_chunk (series_id, chunk_start, times, vals) '
                'SELECT series_id, date_bin(''1 hour'', time, timestamptz ''1970-01-01 00:00:00+00''), '
                'array_agg(time ORDER BY time, value), array_agg(value ORDER BY time, value) '
                'FROM %I GROUP BY 1, 2', part);
            EXECUTE format('TRUNCATE %I', part);
        END IF;
    END LOOP;
END
$$;

-- Every raw point, open or compacted, for people and tests reading by hand (the store's own
-- reads bound the chunks by `chunk_start` as well, which this view cannot).
CREATE VIEW point_all AS
    SELECT series_id, time, value FROM point
    UNION ALL
    SELECT c.series_id, u.time, u.value
    FROM point_chunk c CROSS JOIN LATERAL unnest(c.times, c.vals) AS u(time, value);
