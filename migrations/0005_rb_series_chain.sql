-- rboinc: a series whose rounds are the generations of one model (`series submit
-- --generations`), K rounds per generation with `--shards K`. Generation g + 1's workunits are
-- created only once generation g's canonical results are chosen, with the state they computed
-- (averaged over the shards) as an input; `work_generator` does it.
CREATE TABLE IF NOT EXISTS rb_series_chain (
    series_id INTEGER NOT NULL,
    generations INTEGER NOT NULL,
    epochs_per_generation INTEGER NOT NULL,
    -- workunits per generation: 1 chained, K > 1 federated averaging over K shards
    shards INTEGER NOT NULL DEFAULT 1,
    -- 0 running, 1 stopped (a generation failed for good; `series resume` restarts it)
    state SMALLINT NOT NULL DEFAULT 0,
    stop_reason VARCHAR(1000) NOT NULL DEFAULT '',
    -- the newest staged state: the generation that computed it, its staged name, when staged
    state_round INTEGER NOT NULL DEFAULT 0,
    state_file VARCHAR(191) NOT NULL DEFAULT '',
    state_time INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (series_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
