#!/bin/sh
# report.sh VSS_SIM SCENARIO OUTDIR - a run with its report: the last line
# printed is the report's path; the report states seed and model and, when
# gnuplot is installed, shows the three plots (PNG and SVG written).
set -eu
sim=$1 scenario=$2 out=$3
rm -rf "$out"
path=$("$sim" "$scenario" --out "$out" --no-progress | tail -1)
[ "$path" = "$out/report.md" ] || { echo "FAIL last line '$path'"; exit 1; }
seed=$(awk -F, '$1 == "seed" { print $2 }' "$out/summary.csv")
grep -q "| Seed | $seed " "$path" || { echo "FAIL no seed in report"; exit 1; }
grep -q "| Network model | lv08-warm" "$path" || { echo "FAIL no model in report"; exit 1; }
if command -v gnuplot > /dev/null; then
  for p in latency_cdf link_bandwidth device_bytes; do
    [ -s "$out/$p.png" ] && [ -s "$out/$p.svg" ] || { echo "FAIL $p plot missing"; exit 1; }
    grep -q "($p.png)" "$path" || { echo "FAIL $p not inline"; exit 1; }
  done
fi
echo "ok   $path (seed $seed)"
