#!/usr/bin/env python3
"""schedload: HTTP load generator for BOINC-style schedulers and upload handlers.

Standard library only (threads + http.client). It only ever talks to loopback
addresses (127.0.0.0/8, ::1); any other target is refused.

What it does
------------
Each of C worker threads repeatedly takes a host identity from a shared pool
(so one host never has two RPCs in flight, like a real client), builds a
scheduler_request in the shape the BOINC 7.20.5 client sends, POSTs it with
``Content-Type: application/x-www-form-urlencoded``, parses the reply and
records the latency. It stops after ``--requests N`` or ``--duration S``
(whichever comes first) and prints one summary line.

Modes
-----
work    request ``--work-seconds`` of CPU work (default 10 s: one job per reply
        with 1e12-flop jobs on a 4 GFLOPS host). Jobs in the reply are
        remembered per host (result name, output file names, upload URL).
nowork  an RPC that asks for no work and reports nothing.
report  report one remembered in-progress result per RPC (``<result>`` block
        with ``<file_info>`` for each output file, state 5 = uploaded) and, by
        default, ask for ``--work-seconds`` of new work in the same RPC, as a
        client in steady state does. Hosts with nothing to report are first
        primed with one untimed work RPC each.
upload  file_upload_handler protocol: one POST per upload, a
        ``<data_server_request><file_upload>`` header followed by
        ``--upload-bytes`` raw bytes (offset 0, unique file name). Needs no
        accounts. The server must accept unsigned uploads
        (``ignore_upload_certificates``) unless it checks nothing.

Identities
----------
``--accounts FILE``: lines ``AUTHENTICATOR HOSTID`` ('#' starts a comment).
``--make-accounts K --db NAME [--mysql-opts "..."]`` inserts K user rows and K
host rows (one host per user) through the ``mysql``/``mariadb`` command-line
client, filling every NOT NULL column that has no default (found from
information_schema, so it follows the live schema), and writes them to the
``--accounts`` file (overwritten). Without ``--url`` it only creates them.

Per-host state (rpc_seqno, remembered in-progress results, the code-signing
key the server sent) is kept in ``--state`` (default ``ACCOUNTS.state.json``)
so a later ``report`` run can report what a ``work`` run received. rpc_seqno
must never go backwards (the BOINC scheduler then creates a new host record);
a host with no saved state starts at a time-based value
(unix time - 1.6e9), which grows faster than one RPC per host per second.
If a reply carries a different ``<hostid>`` the tool adopts it, as the client
does, and counts it in ``host_changes``.

Output
------
One line, e.g.::

  mode=work conc=4 requests=1000 seconds=12.50 rps=80.00 p50_ms=45.1
  p90_ms=70.2 p99_ms=110.9 max_ms=150.3 jobs=1000 replies_with_jobs=1000
  nojob_replies=0 msg_replies=0 reports=0 acks=0 errors=0 http_errors=0
  conn_errors=0 bad_replies=0 host_changes=0 client_cpu_s=3.10

``--json`` prints the same figures as one JSON object instead, plus the most
frequent ``<message>`` texts. Exit status is 0 if there were no errors, 1
otherwise (2 for usage problems).

Examples
--------
  # create 200 accounts in database ld_anchor (root over the unix socket)
  schedload.py --make-accounts 200 --db ld_anchor --accounts acc.txt
  # 8 concurrent clients asking for work for 30 s
  schedload.py --url http://127.0.0.1:18180/ld_cgi/cgi --accounts acc.txt \
      --mode work --concurrency 8 --duration 30
  # then report what they got (and ask for more), 2000 RPCs
  schedload.py --url http://127.0.0.1:18180/ld_cgi/cgi --accounts acc.txt \
      --mode report --concurrency 8 --requests 2000
  # 4 KiB uploads
  schedload.py --url http://127.0.0.1:18180/ld_cgi/file_upload_handler \
      --mode upload --concurrency 4 --duration 20
"""

import argparse
import gzip
import hashlib
import http.client
import ipaddress
import json
import math
import os
import queue
import random
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib

CLIENT_MAJOR, CLIENT_MINOR, CLIENT_RELEASE = 7, 20, 5
PLATFORM = "x86_64-pc-linux-gnu"
USER_AGENT = "BOINC client (%s %d.%d.%d)" % (PLATFORM, CLIENT_MAJOR, CLIENT_MINOR, CLIENT_RELEASE)
SEQNO_EPOCH = 1600000000

# ---------------------------------------------------------------------------
# Request text. The element list follows what the 7.20.5 client was seen to
# send (captured requests in fixtures/client-7.20.5); values are
# filled per host and per RPC.
# ---------------------------------------------------------------------------

REQUEST_HEAD = """<scheduler_request>
    <authenticator>%(auth)s</authenticator>
    <hostid>%(hostid)d</hostid>
    <rpc_seqno>%(seqno)d</rpc_seqno>
    <core_client_major_version>%(major)d</core_client_major_version>
    <core_client_minor_version>%(minor)d</core_client_minor_version>
    <core_client_release>%(release)d</core_client_release>
    <resource_share_fraction>1.000000</resource_share_fraction>
    <rrs_fraction>1.000000</rrs_fraction>
    <prrs_fraction>1.000000</prrs_fraction>
    <duration_correction_factor>1.000000</duration_correction_factor>
    <allow_multiple_clients>1</allow_multiple_clients>
    <sandbox>0</sandbox>
    <dont_send_work>0</dont_send_work>
    <work_req_seconds>%(work)f</work_req_seconds>
    <cpu_req_secs>%(work)f</cpu_req_secs>
    <cpu_req_instances>%(inst)f</cpu_req_instances>
    <estimated_delay>0.000000</estimated_delay>
    <client_cap_plan_class>1</client_cap_plan_class>
    <platform_name>%(platform)s</platform_name>
%(code_sign_key)s"""

