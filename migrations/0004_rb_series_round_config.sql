-- rboinc: the configuration of a round in a sweep (`series submit --learning-rate 0.01,0.1 ...`).
-- A sweep runs every combination of the listed values (a configuration) with every seed; a
-- round's configuration is its index in that grid (0 for a series of one configuration), and
-- its job parameters are in `params` (JSON, like rb_series.params), NULL when they are the
-- series' own.
ALTER TABLE rb_series_round
    ADD COLUMN IF NOT EXISTS config INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS params TEXT NULL;
