#!/usr/bin/env bash
# The main job in one command: a complete rboinc project on this machine, two stock BOINC
# clients attached to it, and the original MNIST experiment run on them as a series, ending with
# a report. The report directory is the LAST line printed.
#
#   scripts/demo.sh                  # 5 rounds, 8,000 samples, 10 epochs, batch 256, lr 0.05
#   scripts/demo.sh --rounds 2 --sample-count 600 --train-epochs 2 --dir /tmp/small
#   scripts/demo.sh --generations 20 --train-epochs 1   # one model in 20 validated steps
#   scripts/demo.sh --stop           # stop everything the demo started (no process is left)
#
# What it does, each step printed as it goes:
#   1. installs what is missing (Debian packages: boinc-client, MariaDB; asks for sudo if needed);
#   2. uses the MariaDB server on 127.0.0.1:3306 if it answers (as root with no password, or as
#      RBOINC_DB_USER/RBOINC_DB_PASSWD), else starts a private mariadbd whose data lives in the
#      work directory, with a random password for a project user;
#   3. builds the release binaries and the static mnist app (cargo);
#   4. creates the project with make_project (first run only) and publishes the app with
#      update_versions (again whenever the app binary changed, as a new version);
#   5. starts the daemons (scheduler included) with `start`;
#   6. starts two stock BOINC clients (--clients N for another number; own data directories and GUI RPC ports, loopback only)
#      and attaches them with the project's account key;
#   7. runs `series run` with the experiment's parameters, showing its progress, and prints how
#      long the distributed part took once the clients were attached.
# Running it again reuses the work directory: the project, database and clients are kept and a
# new series is run. `--stop` stops clients, daemons and the private database; delete the work
# directory afterwards to start from scratch.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<'EOF'
Usage: scripts/demo.sh [options]
       scripts/demo.sh --stop [--dir DIR]

Series parameters (the original experiment's by default):
  --rounds N            rounds (workunits), each trained by two clients      [5]
  --sample-count N      training samples per round                           [8000]
  --train-epochs N      epochs                                               [10]
  --batch-size N        minibatch size                                       [256]
  --learning-rate X     SGD learning rate                                    [0.05]
  --quorum N            hosts that must agree on a round (min_quorum and
                        target_nresults; 1 = each round trained once)        [2]
  --generations G       a chained series instead of independent rounds: one
                        model trained in G generations of --train-epochs
                        epochs each (docs/GENERATIONS.md); --rounds is ignored
  --shards K            with --generations: federated averaging over K
                        shards per generation                                [1]

Where and how:
  --max-in-progress N   jobs a host may hold per CPU (config.xml
                        max_wus_in_progress; read when the daemons start)    [no limit]
  --clients N           stock BOINC clients to run (more running ones from
                        an earlier run in --dir are stopped)                 [2]
  --dir DIR             work directory (project, clients, database, logs)    [./demo-run]
  --port N              HTTP port of the project server                      [first free from 18080]
  --bin-dir DIR         use rboinc binaries already built there (skip cargo build)
  --app-binary PATH     publish this mnist executable (skip the static build)
  --timeout SECS        give up if the series has not finished after SECS    [1800]
  --private-db          start a private MariaDB even if one answers on 127.0.0.1:3306
  --no-install          never install packages
  --stop                stop everything started by a previous run in --dir, then exit
  -h, --help            this text
EOF
}