PREFS_AND_STATS = """<working_global_preferences>
<global_preferences>
   <source_project></source_project>
   <mod_time>0.000000</mod_time>
   <battery_charge_min_pct>90.000000</battery_charge_min_pct>
   <battery_max_temperature>40.000000</battery_max_temperature>
   <run_on_batteries>0</run_on_batteries>
   <run_if_user_active>1</run_if_user_active>
   <run_gpu_if_user_active>0</run_gpu_if_user_active>
   <suspend_if_no_recent_input>0.000000</suspend_if_no_recent_input>
   <suspend_cpu_usage>0.000000</suspend_cpu_usage>
   <start_hour>0.000000</start_hour>
   <end_hour>0.000000</end_hour>
   <net_start_hour>0.000000</net_start_hour>
   <net_end_hour>0.000000</net_end_hour>
   <leave_apps_in_memory>0</leave_apps_in_memory>
   <confirm_before_connecting>1</confirm_before_connecting>
   <hangup_if_dialed>0</hangup_if_dialed>
   <dont_verify_images>0</dont_verify_images>
   <work_buf_min_days>0.100000</work_buf_min_days>
   <work_buf_additional_days>0.500000</work_buf_additional_days>
   <max_ncpus_pct>0.000000</max_ncpus_pct>
   <cpu_scheduling_period_minutes>60.000000</cpu_scheduling_period_minutes>
   <disk_interval>60.000000</disk_interval>
   <disk_max_used_gb>0.000000</disk_max_used_gb>
   <disk_max_used_pct>90.000000</disk_max_used_pct>
   <disk_min_free_gb>0.100000</disk_min_free_gb>
   <vm_max_used_pct>75.000000</vm_max_used_pct>
   <ram_max_used_busy_pct>50.000000</ram_max_used_busy_pct>
   <ram_max_used_idle_pct>90.000000</ram_max_used_idle_pct>
   <idle_time_to_run>3.000000</idle_time_to_run>
   <max_bytes_sec_up>0.000000</max_bytes_sec_up>
   <max_bytes_sec_down>0.000000</max_bytes_sec_down>
   <cpu_usage_limit>100.000000</cpu_usage_limit>
   <daily_xfer_limit_mb>0.000000</daily_xfer_limit_mb>
   <daily_xfer_period_days>0</daily_xfer_period_days>
   <override_file_present>1</override_file_present>
   <network_wifi_only>0</network_wifi_only>
</global_preferences>
</working_global_preferences>
<cross_project_id></cross_project_id>
<time_stats>
    <on_frac>1.000000</on_frac>
    <connected_frac>-1.000000</connected_frac>
    <cpu_and_network_available_frac>1.000000</cpu_and_network_available_frac>
    <active_frac>1.000000</active_frac>
    <gpu_active_frac>1.000000</gpu_active_frac>
    <client_start_time>%(start)f</client_start_time>
    <total_start_time>%(start)f</total_start_time>
    <total_duration>%(dur)f</total_duration>
    <total_active_duration>%(dur)f</total_active_duration>
    <total_gpu_active_duration>%(dur)f</total_gpu_active_duration>
    <now>%(now)f</now>
    <previous_uptime>0.000000</previous_uptime>
    <session_active_duration>%(dur)f</session_active_duration>
    <session_gpu_active_duration>%(dur)f</session_gpu_active_duration>
</time_stats>
<net_stats>
    <bwup>0.000000</bwup>
    <avg_up>0.000000</avg_up>
    <avg_time_up>0.000000</avg_time_up>
    <bwdown>11747524.602392</bwdown>
    <avg_down>1037896866.140126</avg_down>
    <avg_time_down>%(start)f</avg_time_down>
</net_stats>
<host_info>
    <timezone>0</timezone>
    <domain_name>slhost%(hostid)d</domain_name>
    <ip_addr>127.0.0.1</ip_addr>
    <host_cpid>%(host_cpid)s</host_cpid>
    <p_ncpus>8</p_ncpus>
    <p_vendor>GenuineIntel</p_vendor>
    <p_model>Intel(R) Xeon(R) CPU @ 2.20GHz [Family 6 Model 79 Stepping 0]</p_model>
    <p_features>fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch avx2</p_features>
    <p_fpops>4000000000.000000</p_fpops>
    <p_iops>12000000000.000000</p_iops>
    <p_membw>1000000000.000000</p_membw>
    <p_calculated>%(start)f</p_calculated>
    <p_vm_extensions_disabled>0</p_vm_extensions_disabled>
    <m_nbytes>16000000000.000000</m_nbytes>
    <m_cache>1000000.000000</m_cache>
    <m_swap>0.000000</m_swap>
    <d_total>100000000000.000000</d_total>
    <d_free>50000000000.000000</d_free>
    <os_name>Linux Debian</os_name>
    <os_version>Debian GNU/Linux 12 (bookworm) [6.1.0-18-amd64|libc 2.36]</os_version>
    <n_usable_coprocs>0</n_usable_coprocs>
    <wsl_available>0</wsl_available>
</host_info>
    <disk_usage>
        <d_boinc_used_total>1000000.000000</d_boinc_used_total>
        <d_boinc_used_project>500000.000000</d_boinc_used_project>
        <d_project_share>40000000000.000000</d_project_share>
    </disk_usage>
"""

