#!/bin/sh
# assimilate_metrics.sh: files the result of each finished mnist workunit.
#
# script_assimilator runs it once per workunit; config.xml:
#   <daemon>
#     <cmd>script_assimilator -d 3 --app mnist --script "assimilate_metrics.sh wu_name files2"</cmd>
#     <output>assimilator_mnist.log</output>
#   </daemon>
# with this file in the project's bin/ directory. Arguments:
#   success: assimilate_metrics.sh WU_NAME PATH OPEN_NAME [PATH OPEN_NAME ...]
#            copies the output whose logical name is metrics.json to
#            results/<app>/<WU_NAME>/metrics.json, and first the one named weights.npy (when
#            the job exported its weights and it was uploaded) to .../weights.npy
#   failure: assimilate_metrics.sh --error ERROR_MASK WU_NAME WU_ID BATCH
#            writes results/<app>/<WU_NAME>/error.txt
# Files are written under a temporary name and renamed into place, so nobody ever reads half a
# file; the temporary name carries this process's id, so two runs for the same workunit (a script
# still finishing after its assimilator was killed, and the restarted assimilator's) never write
# into each other's file. The project directory and app come from BOINC_PROJECT_DIR and BOINC_APP, which
# script_assimilator sets (defaults: this script's parent directory, "mnist").
# `script_assimilator --builtin copy_metrics` does the same in-process, byte for byte.
# Exit status: 0 done, 2 bad arguments, 3 the metrics file is missing, other: a failed command.
set -eu

project=${BOINC_PROJECT_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
app=${BOINC_APP:-mnist}

usage() {
    echo "usage: $0 WU_NAME PATH OPEN_NAME [PATH OPEN_NAME ...]" >&2
    echo "       $0 --error ERROR_MASK WU_NAME WU_ID BATCH" >&2
    exit 2
}

# A name must be one plain path component: no "..", "/", control characters.
check_name() {
    case $1 in
        '' | . | *..* | */* | *[[:cntrl:]]*)
            echo "refusing to file under the name '$1'" >&2
            exit 2
            ;;
    esac
}

# publish DIR NAME: moves DIR/.NAME.tmp.<pid> to DIR/NAME.
publish() {
    mv -f "$1/.$2.tmp.$$" "$1/$2"
}

if [ "${1:-}" = "--error" ]; then
    [ $# -eq 5 ] || usage
    mask=$2 wu_name=$3 wu_id=$4 batch=$5
    check_name "$app"
    check_name "$wu_name"
    dir=$project/results/$app/$wu_name
    mkdir -p "$dir"
    printf 'error_mask=%s\nwu_name=%s\nwu_id=%s\nbatch=%s\n' \
        "$mask" "$wu_name" "$wu_id" "$batch" >"$dir/.error.txt.tmp.$$"
    publish "$dir" error.txt
    exit 0
fi

[ $# -ge 1 ] || usage
wu_name=$1
shift
check_name "$app"
check_name "$wu_name"
[ $(($# % 2)) -eq 0 ] || usage

src=
weights=
while [ $# -gt 0 ]; do
    if [ "$2" = metrics.json ]; then
        src=$1
    elif [ "$2" = weights.npy ]; then
        weights=$1
    fi
    shift 2
done
if [ -z "$src" ]; then
    echo "the canonical result has no output file with logical name metrics.json" >&2
    exit 3
fi
if [ ! -f "$src" ]; then
    echo "cannot read $src: no such file" >&2
    exit 3
fi

dir=$project/results/$app/$wu_name
mkdir -p "$dir"
if [ -n "$weights" ] && [ -f "$weights" ]; then
    cp "$weights" "$dir/.weights.npy.tmp.$$"
    publish "$dir" weights.npy
fi
cp "$src" "$dir/.metrics.json.tmp.$$"
publish "$dir" metrics.json
