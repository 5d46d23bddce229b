-- Roll-ups of `point` at 1 minute and 1 hour, kept by the aggregator in the same transaction as
-- the points it inserts (only points of newly ingested messages, so a redelivered batch changes
-- nothing). Never edit after it lands; add a new numbered migration instead.
--
-- One row per (series, bucket): sum and count (avg = sum / count, re-bucketed as
-- sum(sum) / sum(count)), min, max, and the first and last value with their times (`last` of a
-- wider bucket is the `last_value` of its row with the greatest `last_time`; a counter's increase
-- within a bucket is `last_value - first_value`). Buckets are aligned to UTC (date_bin from the
-- epoch), whatever the session time zone. Not partitioned: see docs/architecture.md.
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
);

CREATE TABLE rollup_1h (LIKE rollup_1m INCLUDING ALL);

-- Backfill from the points an existing install already holds (the same values live maintenance
-- would have produced).
INSERT INTO rollup_1m (series_id, bucket_time, sum, count, min, max,
                       first_time, first_value, last_time, last_value)
SELECT series_id, date_bin('1 minute', time, timestamptz '1970-01-01 00:00:00+00') AS bucket_time,
       sum(value), count(*), min(value), max(value),
       min(time), (min(ARRAY[extract(epoch FROM time)::float8, value]))[2],
       max(time), (max(ARRAY[extract(epoch FROM time)::float8, value]))[2]
FROM point
GROUP BY 1, 2;

INSERT INTO rollup_1h (series_id, bucket_time, sum, count, min, max,
                       first_time, first_value, last_time, last_value)
SELECT series_id, date_bin('1 hour', bucket_time, timestamptz '1970-01-01 00:00:00+00'),
       sum(sum), sum(count), min(min), max(max),
       min(first_time), (min(ARRAY[extract(epoch FROM first_time)::float8, first_value]))[2],
       max(last_time), (max(ARRAY[extract(epoch FROM last_time)::float8, last_value]))[2]
FROM rollup_1m
GROUP BY 1, 2;
