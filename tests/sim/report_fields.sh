#!/bin/sh
# report_fields.sh VSS_SIM SCENARIO_DIR OUTDIR README - what the report
# files must say (issue 9 §4), on tests/sim/gossip-steady.ini (a library
# of 5,000 thumbnails on a NAS, two empty devices, an hour, a restart):
#  - the first exchange (full digests) apart from the steady state per
#    device per hour, in the summary and in a line of report.md;
#  - setup, simulation and report wall times in run.csv and report.md;
#  - job ids restart with a restarted node: events.csv's node_run tells
#    the two job 1s of the laptop apart;
#  - no data is n/a in summary.csv and null in summary.json (no -1);
#  - a 64-bit seed is a string in the JSON, digit for digit;
#  - every key a run writes (this one and byzantine-source.ini) is
#    documented in sim/README.md.
set -eu
sim=$1 scen=$2 out=$3 readme=$4
here=$(dirname "$0")
rm -rf "$out"
seed=18446744073709551557
"$sim" "$here/gossip-steady.ini" --out "$out/g" --seed $seed --no-progress > "$out.log" 2>&1 ||
  { cat "$out.log"; exit 1; }
"$sim" "$scen/byzantine-source.ini" --out "$out/b" --no-report --no-progress > /dev/null
fail() { echo "FAIL $*"; exit 1; }
sh "$here/check_summary.sh" "$out/g/summary.csv" \
  'gossip.first_exchange_bytes_per_device>100000' \
  'gossip.steady_bytes_per_device_hour<5000' 'gossip.steady_bytes_per_device_hour>0' \
  'gossip.full_bytes>gossip.steady_bytes' 'gossip.steady_window_s==3600' \
  'device.nas.gossip_first_bytes>300000' 'device.laptop.gossip_steady_bytes_per_hour<5000' \
  'prefetch.count==0' 'prefetch.p50_ms==n/a' 'first_thumb_ms==n/a' \
  'byzantine.chosen_after_first_bad_s==n/a' 'request.done==2'
# no -1 standing for "no data" in the summary
if awk -F, '$2 == "-1"' "$out/g/summary.csv" "$out/b/summary.csv" | grep -q .; then
  fail "-1 in a summary: $(awk -F, '$2 == "-1"' "$out/g/summary.csv" "$out/b/summary.csv")"
fi
grep -q '"prefetch.p50_ms": null' "$out/g/summary.json" || fail "n/a is not null in JSON"
grep -q "\"seed\": \"$seed\"" "$out/g/summary.json" || fail "seed not a string in JSON"
grep -q "^seed,$seed\$" "$out/g/summary.csv" || fail "seed in CSV"
echo "ok   no data is n/a (null); the seed $seed is a string"
for k in wall_s setup_wall_s run_wall_s summary_wall_s report_wall_s; do
  grep -q "^$k," "$out/g/run.csv" || fail "run.csv has no $k"
done
grep -q "setup .* s: scenario" "$out/g/report.md" || fail "report.md has no setup time"
grep -q "| Gossip, first exchanges |" "$out/g/report.md" || fail "report.md: no first-exchange line"
grep -q "| Gossip, steady state | .* per device per hour" "$out/g/report.md" || fail "report.md: no steady line"
echo "ok   wall times and gossip lines in run.csv / report.md"
head -1 "$out/g/events.csv" | grep -q ',node_run$' || fail "events.csv has no node_run column"
runs=$(awk -F, '$2 == "laptop" && $3 == "fetch_done" && $8 == 1 { print $NF }' "$out/g/events.csv" | tr '\n' ' ')
[ "$runs" = "0 1 " ] || fail "laptop's job 1 by node_run: '$runs' (want '0 1 ')"
echo "ok   job 1 of the laptop twice, node_run 0 then 1"
# Every key documented: README rows "| `a.b.c`, `.d`, `x.*` | ..." give
# full keys, suffixes of the first key's prefix, and prefix wildcards.
awk -F, -v readme="$readme" '
  BEGIN {
    while ((getline line < readme) > 0) {
      if (line !~ /^\| `/) continue
      split(line, cell, "|"); c = cell[2]; base = ""
      while (match(c, /`[^`]+`/)) {
        t = substr(c, RSTART + 1, RLENGTH - 2); c = substr(c, RSTART + RLENGTH)
        if (t ~ /^\./) doc[base t] = 1
        else if (t ~ /\.\*$/) wild[substr(t, 1, length(t) - 1)] = 1
        else { doc[t] = 1; base = t; sub(/\.[^.]*$/, "", base) }
      }
    }
  }
  FNR > 1 {
    k = $1
    if (k ~ /^device\./) { sub(/^device\.[^.]+\./, "device.NAME.", k); sub(/\.held\.[a-z_]+$/, ".held.KIND", k) }
    else if (k ~ /^link\./) { n = split(k, p, "."); k = "link.NAME." p[n] }
    else if (k ~ /^pair\./) k = "pair.SRC.DST.data_bytes"
    else if (k ~ /^first_request\.from\./) k = "first_request.from.NAME"
    ok = k in doc
    for (w in wild) if (index(k, w) == 1) ok = 1
    if (!ok && !(k in miss)) { miss[k] = 1; printf "FAIL %s (%s) not documented in sim/README.md\n", $1, k; bad++ }
  }
  END { exit bad ? 1 : 0 }' "$out/g/summary.csv" "$out/b/summary.csv"
echo "ok   every summary key is documented"
