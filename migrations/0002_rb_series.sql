-- rboinc: a series of training rounds submitted together (`series submit`).
-- One row per series; the rounds are in rb_series_round. The series is also a BOINC `batch`
-- row (batch_id), so stock tools see its workunits as one batch.
CREATE TABLE IF NOT EXISTS rb_series (
    id INTEGER NOT NULL AUTO_INCREMENT,
    name VARCHAR(191) NOT NULL,
    batch_id BIGINT NOT NULL DEFAULT 0,
    appid INTEGER NOT NULL,
    user_id INTEGER NOT NULL DEFAULT 0,
    create_time INTEGER NOT NULL,
    -- 0 active, 1 cancelled
    state SMALLINT NOT NULL DEFAULT 0,
    rounds INTEGER NOT NULL,
    -- The job parameters shared by every round, as JSON (sample_count, train_epochs, ...).
    params TEXT NOT NULL,
    -- The staged dataset bundle (a content-addressed name) and its canonical sha256.
    dataset_file VARCHAR(254) NOT NULL,
    dataset_sha256 VARCHAR(64) NOT NULL,
    min_quorum INTEGER NOT NULL,
    target_nresults INTEGER NOT NULL,
    delay_bound INTEGER NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY rb_series_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
