-- rboinc: one training round of a series. `work_generator` turns queued rounds (state 0) into
-- workunits (state 1, workunit_id set) a few at a time; `series cancel` marks the rest 2.
CREATE TABLE IF NOT EXISTS rb_series_round (
    id INTEGER NOT NULL AUTO_INCREMENT,
    series_id INTEGER NOT NULL,
    round INTEGER NOT NULL,
    seed BIGINT UNSIGNED NOT NULL,
    -- 0 queued, 1 workunit created, 2 cancelled before creation
    state SMALLINT NOT NULL DEFAULT 0,
    workunit_id INTEGER NOT NULL DEFAULT 0,
    wu_name VARCHAR(191) NOT NULL,
    create_time INTEGER NOT NULL,
    created_time INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY rb_series_round_sr (series_id, round),
    KEY rb_series_round_state (state, series_id, round),
    KEY rb_series_round_wu (workunit_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
