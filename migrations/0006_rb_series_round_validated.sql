-- rboinc: when the work generator first saw a chain round's workunit with its canonical result.
-- BOINC's tables keep no time of validation (the validator sets `canonical_resultid` and
-- `transition_time`, which the transitioner overwrites), and the series report splits each
-- generation's time at that moment: results reported → validated → next generation created.
-- 0 while not validated, and for rounds of plain series (only chains are watched).
ALTER TABLE rb_series_round ADD COLUMN IF NOT EXISTS validated_time INTEGER NOT NULL DEFAULT 0;