# ---- options ---------------------------------------------------------------------------------
DIR=./demo-run
ROUNDS=5 SAMPLES=8000 EPOCHS=10 BATCH=256 LR=0.05
NCLIENTS=2 QUORUM=2 MAX_IN_PROGRESS= GENERATIONS= SHARDS=1
PORT="" TIMEOUT=1800 BIN_DIR="" APP_BIN="" PRIVATE_DB=0 INSTALL=1 ACTION=run
while (($#)); do
  case $1 in
    --dir) DIR=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --sample-count) SAMPLES=$2; shift 2 ;;
    --train-epochs) EPOCHS=$2; shift 2 ;;
    --batch-size) BATCH=$2; shift 2 ;;
    --learning-rate) LR=$2; shift 2 ;;
    --clients) NCLIENTS=$2; shift 2 ;;
    --quorum) QUORUM=$2; shift 2 ;;
    --generations) GENERATIONS=$2; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    --max-in-progress) MAX_IN_PROGRESS=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --bin-dir) BIN_DIR=$2; shift 2 ;;
    --app-binary) APP_BIN=$2; shift 2 ;;
    --private-db) PRIVATE_DB=1; shift ;;
    --no-install) INSTALL=0; shift ;;
    --stop) ACTION=stop; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for opt in rounds:ROUNDS sample-count:SAMPLES train-epochs:EPOCHS batch-size:BATCH timeout:TIMEOUT clients:NCLIENTS quorum:QUORUM shards:SHARDS; do
  v=${opt#*:}
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "demo: --${opt%%:*} must be a positive integer" >&2; exit 2; }
done
[[ -z $GENERATIONS || $GENERATIONS =~ ^[1-9][0-9]*$ ]] ||
  { echo "demo: --generations must be a positive integer" >&2; exit 2; }
[[ -z $MAX_IN_PROGRESS || $MAX_IN_PROGRESS =~ ^[1-9][0-9]*$ ]] ||
  { echo "demo: --max-in-progress must be a positive integer" >&2; exit 2; }
((NCLIENTS <= 26)) || { echo "demo: --clients is at most 26" >&2; exit 2; }
[[ $LR =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]] || { echo "demo: --learning-rate must be a number" >&2; exit 2; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
# The work directory ignores itself, so a ./demo-run inside a git checkout stays out of git.
[[ -e $DIR/.gitignore ]] || echo '*' >"$DIR/.gitignore"
STATE=$DIR/state
PROJECT=$DIR/project
CLIENTS=$DIR/clients
MDB=$DIR/mariadb
LOGS=$DIR/logs
NAME=demo
mkdir -p "$STATE" "$LOGS"
chmod 700 "$STATE"

STEP=0 STEPS=8
step() { STEP=$((STEP + 1)); printf '\n==> [%d/%d] %s\n' "$STEP" "$STEPS" "$*" >&2; }
info() { printf '    %s\n' "$*" >&2; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }
SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p=$1
  while ! port_free "$p"; do p=$((p + 1)); done
  echo "$p"
}
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
wait_gone() { # pid seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do pid_alive "$1" || return 0; sleep 0.1; done
  return 1
}

