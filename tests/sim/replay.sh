#!/bin/sh
# replay.sh VSS_SIM SCENARIO OUTDIR - the same seed replays exactly: two
# runs give byte-identical CSV and JSON files; another seed gives another
# event log.
set -eu
sim=$1 scenario=$2 out=$3
rm -rf "$out"
for run in a b; do
  "$sim" "$scenario" --out "$out/$run" --no-report --no-progress > /dev/null
done
"$sim" "$scenario" --out "$out/c" --seed 12345 --no-report --no-progress > /dev/null
for f in summary.csv summary.json events.csv devices.csv links.csv pairs.csv latency.csv link_series.csv link_util.csv marks.csv grids.csv requests.csv; do
  cmp "$out/a/$f" "$out/b/$f"
  echo "ok   $f identical across two runs with one seed"
done
if cmp -s "$out/a/events.csv" "$out/c/events.csv"; then
  echo "FAIL events.csv identical with another seed"
  exit 1
fi
echo "ok   another seed, another event log"
