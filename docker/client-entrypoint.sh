#!/usr/bin/env bash
# A volunteer's container: Debian's stock BOINC client, unmodified.
#
# On first start it creates its own account on the project through the project's account RPC
# (`boinccmd --create_account`, or `--lookup_account` if it exists) and attaches with the key;
# later starts reuse the attachment kept in the data volume. Security settings stay at their
# defaults (apps must be signed by the project). The settings below only make it quick: short
# retry delays, no CPU-load suspension, no fetch of BOINC's project list.
#
# Configuration (environment; no secret has a default):
#   RBOINC_MASTER_URL        the project's URL            [http://server:8080/rboinc/]
#   RBOINC_ACCOUNT_EMAIL     this volunteer's email       (required)
#   RBOINC_ACCOUNT_PASSWORD  this volunteer's password    (required)
#   RBOINC_ACCOUNT_NAME      display name                 [the email's local part]
#   RBOINC_GUI_RPC_PASSWORD  password for boinccmd        [random, kept in the volume]
set -euo pipefail

: "${RBOINC_ACCOUNT_EMAIL:?set RBOINC_ACCOUNT_EMAIL}"
: "${RBOINC_ACCOUNT_PASSWORD:?set RBOINC_ACCOUNT_PASSWORD}"
url=${RBOINC_MASTER_URL:-http://server:8080/rboinc/}
data=/var/lib/boinc
port=31416

log() { printf '[client-entrypoint] %s\n' "$*"; }

mkdir -p "$data"
cd "$data"
if [[ -n ${RBOINC_GUI_RPC_PASSWORD:-} ]]; then
  printf '%s' "$RBOINC_GUI_RPC_PASSWORD" > gui_rpc_auth.cfg
elif [[ ! -s gui_rpc_auth.cfg ]]; then
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > gui_rpc_auth.cfg
fi
chmod 600 gui_rpc_auth.cfg
cat > cc_config.xml <<'XML'
<cc_config>
  <options>
    <no_info_fetch>1</no_info_fetch>
  </options>
</cc_config>
XML
cat > global_prefs_override.xml <<'XML'
<global_preferences>
  <suspend_cpu_usage>0</suspend_cpu_usage>
  <run_if_user_active>1</run_if_user_active>
  <work_buf_min_days>0</work_buf_min_days>
  <work_buf_additional_days>0.01</work_buf_additional_days>
</global_preferences>
XML

boinc --dir "$data" --gui_rpc_port "$port" --no_gpus \
  --sched_retry_delay_min 5 --pers_retry_delay_min 5 &
client=$!
trap 'boinccmd --host "localhost:$port" --passwd "$(cat gui_rpc_auth.cfg)" --quit || kill "$client"' TERM INT

cmd() { boinccmd --host "localhost:$port" --passwd "$(cat gui_rpc_auth.cfg)" "$@"; }
for _ in $(seq 1 60); do cmd --get_cc_status >/dev/null 2>&1 && break; sleep 1; done

if ! ls account_*.xml >/dev/null 2>&1; then
  log "waiting for the project at $url"
  until curl -fsS -o /dev/null "$url"; do sleep 2; done
  name=${RBOINC_ACCOUNT_NAME:-${RBOINC_ACCOUNT_EMAIL%%@*}}
  out=$(cmd --create_account "$url" "$RBOINC_ACCOUNT_EMAIL" "$RBOINC_ACCOUNT_PASSWORD" "$name" 2>&1 || true)
  key=$(grep -oE '[0-9a-f]{32}' <<<"$out" | head -n 1 || true)
  if [[ -z $key ]]; then
    out=$(cmd --lookup_account "$url" "$RBOINC_ACCOUNT_EMAIL" "$RBOINC_ACCOUNT_PASSWORD" 2>&1 || true)
    key=$(grep -oE '[0-9a-f]{32}' <<<"$out" | head -n 1 || true)
  fi
  if [[ -z $key ]]; then
    log "could not create or look up the account: $out"; exit 1
  fi
  cmd --project_attach "$url" "$key"
  log "attached to $url as $RBOINC_ACCOUNT_EMAIL"
fi

wait "$client"
