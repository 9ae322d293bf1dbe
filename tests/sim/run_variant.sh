#!/bin/sh
# run_variant.sh VSS_SIM SCENARIO OUTDIR 'KEY = VALUE' -- ASSERTION...
# run_scenario.sh on a copy of SCENARIO with one more [scenario] key
# (e.g. payload = size-only), so a variant needs no second file to keep
# in step with the first.
set -eu
sim=$1 scenario=$2 out=$3 line=$4
shift 4
mkdir -p "$out.d"
copy=$out.d/$(basename "$scenario")
sed "s/^\[scenario\][[:space:]]*$/[scenario]\n$line/" "$scenario" > "$copy"
grep -q "^$line\$" "$copy" || { echo "run_variant: no [scenario] in $scenario" >&2; exit 1; }
exec sh "$(dirname "$0")/run_scenario.sh" "$sim" "$copy" "$out" "$@"
