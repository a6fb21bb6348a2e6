-- Baseline: the 17 tables of a stock BOINC project database that the rboinc
-- server, daemons and tools read or write.
--
-- Column names, order, types, nullability and defaults, and every index
-- (name, columns, uniqueness, direction, FULLTEXT) are those of a database
-- made by BOINC's make_project; the expected result is checked by the tests
-- against information_schema (core/src/db/baseline/*.tsv).
--
-- The migration runner never executes this file on a database that BOINC
-- already created: it verifies the existing tables and only records this
-- version as applied. Changing this file after release is therefore never an
-- option; add a later migration instead (see migrations/README.md).
--
-- Conventions kept from BOINC: times are Unix seconds in INTEGER unless the
-- column is DOUBLE; almost everything is NOT NULL; "blob" means 64 KiB.

CREATE TABLE platform (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    name                        VARCHAR(191)    NOT NULL,
    user_friendly_name          VARCHAR(254)    NOT NULL,
    deprecated                  TINYINT         NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE app (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    name                        VARCHAR(191)    NOT NULL,
    min_version                 INTEGER         NOT NULL DEFAULT 0,
    deprecated                  SMALLINT        NOT NULL DEFAULT 0,
    user_friendly_name          VARCHAR(254)    NOT NULL,
    homogeneous_redundancy      SMALLINT        NOT NULL DEFAULT 0,
    weight                      DOUBLE          NOT NULL DEFAULT 1,
    beta                        SMALLINT        NOT NULL DEFAULT 0,
    target_nresults             SMALLINT        NOT NULL DEFAULT 0,
    min_avg_pfc                 DOUBLE          NOT NULL DEFAULT 1,
    host_scale_check            TINYINT         NOT NULL DEFAULT 0,
    homogeneous_app_version     TINYINT         NOT NULL DEFAULT 0,
    non_cpu_intensive           TINYINT         NOT NULL DEFAULT 0,
    locality_scheduling         INTEGER         NOT NULL DEFAULT 0,
    n_size_classes              SMALLINT        NOT NULL DEFAULT 0,
    fraction_done_exact         TINYINT         NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE app_version (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    appid                       INTEGER         NOT NULL,
    version_num                 INTEGER         NOT NULL,
    platformid                  INTEGER         NOT NULL,
    xml_doc                     MEDIUMBLOB      NULL,
    min_core_version            INTEGER         NOT NULL DEFAULT 0,
    max_core_version            INTEGER         NOT NULL DEFAULT 0,
    deprecated                  TINYINT         NOT NULL DEFAULT 0,
    plan_class                  VARCHAR(128)    NOT NULL DEFAULT '',
    pfc_n                       DOUBLE          NOT NULL DEFAULT 0,
    pfc_avg                     DOUBLE          NOT NULL DEFAULT 0,
    pfc_scale                   DOUBLE          NOT NULL DEFAULT 0,
    expavg_credit               DOUBLE          NOT NULL DEFAULT 0,
    expavg_time                 DOUBLE          NOT NULL DEFAULT 0,
    beta                        TINYINT         NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY apvp (appid, platformid, version_num, plan_class)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Volunteers' accounts. `posts` doubles as the weak-authenticator salt and
-- `seti_id` as the remote-submission "run jobs on my hosts" flag.
CREATE TABLE user (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    email_addr                  VARCHAR(191)    NOT NULL,
    name                        VARCHAR(191)    NULL,
    authenticator               VARCHAR(191)    NULL,
    country                     VARCHAR(254)    NULL,
    postal_code                 VARCHAR(254)    NULL,
    total_credit                DOUBLE          NOT NULL,
    expavg_credit               DOUBLE          NOT NULL,
    expavg_time                 DOUBLE          NOT NULL,
    global_prefs                BLOB            NULL,
    project_prefs               BLOB            NULL,
    teamid                      INTEGER         NOT NULL,
    venue                       VARCHAR(254)    NOT NULL,
    url                         VARCHAR(254)    NULL,
    send_email                  SMALLINT        NOT NULL,
    show_hosts                  SMALLINT        NOT NULL,
    posts                       SMALLINT        NOT NULL,
    seti_id                     INTEGER         NOT NULL,
    seti_nresults               INTEGER         NOT NULL,
    seti_last_result_time       INTEGER         NOT NULL,
    seti_total_cpu              DOUBLE          NOT NULL,
    signature                   VARCHAR(254)    NULL,
    has_profile                 SMALLINT        NOT NULL,
    cross_project_id            VARCHAR(254)    NOT NULL,
    passwd_hash                 VARCHAR(254)    NOT NULL,
    email_validated             SMALLINT        NOT NULL,
    donated                     SMALLINT        NOT NULL,
    login_token                 CHAR(32)        NOT NULL DEFAULT '',
    login_token_time            DOUBLE          NOT NULL DEFAULT 0,
    previous_email_addr         VARCHAR(254)    NOT NULL DEFAULT '',
    email_addr_change_time      DOUBLE          NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY email_addr (email_addr),
    UNIQUE KEY authenticator (authenticator),
    UNIQUE KEY name (name),
    KEY ind_tid (teamid),
    KEY user_tot (total_credit DESC),
    KEY user_avg (expavg_credit DESC),
    KEY user_email_time (email_addr_change_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE team (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    userid                      INTEGER         NOT NULL,
    name                        VARCHAR(191)    NOT NULL,
    name_lc                     VARCHAR(254)    NULL,
    url                         VARCHAR(254)    NULL,
    type                        INTEGER         NOT NULL,
    name_html                   VARCHAR(254)    NULL,
    description                 TEXT            NULL,
    nusers                      INTEGER         NOT NULL,
    country                     VARCHAR(254)    NULL,
    total_credit                DOUBLE          NOT NULL DEFAULT 0,
    expavg_credit               DOUBLE          NOT NULL DEFAULT 0,
    expavg_time                 DOUBLE          NOT NULL,
    seti_id                     INTEGER         NOT NULL DEFAULT 0,
    ping_user                   INTEGER         NOT NULL DEFAULT 0,
    ping_time                   INTEGER UNSIGNED NOT NULL DEFAULT 0,
    joinable                    TINYINT         NOT NULL DEFAULT 1,
    mod_time                    TIMESTAMP       NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY (id),
    UNIQUE KEY name (name),
    FULLTEXT KEY team_name_desc (name, description),
    KEY team_avg (expavg_credit DESC),
    KEY team_tot (total_credit DESC),
    KEY team_userid (userid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Volunteers' computers; most columns are copied from each scheduler request.
CREATE TABLE host (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    userid                      INTEGER         NOT NULL,
    rpc_seqno                   INTEGER         NOT NULL,
    rpc_time                    INTEGER         NOT NULL,
    total_credit                DOUBLE          NOT NULL,
    expavg_credit               DOUBLE          NOT NULL,
    expavg_time                 DOUBLE          NOT NULL,
    timezone                    INTEGER         NOT NULL,
    domain_name                 VARCHAR(254)    NULL,
    serialnum                   VARCHAR(254)    NULL,
    last_ip_addr                VARCHAR(254)    NULL,
    nsame_ip_addr               INTEGER         NOT NULL,
    on_frac                     DOUBLE          NOT NULL,
    connected_frac              DOUBLE          NOT NULL,
    active_frac                 DOUBLE          NOT NULL,
    cpu_efficiency              DOUBLE          NOT NULL,
    duration_correction_factor  DOUBLE          NOT NULL,
    p_ncpus                     INTEGER         NOT NULL,
    p_vendor                    VARCHAR(254)    NULL,
    p_model                     VARCHAR(254)    NULL,
    p_fpops                     DOUBLE          NOT NULL,
    p_iops                      DOUBLE          NOT NULL,
    p_membw                     DOUBLE          NOT NULL,
    os_name                     VARCHAR(254)    NULL,
    os_version                  VARCHAR(254)    NULL,
    m_nbytes                    DOUBLE          NOT NULL,
    m_cache                     DOUBLE          NOT NULL,
    m_swap                      DOUBLE          NOT NULL,
    d_total                     DOUBLE          NOT NULL,
    d_free                      DOUBLE          NOT NULL,
    d_boinc_used_total          DOUBLE          NOT NULL,
    d_boinc_used_project        DOUBLE          NOT NULL,
    d_boinc_max                 DOUBLE          NOT NULL,
    n_bwup                      DOUBLE          NOT NULL,
    n_bwdown                    DOUBLE          NOT NULL,
    credit_per_cpu_sec          DOUBLE          NOT NULL,
    venue                       VARCHAR(254)    NOT NULL,
    nresults_today              INTEGER         NOT NULL,
    avg_turnaround              DOUBLE          NOT NULL,
    host_cpid                   VARCHAR(254)    NULL,
    external_ip_addr            VARCHAR(254)    NULL,
    max_results_day             INTEGER         NOT NULL,
    error_rate                  DOUBLE          NOT NULL DEFAULT 0,
    product_name                VARCHAR(254)    NOT NULL,
    gpu_active_frac             DOUBLE          NOT NULL,
    p_ngpus                     INTEGER         NOT NULL,
    p_gpu_fpops                 DOUBLE          NOT NULL,
    misc                        TEXT            NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    KEY host_userid_cpid (userid, host_cpid),
    KEY host_domain_name (domain_name),
    KEY host_avg (expavg_credit DESC),
    KEY host_tot (total_credit DESC)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Per (host, app version) statistics and quotas. BOINC gives it no primary
-- key, only the unique `hap`; app_version_id is the "generalized" id
-- (negative ids of anonymous-platform versions are folded with the app id).
CREATE TABLE host_app_version (
    host_id                     INTEGER         NOT NULL,
    app_version_id              INTEGER         NOT NULL,
    pfc_n                       DOUBLE          NOT NULL,
    pfc_avg                     DOUBLE          NOT NULL,
    et_n                        DOUBLE          NOT NULL,
    et_avg                      DOUBLE          NOT NULL,
    et_var                      DOUBLE          NOT NULL,
    et_q                        DOUBLE          NOT NULL,
    max_jobs_per_day            INTEGER         NOT NULL,
    n_jobs_today                INTEGER         NOT NULL,
    turnaround_n                DOUBLE          NOT NULL,
    turnaround_avg              DOUBLE          NOT NULL,
    turnaround_var              DOUBLE          NOT NULL,
    turnaround_q                DOUBLE          NOT NULL,
    consecutive_valid           INTEGER         NOT NULL,
    UNIQUE KEY hap (host_id, app_version_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Jobs. transition_time is the transitioner's wake-up time (2147483647 =
-- never); the wu_* indexes serve the daemons' polling queries.
CREATE TABLE workunit (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    appid                       INTEGER         NOT NULL,
    name                        VARCHAR(191)    NOT NULL,
    xml_doc                     BLOB            NULL,
    batch                       INTEGER         NOT NULL,
    rsc_fpops_est               DOUBLE          NOT NULL,
    rsc_fpops_bound             DOUBLE          NOT NULL,
    rsc_memory_bound            DOUBLE          NOT NULL,
    rsc_disk_bound              DOUBLE          NOT NULL,
    need_validate               SMALLINT        NOT NULL,
    canonical_resultid          INTEGER         NOT NULL,
    canonical_credit            DOUBLE          NOT NULL,
    transition_time             INTEGER         NOT NULL,
    delay_bound                 INTEGER         NOT NULL,
    error_mask                  INTEGER         NOT NULL,
    file_delete_state           INTEGER         NOT NULL,
    assimilate_state            INTEGER         NOT NULL,
    hr_class                    INTEGER         NOT NULL,
    opaque                      DOUBLE          NOT NULL,
    min_quorum                  INTEGER         NOT NULL,
    target_nresults             INTEGER         NOT NULL,
    max_error_results           INTEGER         NOT NULL,
    max_total_results           INTEGER         NOT NULL,
    max_success_results         INTEGER         NOT NULL,
    result_template_file        VARCHAR(63)     NOT NULL,
    priority                    INTEGER         NOT NULL,
    mod_time                    TIMESTAMP       NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    rsc_bandwidth_bound         DOUBLE          NOT NULL,
    fileset_id                  INTEGER         NOT NULL,
    app_version_id              INTEGER         NOT NULL,
    transitioner_flags          TINYINT         NOT NULL,
    size_class                  SMALLINT        NOT NULL DEFAULT -1,
    keywords                    VARCHAR(254)    NOT NULL,
    app_version_num             INTEGER         NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY name (name),
    KEY wu_val (appid, need_validate),
    KEY wu_timeout (transition_time),
    KEY wu_filedel (file_delete_state),
    KEY wu_assim (appid, assimilate_state),
    KEY wu_batch (batch)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Replicas of jobs ("results" in BOINC's words). ind_res_st is the feeder's
-- index; the scheduler finds reported results by the unique name.
CREATE TABLE result (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    workunitid                  INTEGER         NOT NULL,
    server_state                INTEGER         NOT NULL,
    outcome                     INTEGER         NOT NULL,
    client_state                INTEGER         NOT NULL,
    hostid                      INTEGER         NOT NULL,
    userid                      INTEGER         NOT NULL,
    report_deadline             INTEGER         NOT NULL,
    sent_time                   INTEGER         NOT NULL,
    received_time               INTEGER         NOT NULL,
    name                        VARCHAR(191)    NOT NULL,
    cpu_time                    DOUBLE          NOT NULL,
    xml_doc_in                  BLOB            NULL,
    xml_doc_out                 BLOB            NULL,
    stderr_out                  BLOB            NULL,
    batch                       INTEGER         NOT NULL,
    file_delete_state           INTEGER         NOT NULL,
    validate_state              INTEGER         NOT NULL,
    claimed_credit              DOUBLE          NOT NULL,
    granted_credit              DOUBLE          NOT NULL,
    opaque                      DOUBLE          NOT NULL,
    random                      INTEGER         NOT NULL,
    app_version_num             INTEGER         NOT NULL,
    appid                       INTEGER         NOT NULL,
    exit_status                 INTEGER         NOT NULL,
    teamid                      INTEGER         NOT NULL,
    priority                    INTEGER         NOT NULL,
    mod_time                    TIMESTAMP       NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    elapsed_time                DOUBLE          NOT NULL,
    flops_estimate              DOUBLE          NOT NULL,
    app_version_id              INTEGER         NOT NULL,
    runtime_outlier             TINYINT         NOT NULL,
    size_class                  SMALLINT        NOT NULL DEFAULT -1,
    peak_working_set_size       DOUBLE          NOT NULL,
    peak_swap_size              DOUBLE          NOT NULL,
    peak_disk_usage             DOUBLE          NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY name (name),
    KEY res_wuid (workunitid),
    KEY ind_res_st (server_state, priority),
    KEY res_app_state (appid, server_state),
    KEY res_filedel (file_delete_state),
    KEY res_userid_id (userid, id DESC),
    KEY res_userid_val (userid, validate_state),
    KEY res_hostid_id (hostid, id DESC),
    KEY res_batch (batch)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Remote job submission: batches, submitters' rights, staged files.
CREATE TABLE batch (
    id                          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_id                     INTEGER         NOT NULL,
    create_time                 INTEGER         NOT NULL,
    logical_start_time          DOUBLE          NOT NULL,
    logical_end_time            DOUBLE          NOT NULL,
    est_completion_time         DOUBLE          NOT NULL,
    njobs                       INTEGER         NOT NULL,
    fraction_done               DOUBLE          NOT NULL,
    nerror_jobs                 INTEGER         NOT NULL,
    state                       INTEGER         NOT NULL,
    completion_time             DOUBLE          NOT NULL,
    credit_estimate             DOUBLE          NOT NULL,
    credit_canonical            DOUBLE          NOT NULL,
    credit_total                DOUBLE          NOT NULL,
    name                        VARCHAR(255)    NOT NULL,
    app_id                      INTEGER         NOT NULL,
    project_state               INTEGER         NOT NULL,
    description                 VARCHAR(255)    NOT NULL,
    expire_time                 DOUBLE          NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE user_submit (
    user_id                     INTEGER         NOT NULL,
    quota                       DOUBLE          NOT NULL,
    logical_start_time          DOUBLE          NOT NULL,
    submit_all                  TINYINT         NOT NULL,
    manage_all                  TINYINT         NOT NULL,
    max_jobs_in_progress        INTEGER         NOT NULL,
    PRIMARY KEY (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE user_submit_app (
    user_id                     INTEGER         NOT NULL,
    app_id                      INTEGER         NOT NULL,
    manage                      TINYINT         NOT NULL,
    PRIMARY KEY (user_id, app_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE job_file (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    name                        VARCHAR(191)    NOT NULL,
    create_time                 DOUBLE          NOT NULL,
    delete_time                 DOUBLE          NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY jf_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Trickle messages, both directions.
CREATE TABLE msg_from_host (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    hostid                      INTEGER         NOT NULL,
    variety                     VARCHAR(254)    NOT NULL,
    handled                     SMALLINT        NOT NULL,
    xml                         MEDIUMTEXT      NULL,
    PRIMARY KEY (id),
    KEY message_handled (handled),
    KEY message_hostid (hostid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE msg_to_host (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    hostid                      INTEGER         NOT NULL,
    variety                     VARCHAR(254)    NOT NULL,
    handled                     SMALLINT        NOT NULL,
    xml                         MEDIUMTEXT      NULL,
    PRIMARY KEY (id),
    KEY msg_to_host (hostid, handled)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Jobs targeted at a host, user or team (target_type 1, 2, 3), or broadcast.
CREATE TABLE assignment (
    id                          INTEGER         NOT NULL AUTO_INCREMENT,
    create_time                 INTEGER         NOT NULL,
    target_id                   INTEGER         NOT NULL,
    target_type                 INTEGER         NOT NULL,
    multi                       TINYINT         NOT NULL,
    workunitid                  INTEGER         NOT NULL,
    resultid                    INTEGER         NOT NULL,
    PRIMARY KEY (id),
    KEY asgn_target (target_type, target_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- (user, job) pairs already credited, written by validators run with
-- --update_credited_job; workunitid holds the job's `opaque` value.
CREATE TABLE credited_job (
    userid                      INTEGER         NOT NULL,
    workunitid                  BIGINT          NOT NULL,
    KEY credited_job_user (userid),
    KEY credited_job_wu (workunitid),
    UNIQUE KEY credited_job_user_wu (userid, workunitid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
