//! The `app_version.xml_doc` BOINC's update_versions writes (plus `<md5_cksum>`): the
//! `<file_info>` of every file, then the `<app_version>` with its `<file_ref>`s — what the
//! scheduler sends a client with the version.

use rboinc_core::xml;

use super::PlannedVersion;

impl PlannedVersion {
    /// The `app_version.xml_doc` BOINC's update_versions writes (plus `<md5_cksum>`).
    pub fn xml_doc(&self) -> String {
        let mut s = String::new();
        for f in &self.files {
            s.push_str("<file_info>\n");
            s.push_str(&format!("    <name>{}</name>\n", xml::escape(&f.name)));
            s.push_str(&format!("    <url>{}</url>\n", xml::escape(&f.url)));
            if f.executable || f.main_program {
                s.push_str("    <executable/>\n");
            }
            s.push_str("    <file_signature>\n");
            s.push_str(&f.signature.to_text());
            s.push_str("    </file_signature>\n");
            s.push_str(&format!("    <nbytes>{}</nbytes>\n", f.md5.nbytes));
            s.push_str(&format!("    <md5_cksum>{}</md5_cksum>\n", f.md5.md5));
            s.push_str("</file_info>\n");
        }
        s.push_str("<app_version>\n");
        s.push_str(&format!(
            "    <app_name>{}</app_name>\n",
            xml::escape(&self.app)
        ));
        s.push_str(&format!(
            "    <version_num>{}</version_num>\n",
            self.version_num
        ));
        s.push_str(&format!(
            "    <api_version>{}</api_version>\n",
            xml::escape(&self.api_version)
        ));
        for f in &self.files {
            s.push_str("    <file_ref>\n");
            s.push_str(&format!(
                "        <file_name>{}</file_name>\n",
                xml::escape(&f.name)
            ));
            if let Some(open) = &f.open_name {
                s.push_str(&format!(
                    "        <open_name>{}</open_name>\n",
                    xml::escape(open)
                ));
            }
            if f.copy_file {
                s.push_str("        <copy_file/>\n");
            }
            if f.main_program {
                s.push_str("        <main_program/>\n");
            }
            s.push_str("    </file_ref>\n");
        }
        s.push_str(&self.flags_xml);
        s.push_str("</app_version>\n");
        s
    }
}
