#!/bin/sh
# run_scenario.sh VSS_SIM SCENARIO OUTDIR [VSS-SIM OPTION...] -- ASSERTION...
# Runs one scenario (no plots) and checks its summary (check_summary.sh).
set -eu
sim=$1 scenario=$2 out=$3
shift 3
opts=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts="$opts $1"; shift; done
[ $# -gt 0 ] && shift
rm -rf "$out"
# shellcheck disable=SC2086 # options are words on purpose
"$sim" "$scenario" --out "$out" --no-report --no-progress $opts
exec sh "$(dirname "$0")/check_summary.sh" "$out/summary.csv" "$@"
