-- rboinc: a series whose rounds are the generations of one model (`series submit
-- --generations`). Round g + 1's workunit is created only once round g's canonical result is
-- chosen, with that result's state.bin as an input; `work_generator` does it.
CREATE TABLE IF NOT EXISTS rb_series_chain (
    series_id INTEGER NOT NULL,
    generations INTEGER NOT NULL,
    epochs_per_generation INTEGER NOT NULL,
    -- 0 running, 1 stopped (a generation failed for good; `series resume` restarts it)
    state SMALLINT NOT NULL DEFAULT 0,
    stop_reason VARCHAR(1000) NOT NULL DEFAULT '',
    -- the newest staged state: the generation that computed it, its staged name, when staged
    state_round INTEGER NOT NULL DEFAULT 0,
    state_file VARCHAR(191) NOT NULL DEFAULT '',
    state_time INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (series_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