# ---- database --------------------------------------------------------------------------------
# Settings are kept in state/db.env so a re-run and --stop use the same server.
MDB_SOCK=$MDB/mysqld.sock
((${#MDB_SOCK} < 100)) || MDB_SOCK=/tmp/rboinc-demo-$(echo -n "$DIR" | md5sum | cut -c1-12).sock

private_db_running() { pid_alive "$(cat "$MDB/mariadbd.pid" 2>/dev/null || true)"; }

start_private_db() {
  local user
  user=$(id -un)
  if [[ ! -d $MDB/data/mysql ]]; then
    info "initialising a private MariaDB data directory in $MDB/data"
    mkdir -p "$MDB/data"
    mariadb-install-db --no-defaults --datadir="$MDB/data" --user="$user" \
      --auth-root-authentication-method=socket --auth-root-socket-user="$user" \
      --skip-test-db >"$MDB/install.log" 2>&1 || die "mariadb-install-db failed; see $MDB/install.log"
  fi
  if ! private_db_running; then
    DB_PORT=${DB_PORT:-$(free_port 13306)}
    info "starting a private mariadbd on 127.0.0.1:$DB_PORT (data in $MDB/data)"
    setsid mariadbd --no-defaults --datadir="$MDB/data" --socket="$MDB_SOCK" \
      --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve --user="$user" \
      --pid-file="$MDB/mariadbd.pid" --log-error="$MDB/error.log" </dev/null >/dev/null 2>&1 &
    local i
    for ((i = 0; i < 60; i++)); do
      mariadb-admin --no-defaults --socket="$MDB_SOCK" -u"$user" ping >/dev/null 2>&1 && break
      sleep 0.5
    done
    mariadb-admin --no-defaults --socket="$MDB_SOCK" -u"$user" ping >/dev/null 2>&1 ||
      die "the private mariadbd did not start; see $MDB/error.log"
  fi
  if [[ ! -s $STATE/db_password ]]; then
    random_hex 16 >"$STATE/db_password"
    chmod 600 "$STATE/db_password"
  fi
  # The project's own account, reachable over TCP from 127.0.0.1 only.
  mariadb --no-defaults --socket="$MDB_SOCK" -u"$user" <<SQL
CREATE USER IF NOT EXISTS 'rboinc'@'127.0.0.1' IDENTIFIED BY '$(cat "$STATE/db_password")';
GRANT ALL PRIVILEGES ON *.* TO 'rboinc'@'127.0.0.1';
SQL
  DB_HOST=127.0.0.1:$DB_PORT DB_USER=rboinc
  DB_PASSWD=$(cat "$STATE/db_password")
}

stop_private_db() {
  private_db_running || return 0
  local pid
  pid=$(cat "$MDB/mariadbd.pid")
  mariadb-admin --no-defaults --socket="$MDB_SOCK" -u"$(id -un)" shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  wait_gone "$pid" 30 || kill -9 "$pid" 2>/dev/null || true
  echo "  stopped          private mariadbd (pid $pid)"
}

choose_db() {
  if [[ -s $STATE/db.env ]]; then
    # shellcheck source=/dev/null
    source "$STATE/db.env"
    if ((DB_PRIVATE)); then
      start_private_db
    else
      DB_PASSWD=${RBOINC_DB_PASSWD:-}
    fi
    return
  fi
  DB_PRIVATE=1
  if ((!PRIVATE_DB)); then
    local u=${RBOINC_DB_USER:-root}
    if MYSQL_PWD=${RBOINC_DB_PASSWD:-} mariadb --no-defaults -h127.0.0.1 -P3306 -u"$u" \
         --connect-timeout=3 -e 'SELECT 1' >/dev/null 2>&1; then
      DB_PRIVATE=0 DB_HOST=127.0.0.1:3306 DB_USER=$u DB_PASSWD=${RBOINC_DB_PASSWD:-}
      info "using the MariaDB server on 127.0.0.1:3306 as $u"
    else
      info "no usable MariaDB on 127.0.0.1:3306: starting a private one"
    fi
  fi
  if ((DB_PRIVATE)); then
    DB_PORT=""
    start_private_db
  fi
  cat >"$STATE/db.env" <<EOF
DB_PRIVATE=$DB_PRIVATE
DB_HOST=$DB_HOST
DB_USER=$DB_USER
DB_PORT=${DB_PORT:-}
EOF
}

# ---- clients ---------------------------------------------------------------------------------
client_cmd() { # label args...
  local d=$CLIENTS/$1; shift
  boinccmd --host "localhost:$(cat "$d/gui_port")" --passwd "$(cat "$d/gui_rpc_auth.cfg")" "$@"
}

start_client() { # label
  local label=$1 d=$CLIENTS/$1
  mkdir -p "$d"
  if pid_alive "$(cat "$d/boinc.pid" 2>/dev/null || true)" && client_cmd "$label" --get_cc_status >/dev/null 2>&1; then
    info "client $label already running (pid $(cat "$d/boinc.pid"), GUI RPC port $(cat "$d/gui_port"))"
    return
  fi
  [[ -s $d/gui_rpc_auth.cfg ]] || { random_hex 12 >"$d/gui_rpc_auth.cfg"; chmod 600 "$d/gui_rpc_auth.cfg"; }
  free_port $((31416 + RANDOM % 1000)) >"$d/gui_port"
  # Quick, quiet and loopback-only; nothing weakens security (apps must still be signed).
  cat >"$d/cc_config.xml" <<'EOF'
<cc_config>
  <options>
    <no_info_fetch>1</no_info_fetch>
  </options>
</cc_config>
EOF
  cat >"$d/global_prefs_override.xml" <<'EOF'
<global_preferences>
  <suspend_cpu_usage>0</suspend_cpu_usage>
  <run_if_user_active>1</run_if_user_active>
  <work_buf_min_days>0</work_buf_min_days>
  <work_buf_additional_days>0.01</work_buf_additional_days>
</global_preferences>
EOF
  setsid boinc --dir "$d" --allow_multiple_clients --gui_rpc_port "$(cat "$d/gui_port")" \
    --no_gpus --skip_cpu_benchmarks --sched_retry_delay_min 5 --pers_retry_delay_min 5 \
    </dev/null >>"$d/client.log" 2>&1 &
  echo $! >"$d/boinc.pid"
  local i
  for ((i = 0; i < 100; i++)); do
    client_cmd "$label" --get_cc_status >/dev/null 2>&1 && break
    pid_alive "$(cat "$d/boinc.pid")" || die "client $label exited at start-up; see $d/client.log"
    sleep 0.2
  done
  client_cmd "$label" --get_cc_status >/dev/null 2>&1 || die "client $label does not answer GUI RPC; see $d/client.log"
  info "client $label started (pid $(cat "$d/boinc.pid"), data $d, GUI RPC port $(cat "$d/gui_port"))"
}

attach_client() { # label url key
  if client_cmd "$1" --get_project_status 2>/dev/null | grep -qF "master URL: $2"; then
    info "client $1 is attached to $2"
  else
    client_cmd "$1" --project_attach "$2" "$3"
    info "client $1 attached to $2"
  fi
}

stop_client() { # label
  local d=$CLIENTS/$1 pid
  pid=$(cat "$d/boinc.pid" 2>/dev/null || true)
  pid_alive "$pid" || return 0
  client_cmd "$1" --quit >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  wait_gone "$pid" 15 || kill -9 "$pid" 2>/dev/null || true
  echo "  stopped          BOINC client $1 (pid $pid)"
}

# ---- --stop ----------------------------------------------------------------------------------
# Anything of ours still running in the work directory (a task the client left, a daemon started
# by hand) is found through /proc and ended too, so nothing survives --stop. Only our programs
# (and shells) whose working directory is inside the work directory are candidates, and never
# this script's own ancestors (say, a terminal shell sitting in the work directory).
leftovers() {
  local p exe cwd me=$$ ancestors=" "
  while [[ $me -gt 1 ]]; do
    ancestors+="$me "
    me=$(awk '{print $4}' "/proc/$me/stat" 2>/dev/null || echo 1)
  done
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $ancestors == *" $p "* || $p == "$BASHPID" ]] && continue
    cwd=$(readlink "/proc/$p/cwd" 2>/dev/null || true)
    [[ $cwd == "$DIR" || $cwd == "$DIR"/* ]] || continue
    exe=$(readlink "/proc/$p/exe" 2>/dev/null || true)
    case ${exe##*/} in
      boinc | mariadbd | scheduler | transitioner | validator | script_assimilator | \
        file_deleter | db_purge | work_generator | mnist | sample_*) ;;
      *) [[ $exe == "$DIR"/* ]] || continue ;;
    esac
    pid_alive "$p" && echo "$p"
  done
}

stop_all() {
  echo "Stopping the demo in $DIR" >&2
  local c
  for c in "$CLIENTS"/*/; do [[ -d $c ]] && stop_client "$(basename "$c")"; done
  if [[ -f $PROJECT/config.xml ]]; then
    local stop_bin=${BIN_DIR:+$BIN_DIR/stop}
    [[ -n $stop_bin && -x $stop_bin ]] || stop_bin=$PROJECT/bin/stop
    "$stop_bin" --project-dir "$PROJECT" --timeout 20 || true
  fi
  if [[ -s $STATE/db.env ]] && grep -q '^DB_PRIVATE=1' "$STATE/db.env"; then
    stop_private_db
  fi
  local left
  left=$(leftovers)
  if [[ -n $left ]]; then
    echo "  ending leftover processes: $(echo $left)" >&2
    kill $left 2>/dev/null || true
    sleep 1
    left=$(leftovers)
    [[ -z $left ]] || kill -9 $left 2>/dev/null || true
  fi
  [[ -z $(leftovers) ]] || die "processes are still running from $DIR: $(leftovers | tr '\n' ' ')"
  echo "Nothing of the demo is running any more. To start from scratch: rm -rf $DIR" >&2
}

if [[ $ACTION == stop ]]; then
  stop_all
  exit 0
fi

# ---- 1. packages -----------------------------------------------------------------------------
step "checking the tools this needs"
need=()
command -v boinc >/dev/null && command -v boinccmd >/dev/null || need+=(boinc-client)
command -v mariadb >/dev/null && command -v mariadb-admin >/dev/null || need+=(mariadb-client)
if [[ -x /usr/sbin/mariadbd ]] || command -v mariadbd >/dev/null; then :; else need+=(mariadb-server); fi
# Building the server links the system's libcrypto (the RSA of signing, as BOINC's own server).
if [[ -z $BIN_DIR ]] && ! pkg-config --exists openssl 2>/dev/null; then need+=(libssl-dev pkg-config); fi
if ((${#need[@]})); then
  ((INSTALL)) || die "missing packages: ${need[*]} (run without --no-install, or install them)"
  info "installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  # Debian starts the packaged boinc-client service; this demo runs its own clients.
  if [[ " ${need[*]} " == *" boinc-client "* ]] && command -v systemctl >/dev/null; then
    $SUDO systemctl disable --now boinc-client >/dev/null 2>&1 || true
  fi
fi
PATH=$PATH:/usr/sbin
if [[ -z $BIN_DIR || -z $APP_BIN ]]; then
  command -v cargo >/dev/null || die "cargo is missing: install Rust 1.95 or newer (https://rustup.rs), then run this again"
fi
info "boinc $(boinc --version 2>/dev/null | head -n 1), $(mariadb --version | sed 's/^mariadb *//' | cut -c1-40)"

# ---- 2. database -----------------------------------------------------------------------------
step "database"
choose_db
info "MariaDB at $DB_HOST (user $DB_USER$( ((DB_PRIVATE)) && echo ", private server in $MDB"))"

# ---- 3. build --------------------------------------------------------------------------------
step "building rboinc (release) and the static mnist app"
if [[ -z $BIN_DIR ]]; then
  info "cargo build --release (the first build takes several minutes; log in $LOGS/build.log)"
  (cd "$REPO" && cargo build --release --bins -p rboinc-scheduler -p rboinc-daemons -p rboinc-tools -p rboinc-research) \
    >"$LOGS/build.log" 2>&1 || { tail -n 30 "$LOGS/build.log" >&2; die "the build failed; see $LOGS/build.log"; }
  BIN_DIR=${CARGO_TARGET_DIR:-$REPO/target}/release
else
  info "using binaries in $BIN_DIR"
fi
BIN_DIR=$(cd "$BIN_DIR" && pwd)
for b in make_project update_versions start stop status series scheduler transitioner validator; do
  [[ -x $BIN_DIR/$b ]] || die "$BIN_DIR/$b is missing"
done
if [[ -z $APP_BIN ]]; then
  APP_BIN=$("$REPO/app/build-static.sh" 2>>"$LOGS/build.log" | tail -n 1) ||
    { tail -n 30 "$LOGS/build.log" >&2; die "the app build failed; see $LOGS/build.log"; }
fi
[[ -x $APP_BIN ]] || die "app binary $APP_BIN is missing"
info "app binary $APP_BIN"

# ---- 4. project ------------------------------------------------------------------------------
step "project"
DB_NAME=rboinc_demo_$(echo -n "$DIR" | md5sum | cut -c1-8)
if [[ ! -f $PROJECT/config.xml ]]; then
  PORT=${PORT:-$(free_port 18080)}
  port_free "$PORT" || die "port $PORT is in use (choose another with --port)"
  # A leftover database of an earlier demo in this same directory would be adopted with its old
  # rows; this is the demo's own database, so start it afresh.
  MYSQL_PWD=$DB_PASSWD mariadb --no-defaults -h"${DB_HOST%%:*}" -P"${DB_HOST##*:}" -u"$DB_USER" \
    -e "DROP DATABASE IF EXISTS $DB_NAME" || die "cannot reach the database as $DB_USER"
  rm -rf "$PROJECT"
  info "make_project (its output, with the submitter's key and the ops password, is shown once):"
  RBOINC_DB_PASSWD=$DB_PASSWD "$BIN_DIR/make_project" "$NAME" "rboinc demo" \
    --project_root "$PROJECT" --url_base "http://127.0.0.1:$PORT/" \
    --db_host "$DB_HOST" --db_user "$DB_USER" --db_name "$DB_NAME" \
    --submitter-email "researcher@demo.invalid" --submitter-name "Demo researcher" \
    --bin-dir "$BIN_DIR" | tee "$LOGS/make_project.out" | sed 's/^/    | /' >&2
  chmod 600 "$LOGS/make_project.out"
  awk '/authenticator/ {print $2; exit}' "$LOGS/make_project.out" >"$STATE/authenticator"
  [[ -s $STATE/authenticator ]] || die "make_project printed no authenticator"
  # Fast turnaround, bought with more polling than a public project would want:
  # - idle clients ask again after 5 s (the scheduler sends BOINC's <next_rpc_delay> in every
  #   reply), so a new series is picked up at once; make_project already makes busy clients
  #   come back every few seconds (<next_rpc_delay_busy>);
  # - the daemons a result passes through look for work every second instead of every 5.
  sed -i -e 's|    </config>|        <next_rpc_delay>5</next_rpc_delay>\n    </config>|' \
    -e 's#<cmd>\(transitioner\|work_generator\|validator\|script_assimilator\) -d 3#<cmd>\1 -d 3 --sleep_interval 1#' \
    "$PROJECT/config.xml"
else
  info "reusing the project in $PROJECT"
fi
MASTER_URL=$(sed -n 's|.*<master_url>\(.*\)</master_url>.*|\1|p' "$PROJECT/config.xml")
KEY=$(cat "$STATE/authenticator")
info "master URL $MASTER_URL"

app_sum=$(sha256sum "$APP_BIN" | cut -c1-64)
if [[ $(cat "$STATE/app.sha256" 2>/dev/null || true) != "$app_sum" ]]; then
  n=$(ls "$PROJECT/apps/mnist" 2>/dev/null | grep -c '^1\.' || true)
  version=1.$n
  info "publishing the mnist app as version $version"
  "$BIN_DIR/update_versions" --project-dir "$PROJECT" --add-app-binary "$APP_BIN" \
    --app mnist --version "$version" 2>&1 | sed 's/^/    | /' >&2
  echo "$app_sum" >"$STATE/app.sha256"
else
  info "the published mnist app is up to date"
fi

# The per-host limit is set (or removed) on every run; the scheduler reads it when it starts.
sed -i '/<max_wus_in_progress>/d' "$PROJECT/config.xml"
if [[ -n $MAX_IN_PROGRESS ]]; then
  sed -i "s|    </config>|        <max_wus_in_progress>$MAX_IN_PROGRESS</max_wus_in_progress>\n    </config>|" "$PROJECT/config.xml"
  info "a host holds at most $MAX_IN_PROGRESS job(s) per CPU (max_wus_in_progress)"
fi

# ---- 5. daemons ------------------------------------------------------------------------------
step "starting the daemons (start)"
"$BIN_DIR/start" --project-dir "$PROJECT" | sed 's/^/    | /' >&2 ||
  die "some daemons did not start; see $PROJECT/log_*/ and \`$BIN_DIR/status --project-dir $PROJECT\`"
for ((i = 0; i < 50; i++)); do
  (exec 3<>"/dev/tcp/127.0.0.1/$(sed -n 's|http://[^:/]*:\([0-9]*\)/.*|\1|p' <<<"$MASTER_URL")") 2>/dev/null && break
  sleep 0.2
done

# ---- 6. clients ------------------------------------------------------------------------------
step "$NCLIENTS stock BOINC client(s)"
mkdir -p "$CLIENTS"
# Clients are labelled a, b, c…; running ones beyond --clients (from an earlier run) are stopped.
LABELS=()
LETTERS=abcdefghijklmnopqrstuvwxyz
for ((i = 0; i < NCLIENTS; i++)); do LABELS+=("${LETTERS:i:1}"); done
for c in "$CLIENTS"/*/; do
  [[ -d $c ]] || continue
  c=$(basename "$c")
  [[ " ${LABELS[*]} " == *" $c "* ]] || stop_client "$c" >&2
done
for c in "${LABELS[@]}"; do start_client "$c"; done
for c in "${LABELS[@]}"; do attach_client "$c" "$MASTER_URL" "$KEY"; done
attached_at=$(date +%s.%N)

# ---- 7. the series ---------------------------------------------------------------------------
if [[ -n $GENERATIONS ]]; then
  shape=(--generations "$GENERATIONS" --epochs-per-generation "$EPOCHS" --shards "$SHARDS")
  what="$GENERATIONS generations of $EPOCHS epoch(s)"
  if ((SHARDS > 1)); then what+=", $SHARDS shards each"; fi
else
  shape=(--rounds "$ROUNDS")
  what="$ROUNDS rounds"
fi
step "series run: $what, quorum $QUORUM, $NCLIENTS client(s) ($SAMPLES samples, $EPOCHS epochs, batch $BATCH, lr $LR)"
series_name=demo_$(date -u +%Y%m%d_%H%M%S)
# No --delay-bound: `series` fits it to the job (the floor, 5 minutes, for this one), so a round
# held by a client that was killed goes to another host within minutes; with the two clients of
# the demo and one replica per host, the progress says which round waits for a third host.
set +e
"$BIN_DIR/series" --project-dir "$PROJECT" run --name "$series_name" "${shape[@]}" \
  --sample-count "$SAMPLES" --train-epochs "$EPOCHS" --batch-size "$BATCH" \
  --learning-rate "$LR" --min-quorum "$QUORUM" --target-nresults "$QUORUM" --dataset "$REPO/app/data/mnist-10k" --poll 1 --timeout "$TIMEOUT" \
  >"$LOGS/$series_name.out" 2> >(tee "$LOGS/$series_name.err" | sed 's/^/    | /' >&2)
rc=$?
set -e
sleep 0.2 # let the progress pipe drain
((rc == 0)) || die "series run failed (exit $rc); see $LOGS/$series_name.err, \`$BIN_DIR/status --project-dir $PROJECT\` and the daemon logs in $PROJECT/log_*/ (stop everything with: $0 --stop --dir $DIR)"
REPORT=$(tail -n 1 "$LOGS/$series_name.out")
[[ -d $REPORT ]] || die "series run printed no report directory"

# ---- 8. summary ------------------------------------------------------------------------------
step "done"
done_at=$(date +%s.%N)
distributed=$(sed -n 's/^distributed part finished in \([0-9.]*\) s$/\1/p' "$LOGS/$series_name.err" | tail -n 1)
info "$(grep -m1 -o '[0-9]* rounds bit-identical[^)]*' "$LOGS/$series_name.err" || true)"
info "distributed part (submit → every round validated and assimilated): ${distributed:-?} s"
info "from the clients attached to the report: $(awk -v a="$attached_at" -v b="$done_at" 'BEGIN {printf "%.1f", b - a}') s"
info "summary: $REPORT/summary.md"
info "status:  $BIN_DIR/status --project-dir $PROJECT"
info "ops:     $(sed -E 's|^(https?://[^/]+)/.*|\1|' <<<"$MASTER_URL")/ops (user admin, password shown by make_project on the first run)"
info "stop:    $0 --stop --dir $DIR"
echo "$REPORT"
