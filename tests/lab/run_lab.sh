#!/bin/sh
# run_lab.sh BUILD SRC - play tests/lab/lab-smoke.ini with real nodes and
# check what the lab must guarantee: the grid is fetched (20 verified
# fetches from the desktop), the report and the sim comparison are
# written, and nothing the lab created is left behind. Exit 77 (CTest:
# skipped) when the machine cannot run a lab, with the reason printed.
set -u
build=$1 src=$2
out=$(mktemp -d /tmp/vss-lab-test.XXXXXX)
trap 'rm -rf "$out"' EXIT
# Our own tag: other labs (a parallel CTest elsewhere) may run meanwhile.
tag=lt$(($$ % 10000))
# (the preflight's own namespace, ${tag}pf, included)
mine() { ip netns list 2>/dev/null | grep -c "^$tag" || true; }
python3 "$src/real/lab/vss-lab" "$src/tests/lab/lab-smoke.ini" --build "$build" --out "$out/run" --tag "$tag"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: vss-lab exit $rc"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }
get() { grep "^$1," "$out/run/summary.csv" | cut -d, -f2; }
[ "$(get fetches)" = 20 ] || fail "fetches = $(get fetches), want 20"
[ "$(get fetches.bytes)" = 900000 ] || fail "fetches.bytes = $(get fetches.bytes)"
grep -q '^laptop,3,20,20,' "$out/run/grids.csv" || fail "grid not complete: $(cat "$out/run/grids.csv")"
grep -q '^share.desktop,1,' "$out/run/compare.csv" || fail "compare.csv: $(cat "$out/run/compare.csv")"
[ -s "$out/run/report.md" ] || fail "no report"
[ "$(mine)" = 0 ] || fail "namespaces left behind: $(ip netns list)"
pgrep -f "$out/run/nodes" >/dev/null && fail "processes left behind"
# Interrupted mid-run (SIGTERM, as CTest or a user would): it must still
# remove every namespace and process it made.
python3 "$src/real/lab/vss-lab" "$src/tests/lab/lab-smoke.ini" --build "$build" \
  --out "$out/int" --no-sim --tag "$tag" >"$out/int.log" 2>&1 &
pid=$!
sleep 5
kill -TERM $pid
wait $pid
grep -q interrupted "$out/int.log" || echo "note: the run ended before the signal"
[ "$(mine)" = 0 ] || fail "interrupted: namespaces left behind: $(ip netns list)"
sleep 1
pgrep -f "$out/int/nodes" >/dev/null && fail "interrupted: processes left behind"
echo "ok: grid of 20 fetched by real nodes; report $out/run/report.md"
