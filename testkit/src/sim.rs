//! Scripted clients: scheduler requests and uploads in the shape the real 7.20.5 client sends
//! (`fixtures/client-7.20.5/05_…`, `10_…`, `11_…`), and a reader for the replies.
//!
//! For load tests that need many hosts at once; the end-to-end test uses real clients.

use rboinc_core::md5file::Md5Hex;
use rboinc_core::xml::{raw_element, raw_elements, text};

/// A job a reply sent, with what uploading and reporting it needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SentJob {
    pub name: String,
    pub wu_name: String,
    pub report_deadline: i64,
    pub version_num: i32,
    pub platform: String,
    /// Output files: name, max_nbytes text, upload signature text.
    pub outputs: Vec<OutputFile>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputFile {
    pub name: String,
    pub max_nbytes: String,
    pub xml_signature: String,
    pub url: String,
}

/// What a scheduler reply said.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    pub hostid: Option<i64>,
    pub jobs: Vec<SentJob>,
    pub acks: Vec<String>,
    pub messages: Vec<String>,
    pub code_sign_key: Option<String>,
    pub request_delay: Option<f64>,
    pub next_rpc_delay: Option<f64>,
    pub project_is_down: bool,
    /// `<app_version>` version numbers sent.
    pub app_versions: Vec<i32>,
    /// Names of the files of those app versions (with `<file_signature>`).
    pub signed_files: Vec<String>,
}

/// Reads a `<scheduler_reply>`.
pub fn parse_reply(reply: &str) -> Reply {
    let body = raw_element(reply, "scheduler_reply").unwrap_or("");
    let file_infos = raw_elements(body, "file_info");
    let outputs_by_name = |name: &str| {
        file_infos
            .iter()
            .find(|fi| text(fi, "name").as_deref() == Some(name) && fi.contains("<max_nbytes>"))
            .map(|fi| OutputFile {
                name: name.to_string(),
                max_nbytes: raw_element(fi, "max_nbytes").unwrap_or("").to_string(),
                xml_signature: raw_element(fi, "xml_signature").unwrap_or("").to_string(),
                url: text(fi, "url").unwrap_or_default(),
            })
    };
    let jobs = raw_elements(body, "result")
        .into_iter()
        .map(|r| SentJob {
            name: text(r, "name").unwrap_or_default(),
            wu_name: text(r, "wu_name").unwrap_or_default(),
            report_deadline: rboinc_core::xml::parse(r, "report_deadline").unwrap_or(0),
            version_num: rboinc_core::xml::parse(r, "version_num").unwrap_or(0),
            platform: text(r, "platform").unwrap_or_default(),
            outputs: raw_elements(r, "file_ref")
                .into_iter()
                .filter_map(|f| text(f, "file_name"))
                .filter_map(|n| outputs_by_name(&n))
                .collect(),
        })
        .collect();
    Reply {
        hostid: rboinc_core::xml::parse(body, "hostid"),
        jobs,
        acks: raw_elements(body, "result_ack")
            .into_iter()
            .filter_map(|a| text(a, "name"))
            .collect(),
        messages: body
            .split("<message ")
            .skip(1)
            .filter_map(|m| {
                m.split_once('>')
                    .and_then(|(_, t)| t.split_once("</message>"))
            })
            .map(|(t, _)| t.to_string())
            .collect(),
        code_sign_key: raw_element(body, "code_sign_key").map(str::to_string),
        request_delay: rboinc_core::xml::parse(body, "request_delay"),
        next_rpc_delay: rboinc_core::xml::parse(body, "next_rpc_delay"),
        project_is_down: body.contains("<project_is_down/>"),
        app_versions: raw_elements(body, "app_version")
            .into_iter()
            .filter_map(|v| rboinc_core::xml::parse(v, "version_num"))
            .collect(),
        signed_files: file_infos
            .iter()
            .filter(|fi| fi.contains("<file_signature>"))
            .filter_map(|fi| text(fi, "name"))
            .collect(),
    }
}

