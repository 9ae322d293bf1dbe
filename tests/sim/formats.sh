#!/bin/sh
# formats.sh VSS_SIM OUTDIR - runs tests/sim/formats.ini and asserts what
# each format extension must do (see the file's comments): ranges of
# links in the timeline, request count/step and every/until, a proxy
# request's default variant, two [sidecars] with one size, seeded churn.
set -eu
sim=$1 out=$2
here=$(dirname "$0")
rm -rf "$out"
"$sim" "$here/formats.ini" --out "$out/a" --no-report --no-progress > /dev/null
"$sim" "$here/formats.ini" --out "$out/b" --no-report --no-progress > /dev/null
"$sim" "$here/formats.ini" --out "$out/c" --no-report --no-progress --seed 6 > /dev/null
fail() { echo "FAIL $*"; exit 1; }
sh "$here/check_summary.sh" "$out/a/summary.csv" \
  'device.laptop.requests_done==6' 'device.laptop.requests_failed==1' \
  'device.laptop.held.proxy==1' 'device.laptop.fetched==6' \
  'device.tablet.requests_done==5' 'device.tablet.requests_open==0' \
  'device.desktop.held.thumb>=50' 'device.desktop.verify_failed==0' \
  'request.failed==1' 'request.pending==0' 'verify.failed==0'
ev=$out/a/events.csv
n=$(grep -c ',link-down,' "$ev"); [ "$n" = 2 ] || fail "link-down site{0..1}-inet: $n events, want 2"
grep -q '^laptop,15.000000,.*,failed,no source has the sidecar$' "$out/a/requests.csv" ||
  fail "the request during the outage did not fail for want of a source"
echo "ok   link range: two links down, the laptop's fetch-only request failed (no source)"
n=$(awk -F, '$1 == "laptop" && $2 == "40.000000" && $8 == "ready"' "$out/a/requests.csv" | wc -l)
[ "$n" = 5 ] || fail "request count=5: $n ready rows at 40 s"
n=$(awk -F, '$1 == "tablet" && $8 == "ready"' "$out/a/requests.csv" | wc -l)
[ "$n" = 5 ] || fail "every=10s until=90s: $n tablet requests, want 5"
grep -q '^laptop,60.000000,[^,]*,proxy,1080p,.*,nas,ready,$' "$out/a/requests.csv" ||
  fail "kind=proxy did not ask for the 1080p proxy the NAS holds"
echo "ok   count/step: 5 requests; every/until: 5 requests; kind=proxy asks for 1080p"
a=$(grep ',flaky,o' "$out/a/events.csv" | cut -d, -f1,3 | tr '\n' ' ')
b=$(grep ',flaky,o' "$out/b/events.csv" | cut -d, -f1,3 | tr '\n' ' ')
c=$(grep ',flaky,o' "$out/c/events.csv" | cut -d, -f1,3 | tr '\n' ' ')
case $a in *offline*online*) ;; *) fail "churn: no offline/online of flaky: '$a'" ;; esac
[ "$a" = "$b" ] || fail "churn differs with one seed: '$a' vs '$b'"
[ "$a" != "$c" ] || fail "churn identical with another seed"
echo "ok   churn (mtbf 20s, mttr 5s): $a; same seed, same; seed 6 differs"
