//! Handing a generation's start state to BOINC's file deleter once no workunit needs it.
//!
//! Generation g + 1's workunits take generation g's staged state (`mnist_state_<sha256>`) as
//! `start_state.bin`. The chain input template marks it `<no_delete/>`, because while
//! generation g + 1 can still fail, `series resume` creates it again from the same file — and
//! the upload it was staged from is gone by then (the file deleter removes a result's outputs
//! after assimilation). In federated mode the K shards of g + 1 share the one file, so it
//! must also outlive the first shard's assimilation.
//!
//! Once every workunit of g + 1 has its canonical result, nothing will be created from the file
//! again. The work generator then drops `<no_delete/>` from that file's `<file_info>` in the
//! workunits' `xml_doc`, and the normal path takes over: the transitioner marks each
//! workunit's files for deletion when it is assimilated and all its results are over, and the
//! file deleter removes the state with the job file (the shards after the first find it
//! already gone, which is fine). A workunit whose files were already deleted before the
//! change (a slow or stopped work generator) is marked for deletion again, so the file
//! deleter still takes the state. The dataset keeps its `<no_delete/>`; the final
//! generation's state is never staged (the exported model is the assimilated result).

use rboinc_core::db;
use rboinc_core::state::FileDeleteState;

/// `xml_doc` without `<no_delete/>` in the `<file_info>` named `name`, or `None` if that
/// `<file_info>` has none (or is not there).
pub fn without_no_delete(xml_doc: &str, name: &str) -> Option<String> {
    const OPEN: &str = "<file_info>";
    const CLOSE: &str = "</file_info>";
    const FLAG: &str = "<no_delete/>";
    let wanted = format!("<name>{name}</name>");
    let mut from = 0;
    while let Some(at) = xml_doc[from..].find(OPEN) {
        let start = from + at;
        let end = start + xml_doc[start..].find(CLOSE)? + CLOSE.len();
        let info = &xml_doc[start..end];
        if info.contains(&wanted) {
            let flag = info.find(FLAG)?;
            // The flag and the indentation before it, so no blank line is left.
            let cut = info[..flag].trim_end_matches([' ', '\t']).len();
            let cut = if info[..cut].ends_with('\n') {
                cut - 1
            } else {
                cut
            };
            let info = format!("{}{}", &info[..cut], &info[flag + FLAG.len()..]);
            let info = info.replace(FLAG, "");
            return Some(format!("{}{info}{}", &xml_doc[..start], &xml_doc[end..]));
        }
        from = end;
    }
    None
}

/// Lets the file deleter remove the staged state `name` with workunits `ids` (see the module
/// docs). Returns the workunits changed; a second call changes none.
pub async fn start_state(pool: &db::Pool, ids: &[i64], name: &str) -> Result<usize, sqlx::Error> {
    let tag = format!("<name>{name}</name>");
    let mut rows = Vec::with_capacity(ids.len());
    for &id in ids {
        // Only when that file's `<file_info>` (the text between the `<file_info>` before its
        // name and the `</file_info>` after) still has the flag: a finished chain is looked
        // at every pass, and this transfers nothing then.
        let doc: Option<String> = sqlx::query_scalar(
            "SELECT CAST(xml_doc AS CHAR) FROM workunit \
             WHERE id = ? AND LOCATE(?, xml_doc) > 0 AND ( \
             SUBSTRING_INDEX(SUBSTRING(xml_doc, 1, LOCATE(?, xml_doc)), '<file_info>', -1) \
             LIKE '%<no_delete/>%' OR \
             SUBSTRING_INDEX(SUBSTRING(xml_doc, LOCATE(?, xml_doc)), '</file_info>', 1) \
             LIKE '%<no_delete/>%')",
        )
        .bind(id)
        .bind(&tag)
        .bind(&tag)
        .bind(&tag)
        .fetch_optional(pool)
        .await?;
        rows.extend(doc.map(|d| (id, d)));
    }
    let mut changed = 0;
    for (id, xml_doc) in rows {
        let Some(new_doc) = without_no_delete(&xml_doc, name) else {
            continue;
        };
        let done = sqlx::query(
            "UPDATE workunit SET xml_doc = ?, \
             file_delete_state = IF(file_delete_state = ?, ?, file_delete_state) \
             WHERE id = ? AND xml_doc = ?",
        )
        .bind(&new_doc)
        .bind(FileDeleteState::Done as i32)
        .bind(FileDeleteState::Ready as i32)
        .bind(id)
        .bind(&xml_doc)
        .execute(pool)
        .await?;
        if done.rows_affected() > 0 {
            changed += 1;
            tracing::debug!(wu_id = id, file = %name, "start state handed to the file deleter");
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "<file_info>\n    <name>c_2_job.json</name>\n</file_info>\n\
        <file_info>\n    <name>mnist_data</name>\n    <sticky/>\n    <no_delete/>\n</file_info>\n\
        <file_info>\n    <name>mnist_state_ab</name>\n    <nbytes>3</nbytes>\n    <no_delete/>\n</file_info>\n\
        <workunit>\n</workunit>\n";

    #[test]
    fn only_the_named_file_loses_its_flag() {
        let d = without_no_delete(DOC, "mnist_state_ab").unwrap();
        assert_eq!(
            d,
            DOC.replace(
                "<nbytes>3</nbytes>\n    <no_delete/>\n",
                "<nbytes>3</nbytes>\n"
            )
        );
        assert!(
            d.contains("<sticky/>\n    <no_delete/>"),
            "the dataset keeps it"
        );
        assert_eq!(without_no_delete(&d, "mnist_state_ab"), None, "once");
    }

    /// As `create_work` renders a template: the template's flags before the name.
    #[test]
    fn flags_before_the_name_are_found_too() {
        let doc = "<file_info>\n<sticky/>\n<no_delete/>\n    <name>d</name>\n</file_info>\n\
            <file_info>\n<no_delete/>\n    <name>mnist_state_ab</name>\n</file_info>\n";
        assert_eq!(
            without_no_delete(doc, "mnist_state_ab").unwrap(),
            "<file_info>\n<sticky/>\n<no_delete/>\n    <name>d</name>\n</file_info>\n\
            <file_info>\n    <name>mnist_state_ab</name>\n</file_info>\n"
        );
    }

    #[test]
    fn a_file_without_the_flag_or_absent_is_left_alone() {
        assert_eq!(without_no_delete(DOC, "c_2_job.json"), None);
        assert_eq!(without_no_delete(DOC, "mnist_state_cd"), None);
        assert_eq!(without_no_delete(DOC, "mnist_state_a"), None);
    }
}