/// A finished job to report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub job: SentJob,
    /// Client state: 5 uploaded, 3 compute error.
    pub state: i32,
    pub exit_status: i32,
    /// Contents of each output file, in `job.outputs` order.
    pub outputs: Vec<Vec<u8>>,
}

/// One simulated host of an account.
#[derive(Debug, Clone, PartialEq)]
pub struct SimHost {
    pub authenticator: String,
    pub hostid: i64,
    pub rpc_seqno: i32,
    /// The client's own CPID (md5 of MAC and data directory on a real client).
    pub cpid: String,
    pub code_sign_key: Option<String>,
    /// Jobs it holds (listed as `<other_results>`).
    pub holding: Vec<SentJob>,
}

impl SimHost {
    /// A new host (first contact) of the account with key `authenticator`; `seed` makes its
    /// CPID unique.
    pub fn new(authenticator: &str, seed: &str) -> SimHost {
        SimHost {
            authenticator: authenticator.to_string(),
            hostid: 0,
            rpc_seqno: 0,
            cpid: Md5Hex::of_bytes(seed.as_bytes()).as_str().to_string(),
            code_sign_key: None,
            holding: Vec::new(),
        }
    }

    /// A scheduler request asking for `work_secs` seconds of work and reporting `reports`.
    pub fn request(&self, work_secs: f64, reports: &[Report]) -> String {
        let mut r = String::with_capacity(4096);
        r.push_str("<scheduler_request>\n");
        r.push_str(&format!(
            "    <authenticator>{}</authenticator>\n    <hostid>{}</hostid>\n    <rpc_seqno>{}</rpc_seqno>\n",
            self.authenticator, self.hostid, self.rpc_seqno
        ));
        r.push_str(
            "    <core_client_major_version>7</core_client_major_version>\n    \
             <core_client_minor_version>20</core_client_minor_version>\n    \
             <core_client_release>5</core_client_release>\n    \
             <resource_share_fraction>1.000000</resource_share_fraction>\n    \
             <allow_multiple_clients>1</allow_multiple_clients>\n    <sandbox>0</sandbox>\n    \
             <dont_send_work>0</dont_send_work>\n",
        );
        let instances = if work_secs > 0.0 { 1.0 } else { 0.0 };
        r.push_str(&format!(
            "    <work_req_seconds>{work_secs:.6}</work_req_seconds>\n    <cpu_req_secs>{work_secs:.6}</cpu_req_secs>\n    \
             <cpu_req_instances>{instances:.6}</cpu_req_instances>\n    <estimated_delay>0.000000</estimated_delay>\n    \
             <platform_name>x86_64-pc-linux-gnu</platform_name>\n"
        ));
        if let Some(key) = &self.code_sign_key {
            r.push_str(&format!("    <code_sign_key>\n{key}\n</code_sign_key>\n"));
        }
        r.push_str(&format!(
            "<host_info>\n    <timezone>0</timezone>\n    <domain_name>sim</domain_name>\n    \
             <ip_addr>127.0.0.1</ip_addr>\n    <host_cpid>{}</host_cpid>\n    <p_ncpus>2</p_ncpus>\n    \
             <p_vendor>SimVendor</p_vendor>\n    <p_model>Sim CPU</p_model>\n    \
             <p_fpops>1000000000.000000</p_fpops>\n    <p_iops>1000000000.000000</p_iops>\n    \
             <m_nbytes>8000000000.000000</m_nbytes>\n    <d_total>100000000000.000000</d_total>\n    \
             <d_free>50000000000.000000</d_free>\n    <os_name>Linux Sim</os_name>\n    \
             <os_version>1.0</os_version>\n</host_info>\n",
            self.cpid
        ));
        for rep in reports {
            r.push_str(&report_xml(rep));
        }
        r.push_str("<other_results>\n");
        for j in &self.holding {
            if !reports.iter().any(|rep| rep.job.name == j.name) {
                r.push_str(&format!(
                    "    <other_result>\n        <name>{}</name>\n        <app_version>0</app_version>\n    </other_result>\n",
                    j.name
                ));
            }
        }
        r.push_str("</other_results>\n</scheduler_request>\n");
        r
    }