RESULT_REPORT = """<result>
    <name>%(name)s</name>
    <final_cpu_time>%(cpu)f</final_cpu_time>
    <final_elapsed_time>%(elapsed)f</final_elapsed_time>
    <exit_status>0</exit_status>
    <state>5</state>
    <platform>%(platform)s</platform>
    <version_num>%(version_num)s</version_num>
    <final_peak_disk_usage>14506</final_peak_disk_usage>
    <app_version_num>%(version_num)s</app_version_num>
<stderr_out>
<core_client_version>%(major)d.%(minor)d.%(release)d</core_client_version>
<![CDATA[
<stderr_txt>
schedload: simulated task %(name)s
exiting with 0
</stderr_txt>
]]>
</stderr_out>
%(file_infos)s</result>
"""

REPORT_FILE_INFO = """<file_info>
    <name>%(name)s</name>
    <nbytes>%(nbytes)f</nbytes>
    <max_nbytes>%(max_nbytes)s</max_nbytes>
    <md5_cksum>%(md5)s</md5_cksum>
    <upload_url>%(url)s</upload_url>
</file_info>
"""

UPLOAD_HEAD = """<data_server_request>
    <core_client_major_version>%(major)d</core_client_major_version>
    <core_client_minor_version>%(minor)d</core_client_minor_version>
    <core_client_release>%(release)d</core_client_release>
<file_upload>
<file_info>
<name>%(name)s</name>
<max_nbytes>%(max_nbytes)d</max_nbytes>
</file_info>
<nbytes>%(nbytes)d</nbytes>
<md5_cksum>%(md5)s</md5_cksum>
<offset>0</offset>
<data>
"""

VERSION_KW = {"major": CLIENT_MAJOR, "minor": CLIENT_MINOR, "release": CLIENT_RELEASE}

# ---------------------------------------------------------------------------
# Reply parsing (regular expressions; replies are small and regular)
# ---------------------------------------------------------------------------

RE_RESULT = re.compile(r"<result>(.*?)</result>", re.S)
RE_FILE_INFO = re.compile(r"<file_info>(.*?)</file_info>", re.S)
RE_APP_VERSION = re.compile(r"<app_version>(.*?)</app_version>", re.S)
RE_MESSAGE = re.compile(r"<message([^>]*)>(.*?)</message>", re.S)
RE_ACK = re.compile(r"<result_ack>\s*<name>([^<]*)</name>", re.S)
RE_HOSTID = re.compile(r"<hostid>\s*(\d+)\s*</hostid>")
RE_CODE_SIGN_KEY = re.compile(r"<code_sign_key>(.*?)</code_sign_key>", re.S)
RE_STATUS = re.compile(r"<status>\s*(-?\d+)\s*</status>")
RE_FILE_NAME = re.compile(r"<file_name>([^<]*)</file_name>")


def tag(text, name, default=""):
    m = re.search(r"<%s>(.*?)</%s>" % (name, name), text, re.S)
    return m.group(1).strip() if m else default


def parse_scheduler_reply(body):
    """Return dict with results (list), acks, messages, hostid, code_sign_key, app_versions."""
    out = {"results": [], "acks": RE_ACK.findall(body), "messages": [],
           "hostid": None, "code_sign_key": None, "app_versions": []}
    for attrs, text in RE_MESSAGE.findall(body):
        out["messages"].append(text.strip())
    m = RE_HOSTID.search(body)
    if m:
        out["hostid"] = int(m.group(1))
    m = RE_CODE_SIGN_KEY.search(body)
    if m:
        out["code_sign_key"] = m.group(1).strip()
    files = {}
    for fi in RE_FILE_INFO.findall(body):
        name = tag(fi, "name")
        if name:
            files[name] = {"max_nbytes": tag(fi, "max_nbytes", "0"), "url": tag(fi, "url")}
    for rb in RE_RESULT.findall(body):
        name = tag(rb, "name")
        if not name:
            continue
        outs = []
        for fname in RE_FILE_NAME.findall(rb):
            fi = files.get(fname, {})
            outs.append({"name": fname, "max_nbytes": fi.get("max_nbytes", "0"),
                         "url": fi.get("url", "")})
        out["results"].append({
            "name": name, "wu_name": tag(rb, "wu_name"),
            "platform": tag(rb, "platform", PLATFORM),
            "version_num": tag(rb, "version_num", "0"),
            "plan_class": tag(rb, "plan_class"),
            "files": outs,
        })
    for av in RE_APP_VERSION.findall(body):
        out["app_versions"].append({
            "app_name": tag(av, "app_name"), "version_num": tag(av, "version_num"),
            "platform": tag(av, "platform", PLATFORM), "avg_ncpus": tag(av, "avg_ncpus", "1"),
            "flops": tag(av, "flops", "0"), "api_version": tag(av, "api_version"),
            "plan_class": tag(av, "plan_class"),
        })
    return out


