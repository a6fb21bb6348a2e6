//! Rows for unit tests.

use rboinc_core::db::result::ResultRow;
use rboinc_core::db::{AppVersionId, HostId, ResultId};
use rboinc_core::state::{ClientState, FileDeleteState, Outcome, ServerState, ValidateState};

/// A successful, unvalidated result `id` of workunit 1, from host `id`.
pub fn result(id: i64) -> ResultRow {
    ResultRow {
        id: ResultId(id),
        create_time: 0,
        workunitid: 1.into(),
        server_state: ServerState::Over,
        outcome: Outcome::Success,
        client_state: ClientState::FilesUploaded,
        hostid: HostId(id),
        userid: id.into(),
        report_deadline: 0,
        sent_time: 1000,
        received_time: 7600,
        name: format!("r_{id}"),
        cpu_time: 100.0,
        xml_doc_in: String::new(),
        xml_doc_out: String::new(),
        stderr_out: String::new(),
        batch: 0.into(),
        file_delete_state: FileDeleteState::Init,
        validate_state: ValidateState::Init,
        claimed_credit: 0.0,
        granted_credit: 0.0,
        opaque: 0.0,
        random: 0,
        app_version_num: 100,
        appid: 1.into(),
        exit_status: 0,
        teamid: 0.into(),
        priority: 0,
        elapsed_time: 100.0,
        flops_estimate: 2e9,
        app_version_id: AppVersionId(1),
        runtime_outlier: 0,
        size_class: -1,
        peak_working_set_size: 0.0,
        peak_swap_size: 0.0,
        peak_disk_usage: 0.0,
    }
}