    /// Takes in a reply as the client does: a new host id resets the sequence number, a key
    /// is kept, sent jobs are held, acknowledged ones dropped.
    pub fn absorb(&mut self, reply: &Reply) {
        match reply.hostid {
            Some(id) => {
                self.hostid = id;
                self.rpc_seqno = 0;
            }
            None => self.rpc_seqno += 1,
        }
        if let Some(key) = &reply.code_sign_key {
            self.code_sign_key = Some(key.trim().to_string());
        }
        self.holding.retain(|j| !reply.acks.contains(&j.name));
        for job in &reply.jobs {
            if !self.holding.iter().any(|h| h.name == job.name) {
                self.holding.push(job.clone());
            }
        }
    }
}

fn report_xml(rep: &Report) -> String {
    let mut r = format!(
        "<result>\n    <name>{}</name>\n    <final_cpu_time>1.500000</final_cpu_time>\n    \
         <final_elapsed_time>2.000000</final_elapsed_time>\n    <exit_status>{}</exit_status>\n    \
         <state>{}</state>\n    <platform>{}</platform>\n    <version_num>{}</version_num>\n    \
         <final_peak_working_set_size>1388544</final_peak_working_set_size>\n    \
         <app_version_num>{}</app_version_num>\n<stderr_out>\n<core_client_version>7.20.5</core_client_version>\n\
         <![CDATA[\n<stderr_txt>\nsimulated run\n</stderr_txt>\n]]>\n</stderr_out>\n",
        rep.job.name,
        rep.exit_status,
        rep.state,
        rep.job.platform,
        rep.job.version_num,
        rep.job.version_num
    );
    for (out, data) in rep.job.outputs.iter().zip(&rep.outputs) {
        r.push_str(&format!(
            "<file_info>\n    <name>{}</name>\n    <nbytes>{}.000000</nbytes>\n    \
             <max_nbytes>{}</max_nbytes>\n    <md5_cksum>{}</md5_cksum>\n    <upload_url>{}</upload_url>\n</file_info>\n",
            out.name,
            data.len(),
            out.max_nbytes,
            Md5Hex::of_bytes(data).as_str(),
            out.url
        ));
    }
    r.push_str("</result>\n");
    r
}

/// The body of an upload POST for `data[offset..]` of output `out` (header as the real client
/// writes it, then the raw bytes).
pub fn upload_body(out: &OutputFile, data: &[u8], offset: usize) -> Vec<u8> {
    let mut body = format!(
        "<data_server_request>\n    <core_client_major_version>7</core_client_major_version>\n    \
         <core_client_minor_version>20</core_client_minor_version>\n    \
         <core_client_release>5</core_client_release>\n<file_upload>\n<file_info>\n<name>{}</name>\n\
         <xml_signature>\n{}</xml_signature>\n<max_nbytes>{}</max_nbytes>\n</file_info>\n\
         <nbytes>{}</nbytes>\n<md5_cksum>{}</md5_cksum>\n<offset>{offset}</offset>\n<data>\n",
        out.name,
        out.xml_signature.trim(),
        out.max_nbytes,
        data.len(),
        Md5Hex::of_bytes(data).as_str()
    )
    .into_bytes();
    body.extend_from_slice(&data[offset..]);
    body
}

/// A `<get_file_size>` request.
pub fn get_file_size_body(name: &str) -> Vec<u8> {
    format!(
        "<data_server_request>\n    <core_client_major_version>7</core_client_major_version>\n    \
         <core_client_minor_version>20</core_client_minor_version>\n    \
         <core_client_release>5</core_client_release>\n    <get_file_size>{name}</get_file_size>\n\
         </data_server_request>\n"
    )
    .into_bytes()
}
