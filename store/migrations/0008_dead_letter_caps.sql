-- Dead letters are bounded: the aggregator keeps at most 64 KiB of a message's raw bytes and a
-- few hundred bytes of its reason. The original size and how much of it was cut are recorded.
-- Rows stored before this migration kept the whole message: their size is that of `raw`.
ALTER TABLE dead_letter
    ADD COLUMN raw_size_bytes bigint,
    ADD COLUMN raw_cut_bytes  bigint NOT NULL DEFAULT 0;

-- octet_length of a stored bytea reads its header, not the value. Reasons of older rows that
-- quoted a whole body (a flood made them hundreds of KB each) are cut like new ones.
UPDATE dead_letter
   SET raw_size_bytes = octet_length(raw),
       reason = CASE WHEN octet_length(reason) > 400
                     THEN left(reason, 200) || ' … (cut, ' || (length(reason) - 200) || ' characters)'
                     ELSE reason END;

ALTER TABLE dead_letter ALTER COLUMN raw_size_bytes SET NOT NULL;
