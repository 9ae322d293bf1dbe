#!/bin/sh
# bench_sim_model.sh [BUILD_DIR] - the network models side by side: the
# time one message takes, alone, on a LAN link (110 MB/s, 1 ms) and a WAN
# link (10 MB/s, 50 ms), for SimGrid's default LV08 (latency x13.01: a
# fresh TCP flow per message), vss-sim's default lv08-warm (latency x1: a
# warm, long-lived connection), CM02 (no correction factors) and ns-3
# (packet level; SimGrid's binding opens one TCP connection per message:
# handshake and slow start, default socket buffers). 2 MB, not 1 MB: the
# 3.32 ns-3 binding aborts on a 1 MB message ("total_bytes is not
# sent_bytes"). This is the table in
# sim/README.md, "Network model".
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
sim=$build/sim/vss-sim
[ -x "$sim" ] || { echo "bench_sim_model: no $sim" >&2; exit 1; }
for path in lan wan; do
  printf '%s link: seconds for one message (and what it implies in MB/s)\n' "$path"
  printf '%-8s %22s %22s %22s %22s\n' size lv08 lv08-warm cm02 ns-3
  for size in 1KB 45KB 2MB 10MB; do
    printf '%-8s' "$size"
    for model in lv08 lv08-warm cm02 ns-3; do
      "$sim" "$root/scenarios/bench/model-$path.ini" --model "$model" --probe "a:b:$size" 2>/dev/null |
        awk '/^probe/ { printf " %12.6f (%7.2f)", $(NF - 6), $(NF - 3) / 1e6 }'
    done
    printf '\n'
  done
  printf '\n'
done