# ---------------------------------------------------------------------------
# Hosts and state
# ---------------------------------------------------------------------------

class Host:
    __slots__ = ("auth", "hostid", "orig_hostid", "seqno", "results", "cpid", "conn")

    def __init__(self, auth, hostid, seqno):
        self.auth = auth
        self.hostid = hostid
        self.seqno = seqno
        self.results = []   # remembered in-progress results, oldest first
        self.orig_hostid = hostid
        self.cpid = hashlib.md5(("schedload-host-%s-%d" % (auth, hostid)).encode()).hexdigest()
        self.conn = None


def read_accounts(path):
    accts = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) < 2:
                raise SystemExit("bad accounts line (want: AUTHENTICATOR HOSTID): %r" % line)
            accts.append((parts[0], int(parts[1])))
    return accts


def load_state(path):
    if path and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"hosts": {}, "code_sign_key": None, "app_versions": []}


def save_state(path, hosts, shared):
    if not path:
        return
    data = {"hosts": {}, "code_sign_key": shared.get("code_sign_key"),
            "app_versions": shared.get("app_versions", [])}
    for h in hosts:
        data["hosts"]["%s:%d" % (h.auth, h.orig_hostid)] = {
            "hostid": h.hostid, "seqno": h.seqno, "results": h.results}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# Account creation through the mysql command-line client
# ---------------------------------------------------------------------------

def sql_str(v):
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str) and v.startswith("@"):
        return v
    return "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"


def mysql_cmd(args):
    cmd = args.mysql_cmd
    if not cmd:
        cmd = "mysql" if shutil.which("mysql") else "mariadb"
    return [cmd] + shlex.split(args.mysql_opts or "") + ["-N", "-B", args.db]


def run_sql(args, sql):
    p = subprocess.run(mysql_cmd(args), input=sql, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("mysql failed (rc=%d): %s" % (p.returncode, p.stderr.strip()[:2000]))
    return p.stdout


def fill_required(args, table, values):
    """Add 0 / '' for every NOT NULL column without a default that `values` lacks."""
    q = ("select column_name, data_type, is_nullable, column_default, extra "
         "from information_schema.columns where table_schema=database() and table_name='%s'" % table)
    cols = {}
    for line in run_sql(args, q).splitlines():
        name, dtype, nullable, default, extra = (line.split("\t") + [""] * 5)[:5]
        cols[name] = (dtype.lower(), nullable, default, extra)
    if not cols:
        raise SystemExit("table %s not found in database %s" % (table, args.db))
    out = {}
    for name, (dtype, nullable, default, extra) in cols.items():
        if name in values:
            out[name] = values[name]
        elif "auto_increment" in extra:
            continue
        elif nullable == "NO" and default in ("NULL", "", None):
            numeric = any(t in dtype for t in ("int", "double", "float", "decimal", "real", "bit"))
            out[name] = 0 if numeric else ""
    return out


def make_accounts(args):
    if not args.db:
        raise SystemExit("--make-accounts needs --db NAME")
    if not args.accounts:
        raise SystemExit("--make-accounts needs --accounts FILE (written)")
    now = int(time.time())
    tagbase = "sl%x" % (now & 0xffffff)
    user_tmpl = {
        "create_time": now, "email_addr": "", "name": "", "authenticator": "",
        "country": "", "postal_code": "", "total_credit": 0.0, "expavg_credit": 0.0,
        "expavg_time": 0.0, "global_prefs": "", "project_prefs": "", "teamid": 0, "venue": "",
        "url": "", "send_email": 0, "show_hosts": 0, "posts": 0, "seti_id": 0, "seti_nresults": 0,
        "seti_last_result_time": 0, "seti_total_cpu": 0.0, "signature": "", "has_profile": 0,
        "cross_project_id": "", "passwd_hash": "", "email_validated": 1, "donated": 0,
    }
    host_tmpl = {
        "create_time": now, "userid": "@u", "rpc_seqno": 0, "rpc_time": now, "total_credit": 0.0,
        "expavg_credit": 0.0, "expavg_time": 0.0, "timezone": 0, "domain_name": "", "serialnum": "",
        "last_ip_addr": "127.0.0.1", "nsame_ip_addr": 0, "on_frac": 1.0, "connected_frac": 1.0,
        "active_frac": 1.0, "cpu_efficiency": 1.0, "duration_correction_factor": 1.0, "p_ncpus": 8,
        "p_vendor": "GenuineIntel", "p_model": "Intel(R) Xeon(R) CPU", "p_fpops": 4e9, "p_iops": 1.2e10,
        "p_membw": 1e9, "os_name": "Linux Debian", "os_version": "Debian GNU/Linux 12",
        "m_nbytes": 1.6e10, "m_cache": 1e6, "m_swap": 0.0, "d_total": 1e11, "d_free": 5e10,
        "d_boinc_used_total": 0.0, "d_boinc_used_project": 0.0, "d_boinc_max": 0.0, "n_bwup": 0.0,
        "n_bwdown": 0.0, "credit_per_cpu_sec": 0.0, "venue": "", "nresults_today": 0,
        "avg_turnaround": 0.0, "host_cpid": "", "external_ip_addr": "127.0.0.1", "max_results_day": 0,
        "product_name": "", "gpu_active_frac": 1.0, "p_ngpus": 0, "p_gpu_fpops": 0.0,
    }
    user_cols = fill_required(args, "user", user_tmpl)
    host_cols = fill_required(args, "host", host_tmpl)
    lines = ["start transaction;"]
    auths = []
    for k in range(args.make_accounts):
        auth = secrets.token_hex(16)
        auths.append(auth)
        u = dict(user_cols)
        u.update(email_addr="%s_%d@schedload.invalid" % (tagbase, k), name="%s_%d" % (tagbase, k),
                 authenticator=auth, cross_project_id=secrets.token_hex(16),
                 passwd_hash=secrets.token_hex(16))
        u = {c: v for c, v in u.items() if c in user_cols}
        h = dict(host_cols)
        h.update(domain_name="%s_host%d" % (tagbase, k), host_cpid=secrets.token_hex(16))
        h = {c: v for c, v in h.items() if c in host_cols}
        lines.append("insert into user (%s) values (%s);" % (
            ",".join("`%s`" % c for c in u), ",".join(sql_str(v) for v in u.values())))
        lines.append("set @u = last_insert_id();")
        lines.append("insert into host (%s) values (%s);" % (
            ",".join("`%s`" % c for c in h), ",".join(sql_str(v) for v in h.values())))
        lines.append("select 'ACCT', '%s', last_insert_id();" % auth)
    lines.append("commit;")
    out = run_sql(args, "\n".join(lines) + "\n")
    accts = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] == "ACCT":
            accts.append((parts[1], int(parts[2])))
    if len(accts) != args.make_accounts:
        raise SystemExit("created %d accounts, expected %d" % (len(accts), args.make_accounts))
    with open(args.accounts, "w") as f:
        f.write("# authenticator hostid (created by schedload.py in db %s)\n" % args.db)
        for a, hid in accts:
            f.write("%s %d\n" % (a, hid))
    # fresh hosts: any old state for this file is meaningless now
    if args.state and os.path.exists(args.state):
        os.remove(args.state)
    print("created %d accounts in %s -> %s" % (len(accts), args.db, args.accounts), file=sys.stderr)
    return accts


