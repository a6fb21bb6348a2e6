#!/usr/bin/env bash
# The clients-versus-time study: the same series run with 1, 2, 4… stock BOINC clients on this
# machine (through scripts/demo.sh, in one work directory, so the project is built once), then
# wall-clock time and rounds per minute drawn against the number of clients with the ideal line.
#
#   scripts/scaling.sh --clients 1,2,4 --rounds 20
#   scripts/scaling.sh --stop [--dir DIR]     # stop what the runs left running
#
# Each round is trained by one host (quorum 1), so added clients add throughput instead of
# replicas, and a host holds at most one job per CPU (max_wus_in_progress 1), so the first
# client to ask does not take every round into its work buffer. Time is the series'
# distributed part (submit → every round validated and assimilated), as `series run` reports it. Before the timed runs one warm-up series of one round
# runs with the most clients, so that every client has the app and dataset when timing starts.
# Writes DIR/scaling/runs.csv (clients,rounds,seconds), scaling.png and scaling.md; the
# directory is the LAST line printed. Other options are passed on to scripts/demo.sh
# (--sample-count, --train-epochs, --bin-dir, --app-binary, --private-db, --no-install, …).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENT_LIST=1,2,4 ROUNDS=20 DIR=./scaling-run BIN_DIR="" STOP=0 WARMUP=1
PASS=()
while (($#)); do
  case $1 in
    --clients) CLIENT_LIST=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --bin-dir) BIN_DIR=$2; PASS+=("$1" "$2"); shift 2 ;;
    --no-warmup) WARMUP=0; shift ;;
    --stop) STOP=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --quorum|--max-in-progress) echo "scaling: $1 is set by the study (1)" >&2; exit 2 ;;
    --private-db|--no-install) PASS+=("$1"); shift ;;
    --*) (($# >= 2)) || { echo "scaling: $1 needs a value" >&2; exit 2; }; PASS+=("$1" "$2"); shift 2 ;;
    *) echo "scaling: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if ((STOP)); then
  exec "$REPO/scripts/demo.sh" --stop --dir "$DIR" "${PASS[@]}"
fi
IFS=, read -r -a COUNTS <<<"$CLIENT_LIST"
((${#COUNTS[@]})) || { echo "scaling: --clients needs at least one number" >&2; exit 2; }
max=0
for n in "${COUNTS[@]}"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "scaling: --clients takes positive whole numbers, got '$n'" >&2; exit 2; }
  ((n > max)) && max=$n
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "scaling: --rounds must be a positive integer" >&2; exit 2; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
OUT=$DIR/scaling
mkdir -p "$OUT"
run() { # clients rounds -> prints the distributed seconds
  local log=$OUT/demo_$1clients_$2rounds.log
  "$REPO/scripts/demo.sh" --dir "$DIR" --clients "$1" --quorum 1 --max-in-progress 1 --rounds "$2" "${PASS[@]}" \
    >"$log.out" 2>"$log" || { tail -n 20 "$log" >&2; echo "scaling: the run with $1 client(s) failed; see $log" >&2; exit 1; }
  local s
  s=$(sed -n 's/^distributed part finished in \([0-9.]*\) s$/\1/p;s/^ *| distributed part finished in \([0-9.]*\) s$/\1/p' "$log" | tail -n 1)
  [[ -n $s ]] || { echo "scaling: no time found in $log" >&2; exit 1; }
  echo "$s"
}

if ((WARMUP)); then
  echo "==> warm-up: 1 round with $max client(s) (app and dataset downloaded once per client)" >&2
  run "$max" 1 >/dev/null
fi
echo "clients,rounds,seconds" >"$OUT/runs.csv"
for n in "${COUNTS[@]}"; do
  echo "==> $ROUNDS rounds with $n client(s)" >&2
  s=$(run "$n" "$ROUNDS")
  echo "    $s s" >&2
  echo "$n,$ROUNDS,$s" >>"$OUT/runs.csv"
done

PLOT=${BIN_DIR:+$BIN_DIR/scaling_plot}
if [[ -z $PLOT || ! -x $PLOT ]]; then
  (cd "$REPO" && cargo build --release -q -p rboinc-research --bin scaling_plot) >&2
  PLOT=${CARGO_TARGET_DIR:-$REPO/target}/release/scaling_plot
fi
"$PLOT" --csv "$OUT/runs.csv" --out "$OUT"
cat "$OUT/runs.csv" >&2
echo "    stop the project and clients: $0 --stop --dir $DIR" >&2
echo "$OUT"
