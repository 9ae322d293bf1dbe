#!/bin/sh
# bench_sim.sh [BUILD_DIR] - performance figures of the simulator:
#
#  1. thumbnail sync goodput: 2,000 grid@2x thumbnails over one 110 MB/s
#     Ethernet path (scenarios/bench/thumb-goodput.ini), divided by the rate
#     the network model gives one 100 MB flow on the same path
#     (vss-sim --probe). With host costs (sim/README.md) the receiver's
#     per-thumbnail work, not the path, bounds it: compare it with what
#     the real node measures (build/real/bench_real), not with 1.
#  2. fleet-100 for one simulated hour (scenarios/fleet-100.ini): wall
#     time and peak memory of this machine (target: under 60 s), and the
#     simulated time until every device knows every thumbnail's holders.
#
# Figures come from the runs' own files (summary.csv, run.csv); outputs go
# to out/bench (VSS_BENCH_OUT to change). Usage: bench/bench_sim.sh build
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
sim=$build/sim/vss-sim
out=${VSS_BENCH_OUT:-$root/out/bench}
[ -x "$sim" ] || { echo "bench_sim: no $sim (build with SimGrid first)" >&2; exit 1; }
mkdir -p "$out"
val() { awk -F, -v k="$2" '$1 == k { print $2; exit }' "$1"; }

scen=$root/scenarios/bench/thumb-goodput.ini
"$sim" "$scen" --out "$out/thumb-goodput" --no-report --no-progress > /dev/null
bytes=$(val "$out/thumb-goodput/summary.csv" fetches.bytes)
ms=$(val "$out/thumb-goodput/summary.csv" grid_complete_ms)
flow=$("$sim" "$scen" --probe server:desktop:100MB | awk '{ print $(NF - 3) }')
awk -v b="$bytes" -v ms="$ms" -v f="$flow" 'BEGIN {
  g = b / (ms / 1000)
  printf "thumbnail sync goodput:  %.1f MB in %.1f ms = %.2f MB/s\n", b / 1e6, ms, g / 1e6
  printf "one flow (model):        %.2f MB/s (100 MB probe on the same path)\n", f / 1e6
  printf "ratio:                   %.3f of the path (host costs charged: compare with bench_real)\n", g / f
}'

"$sim" "$root/scenarios/fleet-100.ini" --out "$out/fleet-100" --no-report --no-progress > /dev/null
s=$out/fleet-100/summary.csv r=$out/fleet-100/run.csv
awk -v wall="$(val "$r" wall_s)" -v kb="$(val "$r" peak_rss_kb)" -v fr="$(val "$r" frames)" \
    -v av="$(val "$s" convergence.availability_s)" -v ho="$(val "$s" convergence.holders_s)" \
    -v n="$(val "$s" thumbnails)" -v lo="$(val "$s" convergence.last_online_s)" 'BEGIN {
  printf "fleet-100, 1 h simulated: %.1f s wall, %.0f MB peak memory, %d frames (target < 60 s)\n", wall, kb / 1024, fr
  printf "  all %d thumbnails: every device knows a holder of each after %.1f s, every holder after %.1f s (simulated)\n", n, av, ho
  printf "  (devices come online over the first 30 s, the last at %.1f s: %.1f s after it)\n", lo, ho - lo
}'