# ---------------------------------------------------------------------------
# Load run
# ---------------------------------------------------------------------------

def check_loopback(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http":
        raise SystemExit("only http:// URLs are supported: %s" % url)
    if not u.hostname:
        raise SystemExit("no host in URL: %s" % url)
    port = u.port or 80
    host = u.hostname
    try:
        ipaddress.ip_address(host.split("%")[0])
        is_literal = True
    except ValueError:
        is_literal = False
    if not is_literal and not (host == "localhost" or host.endswith(".localhost")):
        # never resolve other names: that alone could leave the machine (DNS)
        raise SystemExit("refusing %s: use a loopback IP literal (127.0.0.1, ::1) or localhost" % host)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise SystemExit("cannot resolve %s: %s" % (host, e))
    addrs = sorted({i[4][0] for i in infos})
    for a in addrs:
        if not ipaddress.ip_address(a.split("%")[0]).is_loopback:
            raise SystemExit("refusing non-loopback target %s (%s)" % (u.hostname, a))
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    # connect to the resolved loopback address itself, keep Host: as given
    return addrs[0], port, path, u.netloc


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lat = []
        self.jobs = 0
        self.replies_with_jobs = 0
        self.nojob_replies = 0
        self.msg_replies = 0
        self.messages = {}
        self.held_listed = 0
        self.reports = 0
        self.acks = 0
        self.http_errors = 0
        self.conn_errors = 0
        self.bad_replies = 0
        self.host_changes = 0
        self.upload_ok = 0
        self.last_error = ""
        self.t_last = 0.0


class Runner:
    def __init__(self, args, hosts, shared):
        self.args = args
        self.hosts = hosts
        self.shared = shared
        self.addr, self.port, self.path, self.netloc = check_loopback(args.url)
        self.pool = queue.Queue()
        for h in hosts:
            self.pool.put(h)
        self.t0 = time.time()
        self.upload_seq = 0
        self.run_tag = "%d_%d_%s" % (int(time.time()), os.getpid(), secrets.token_hex(3))
        self.upload_payload = (b"0123456789abcdef" * (args.upload_bytes // 16 + 1))[:args.upload_bytes]
        self.upload_md5 = hashlib.md5(self.upload_payload).hexdigest()

    # -- request bodies --------------------------------------------------
    def sched_body(self, h, work_secs, report):
        now = time.time()
        ck = self.shared.get("code_sign_key")
        kw = {"auth": h.auth, "hostid": h.hostid, "seqno": h.seqno, "work": work_secs,
              "inst": 1.0 if work_secs > 0 else 0.0, "platform": PLATFORM,
              "code_sign_key": ("    <code_sign_key>\n%s\n</code_sign_key>\n" % ck) if ck else "",
              "start": self.t0 - 3600.0, "dur": 3600.0 + (now - self.t0), "now": now,
              "host_cpid": h.cpid}
        kw.update(VERSION_KW)
        parts = [REQUEST_HEAD % kw, PREFS_AND_STATS % kw]
        for r in report:
            fis = "".join(REPORT_FILE_INFO % {
                "name": f["name"], "nbytes": 4096.0, "max_nbytes": f.get("max_nbytes") or "0",
                "md5": hashlib.md5(f["name"].encode()).hexdigest(), "url": f.get("url", "")}
                for f in r.get("files", []))
            d = {"name": r["name"], "cpu": 3000.0, "elapsed": 3100.0,
                 "platform": r.get("platform") or PLATFORM, "version_num": r.get("version_num") or "0",
                 "file_infos": fis}
            d.update(VERSION_KW)
            parts.append(RESULT_REPORT % d)
        avs = self.shared.get("app_versions") or []
        parts.append("<app_versions>\n")
        for av in avs:
            parts.append("<app_version>\n    <app_name>%s</app_name>\n    <version_num>%s</version_num>\n"
                         "    <platform>%s</platform>\n    <avg_ncpus>%s</avg_ncpus>\n"
                         "    <flops>%s</flops>\n    <api_version>%s</api_version>\n</app_version>\n"
                         % (av["app_name"], av["version_num"], av["platform"], av["avg_ncpus"],
                            av["flops"], av["api_version"]))
        parts.append("</app_versions>\n<other_results>\n")
        reported = {r["name"] for r in report}
        for r in h.results:
            if r["name"] in reported:
                continue
            parts.append("    <other_result>\n        <name>%s</name>\n        <app_version>%s</app_version>\n"
                         "        <plan_class>%s</plan_class>\n    </other_result>\n"
                         % (r["name"], r.get("version_num", "0"), r.get("plan_class", "")))
        parts.append("</other_results>\n</scheduler_request>\n")
        return "".join(parts).encode()

    def upload_body(self):
        with self.shared["lock"]:
            self.upload_seq += 1
            n = self.upload_seq
        head = UPLOAD_HEAD % dict(VERSION_KW, name="schedload_%s_%d" % (self.run_tag, n),
                                  max_nbytes=max(1000000, len(self.upload_payload)),
                                  nbytes=len(self.upload_payload), md5=self.upload_md5)
        return head.encode() + self.upload_payload

    # -- HTTP -------------------------------------------------------------
    def post(self, h, body):
        """Return (status, reply_text). Raises OSError/HTTPException on transport errors."""
        conn = h.conn if (h is not None and self.args.keepalive) else None
        if conn is None:
            conn = http.client.HTTPConnection(self.addr, self.port, timeout=self.args.timeout)
        try:
            conn.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", self.netloc)
            conn.putheader("User-Agent", USER_AGENT)
            conn.putheader("Accept", "*/*")
            conn.putheader("Accept-Encoding", "deflate, gzip")
            conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Content-Type", "application/x-www-form-urlencoded")
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            enc = (resp.getheader("Content-Encoding") or "").lower()
            if enc == "gzip":
                data = gzip.decompress(data)
            elif enc == "deflate":
                try:
                    data = zlib.decompress(data)
                except zlib.error:
                    data = zlib.decompress(data, -zlib.MAX_WBITS)
            status = resp.status
        except Exception:
            conn.close()
            if h is not None:
                h.conn = None
            raise
        if h is not None and self.args.keepalive and not resp.will_close:
            h.conn = conn
        else:
            conn.close()
            if h is not None:
                h.conn = None
        return status, data.decode("utf-8", "replace")

    # -- one RPC ----------------------------------------------------------
    def one(self, h, st, mode, record=True):
        args = self.args
        report = []
        if mode == "upload":
            body = self.upload_body()
        else:
            if mode == "work":
                work = args.work_seconds
            elif mode == "nowork":
                work = 0.0
            else:  # report
                work = args.work_seconds if not args.report_no_work else 0.0
                report = h.results[:args.report_per_rpc]
            h.seqno += 1
            body = self.sched_body(h, work, report)
            if record:
                with st.lock:
                    st.held_listed += len(h.results) - len(report)
        t = time.perf_counter()
        try:
            status, text = self.post(h if mode != "upload" else None, body)
        except Exception as e:
            dt = time.perf_counter() - t
            with st.lock:
                st.conn_errors += 1
                st.last_error = "%s: %s" % (type(e).__name__, e)
                if record:
                    st.lat.append(dt)
                    st.t_last = time.time()
            return
        dt = time.perf_counter() - t
        if mode == "upload":
            m = RE_STATUS.search(text)
            with st.lock:
                if record:
                    st.lat.append(dt)
                    st.t_last = time.time()
                if status != 200:
                    st.http_errors += 1
                    st.last_error = "HTTP %d" % status
                elif not m:
                    st.bad_replies += 1
                    st.last_error = "no <status> in reply: %r" % text[:200]
                elif m.group(1) != "0":
                    st.msg_replies += 1
                    msg = tag(text, "message", "status %s" % m.group(1))
                    st.messages[msg] = st.messages.get(msg, 0) + 1
                else:
                    st.upload_ok += 1
            return
        bad = status != 200 or "</scheduler_reply>" not in text
        rep = parse_scheduler_reply(text) if not bad else None
        if rep is not None:
            if rep["hostid"] is not None and rep["hostid"] != h.hostid and rep["hostid"] > 0:
                h.hostid = rep["hostid"]
                with st.lock:
                    st.host_changes += 1
            acked = set(rep["acks"])
            if report:
                h.results = [r for r in h.results if r["name"] not in acked]
            if rep["results"]:
                h.results.extend(rep["results"])
                if len(h.results) > args.remember:
                    del h.results[:len(h.results) - args.remember]
            if rep["code_sign_key"] or rep["app_versions"]:
                with self.shared["lock"]:
                    if rep["code_sign_key"]:
                        self.shared["code_sign_key"] = rep["code_sign_key"]
                    if rep["app_versions"]:
                        seen = {(a["app_name"], a["version_num"], a["platform"], a["plan_class"])
                                for a in self.shared["app_versions"]}
                        for a in rep["app_versions"]:
                            k = (a["app_name"], a["version_num"], a["platform"], a["plan_class"])
                            if k not in seen:
                                self.shared["app_versions"].append(a)
                                seen.add(k)
        with st.lock:
            if record:
                st.lat.append(dt)
                st.t_last = time.time()
            if status != 200:
                st.http_errors += 1
                st.last_error = "HTTP %d: %r" % (status, text[:200])
                return
            if rep is None:
                st.bad_replies += 1
                st.last_error = "bad reply: %r" % text[:300]
                return
            n = len(rep["results"])
            st.jobs += n
            if n:
                st.replies_with_jobs += 1
            elif mode != "nowork":
                st.nojob_replies += 1
            st.reports += len(report)
            st.acks += len(rep["acks"])
            if rep["messages"]:
                st.msg_replies += 1
                for m in rep["messages"]:
                    m = re.sub(r"\s+", " ", m)[:160]
                    st.messages[m] = st.messages.get(m, 0) + 1

    # -- phases -----------------------------------------------------------
    def phase(self, mode, concurrency, max_requests, duration, record=True, only_hosts=None):
        st = Stats()
        counter = [0]
        clock = threading.Lock()
        pool = self.pool
        if only_hosts is not None:
            pool = queue.Queue()
            for h in only_hosts:
                pool.put(h)
        deadline = time.time() + duration if duration else None
        start = time.time()

        def worker():
            while True:
                with clock:
                    if max_requests is not None and counter[0] >= max_requests:
                        return
                    if deadline is not None and time.time() >= deadline:
                        return
                    counter[0] += 1
                if mode == "upload":
                    self.one(None, st, mode, record)
                    continue
                h = pool.get()
                try:
                    self.one(h, st, mode, record)
                finally:
                    pool.put(h)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        end = time.time()
        st.seconds = end - start
        return st


def pct(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    k = max(0, int(math.ceil(p / 100.0 * len(sorted_vals))) - 1)
    return sorted_vals[k]


def summary(args, st, cpu0, prime_info):
    lat = sorted(st.lat)
    n = len(lat)
    secs = st.seconds
    errors = st.http_errors + st.conn_errors + st.bad_replies
    cpu1 = os.times()
    d = {
        "mode": args.mode, "conc": args.concurrency, "requests": n, "seconds": round(secs, 3),
        "rps": round(n / secs, 2) if secs > 0 else 0.0,
        "p50_ms": round(pct(lat, 50) * 1000, 1), "p90_ms": round(pct(lat, 90) * 1000, 1),
        "p99_ms": round(pct(lat, 99) * 1000, 1), "max_ms": round((lat[-1] if lat else 0) * 1000, 1),
    }
    if args.mode == "upload":
        d.update(uploads_ok=st.upload_ok)
    else:
        d.update(jobs=st.jobs, replies_with_jobs=st.replies_with_jobs, nojob_replies=st.nojob_replies,
                 held_per_rpc=round(st.held_listed / n, 1) if n else 0.0)
    d.update(msg_replies=st.msg_replies)
    if args.mode == "report":
        d.update(reports=st.reports, acks=st.acks)
    d.update(errors=errors, http_errors=st.http_errors, conn_errors=st.conn_errors,
             bad_replies=st.bad_replies, host_changes=st.host_changes,
             client_cpu_s=round((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system), 2))
    if prime_info:
        d["primed"] = prime_info
    if args.json:
        d["url"] = args.url
        d["top_messages"] = sorted(st.messages.items(), key=lambda kv: -kv[1])[:5]
        if st.last_error:
            d["last_error"] = st.last_error
        print(json.dumps(d))
    else:
        print(" ".join("%s=%s" % kv for kv in d.items()))
        if args.verbose:
            for m, c in sorted(st.messages.items(), key=lambda kv: -kv[1])[:5]:
                print("  message x%d: %s" % (c, m), file=sys.stderr)
            if st.last_error:
                print("  last error: %s" % st.last_error, file=sys.stderr)
    return errors


def build_parser():
    p = argparse.ArgumentParser(
        prog="schedload.py",
        description="Loopback-only load generator for BOINC schedulers (scheduler_request RPCs) "
                    "and file_upload_handler. See the module docstring for details.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  schedload.py --make-accounts 200 --db ld_anchor --accounts acc.txt\n"
               "  schedload.py --url http://127.0.0.1:18180/ld_cgi/cgi --accounts acc.txt "
               "--mode work -c 4 --duration 20\n"
               "  schedload.py --url http://127.0.0.1:18180/ld_cgi/cgi --accounts acc.txt "
               "--mode report -c 4 --requests 1000\n"
               "  schedload.py --url http://127.0.0.1:18180/ld_cgi/file_upload_handler "
               "--mode upload -c 2 --duration 10\n")
    p.add_argument("--url", help="scheduler (or upload handler) URL; must resolve to loopback")
    p.add_argument("-c", "--concurrency", type=int, default=1, help="concurrent clients (default 1)")
    p.add_argument("-n", "--requests", type=int, help="stop after N timed requests")
    p.add_argument("-d", "--duration", type=float, help="stop starting requests after S seconds")
    p.add_argument("--mode", choices=["work", "nowork", "report", "upload"], default="work")
    p.add_argument("--accounts", help="file of 'AUTHENTICATOR HOSTID' lines (read; written by --make-accounts)")
    p.add_argument("--state", help="per-host state file (default ACCOUNTS.state.json; 'none' disables)")
    p.add_argument("--make-accounts", type=int, metavar="K", help="insert K users+hosts into --db first")
    p.add_argument("--db", help="database name for --make-accounts")
    p.add_argument("--mysql-opts", default="", help="extra options for the mysql client, e.g. "
                   "\"-uroot\" or \"-h127.0.0.1 -P3306 -uboinc -pSECRET\" (default: none)")
    p.add_argument("--mysql-cmd", default="", help="mysql client binary (default: mysql, else mariadb)")
    p.add_argument("--work-seconds", type=float, default=10.0,
                   help="work_req_seconds for work/report modes (default 10)")
    p.add_argument("--report-per-rpc", type=int, default=1, help="results reported per RPC (report mode)")
    p.add_argument("--report-no-work", action="store_true", help="report mode: do not ask for new work")
    p.add_argument("--no-prime", action="store_true",
                   help="report mode: do not prime hosts that have nothing to report")
    p.add_argument("--remember", type=int, default=16, help="in-progress results remembered per host")
    p.add_argument("--upload-bytes", type=int, default=4096, help="upload mode: bytes per upload (default 4096)")
    p.add_argument("--warmup", type=int, default=0, help="untimed requests before the timed phase")
    p.add_argument("--keepalive", action="store_true",
                   help="reuse one HTTP connection per host (the real client opens one per RPC)")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in seconds")
    p.add_argument("--max-hosts", type=int, help="use only the first N accounts")
    p.add_argument("--shuffle", action="store_true", help="shuffle host order")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--print-request", action="store_true", help="print one request body and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print top messages / last error to stderr")
    return p


def main(argv=None):
    p = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # allow "--mysql-opts -uroot" (argparse would take -uroot for an option)
    for i in range(len(argv) - 1):
        if argv[i] == "--mysql-opts":
            argv[i:i + 2] = ["--mysql-opts=" + argv[i + 1]]
            break
    args = p.parse_args(argv)
    if args.state is None and args.accounts:
        args.state = args.accounts + ".state.json"
    if args.state == "none":
        args.state = None
    if args.make_accounts:
        make_accounts(args)
        if not args.url:
            return 0
    if not args.url:
        p.error("--url is required (unless only --make-accounts)")
    if args.requests is None and args.duration is None and not args.print_request:
        p.error("give --requests N and/or --duration S")
    if args.concurrency < 1:
        p.error("--concurrency must be >= 1")
    check_loopback(args.url)

    state = load_state(args.state) if args.mode != "upload" else {"hosts": {}}
    shared = {"lock": threading.Lock(), "code_sign_key": state.get("code_sign_key"),
              "app_versions": state.get("app_versions") or []}
    hosts = []
    if args.mode != "upload":
        if not args.accounts:
            p.error("--accounts FILE is required for mode %s" % args.mode)
        accts = read_accounts(args.accounts)
        if args.max_hosts:
            accts = accts[:args.max_hosts]
        base = int(time.time()) - SEQNO_EPOCH
        for auth, hid in accts:
            s = state.get("hosts", {}).get("%s:%d" % (auth, hid))
            h = Host(auth, hid, base)
            if s:
                h.hostid = s.get("hostid", hid)
                h.seqno = max(int(s.get("seqno", 0)), base)
                h.results = s.get("results", [])
            hosts.append(h)
        if args.shuffle:
            random.shuffle(hosts)
        if len(hosts) < args.concurrency:
            p.error("need at least as many accounts (%d) as --concurrency (%d)"
                    % (len(hosts), args.concurrency))
    runner = Runner(args, hosts, shared)

    if args.print_request:
        if args.mode == "upload":
            sys.stdout.write(runner.upload_body().decode("latin-1"))
        else:
            h = hosts[0]
            rep = h.results[:args.report_per_rpc] if args.mode == "report" else []
            work = 0.0 if args.mode == "nowork" else args.work_seconds
            sys.stdout.write(runner.sched_body(h, work, rep).decode())
        return 0

    cpu0 = os.times()
    prime_info = None
    try:
        if args.mode == "report" and not args.no_prime:
            need = [h for h in hosts if not h.results]
            if need:
                pst = runner.phase("work", min(args.concurrency, len(need)), len(need), None,
                                   record=False, only_hosts=need)
                prime_info = "%d/%d" % (sum(1 for h in need if h.results), len(need))
                if pst.conn_errors or pst.http_errors or pst.bad_replies:
                    print("priming errors: %s" % pst.last_error, file=sys.stderr)
        if args.warmup:
            runner.phase(args.mode, args.concurrency, args.warmup, None, record=False)
        cpu0 = os.times()
        st = runner.phase(args.mode, args.concurrency, args.requests, args.duration)
    finally:
        if args.mode != "upload":
            save_state(args.state, hosts, shared)
    errors = summary(args, st, cpu0, prime_info)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
