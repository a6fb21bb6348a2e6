#!/usr/bin/env bash
# The server container's main process.
#
# First start (no config.xml yet): waits for the database, creates the project with make_project
# (which prints the submitter's authenticator and the ops password ONCE, to this container's
# log), points results/ and reports/ at the results volume, and publishes the image's mnist
# binary with update_versions. Every start: `start --foreground`, which runs the daemons listed
# in config.xml (scheduler included), restarts any that die, and stops them all on SIGTERM.
#
# Configuration (environment; no secret has a default):
#   RBOINC_DB_PASSWD     database password (required)
#   RBOINC_DB_HOST       database host[:port]          [db]
#   RBOINC_DB_USER       database user                 [rboinc]
#   RBOINC_PROJECT_NAME  short name, URL path, db name [rboinc]
#   RBOINC_URL_BASE      URL clients reach the server by [http://server:8080/]
#   RBOINC_APP_VERSION   version of the published mnist app [1.0]
#   RBOINC_SUBMITTER_EMAIL  the researcher's account   [submitter@<name>.invalid]
set -euo pipefail

: "${RBOINC_DB_PASSWD:?set RBOINC_DB_PASSWD (the database password)}"
name=${RBOINC_PROJECT_NAME:-rboinc}
db_host=${RBOINC_DB_HOST:-db}
db_user=${RBOINC_DB_USER:-rboinc}
url_base=${RBOINC_URL_BASE:-http://server:8080/}
app_version=${RBOINC_APP_VERSION:-1.0}
root=/srv/rboinc/$name

log() { printf '[server-entrypoint] %s\n' "$*"; }

wait_for_db() {
  local host=${db_host%%:*} port=3306
  [[ $db_host == *:* ]] && port=${db_host##*:}
  for _ in $(seq 1 120); do
    if MYSQL_PWD=$RBOINC_DB_PASSWD mariadb-admin ping -h "$host" -P "$port" -u "$db_user" \
         --connect-timeout=2 >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  log "database $db_host did not answer within 120 s"; exit 1
}

if [[ ! -f $root/config.xml ]]; then
  wait_for_db
  log "creating project $name at $root"
  # make_project reads the password from RBOINC_DB_PASSWD (never from the command line).
  make_project "$name" --project_root "$root" --url_base "$url_base" \
    --db_host "$db_host" --db_user "$db_user" --db_name "$name" \
    --submitter-email "${RBOINC_SUBMITTER_EMAIL:-submitter@$name.invalid}"
  for d in results reports; do
    mkdir -p "/srv/results/$d"
    rmdir "$root/$d" && ln -s "/srv/results/$d" "$root/$d"
  done
  update_versions --project-dir "$root" --add-app-binary /opt/rboinc/app/mnist \
    --app mnist --version "$app_version"
else
  wait_for_db
fi

# A new image may carry a new app version: publish it if this version is not registered yet.
if [[ ! -d $root/apps/mnist/$app_version ]]; then
  update_versions --project-dir "$root" --add-app-binary /opt/rboinc/app/mnist \
    --app mnist --version "$app_version"
fi

exec start --project-dir "$root" --foreground
