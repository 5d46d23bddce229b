-- The latest sample per (source, host, process): every process on a host (aggregator, API,
-- supervisor, each collector) publishes its own self-metrics under the one `exporter` source, so
-- each needs a latest row of its own. Every other source has one publisher per host and keeps
-- process ''.
ALTER TABLE latest_sample ADD COLUMN process text NOT NULL DEFAULT '';
ALTER TABLE latest_sample DROP CONSTRAINT latest_sample_pkey;
ALTER TABLE latest_sample ADD PRIMARY KEY (source, host, process);
