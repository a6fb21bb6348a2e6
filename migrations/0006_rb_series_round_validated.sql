-- rboinc: when the work generator first saw a chain round's workunit with its canonical result.
-- BOINC's tables keep no time of validation (the validator sets `canonical_resultid` and
-- `transition_time`, which the transitioner overwrites), and the series report splits each
-- generation's time at that moment: results reported → validated → next generation created.
-- 0 while not validated, and for rounds of plain series (only chains are watched); -1 for
-- rounds already validated when this column was added (the time is not known).
ALTER TABLE rb_series_round ADD COLUMN IF NOT EXISTS validated_time INTEGER NOT NULL DEFAULT 0;
UPDATE rb_series_round r JOIN workunit w ON w.id = r.workunit_id
    SET r.validated_time = -1 WHERE r.validated_time = 0 AND w.canonical_resultid <> 0;
