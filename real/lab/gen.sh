#!/bin/sh
# gen.sh URI OUTPUT - vss-lab's stand-in for a thumbnailer or transcoder:
# takes the device's generation cost for the kind (LAB_COST_<kind>,
# seconds, set by vss-lab from the plan) and writes as many bytes as the
# simulator would (LAB_SIZES: "URI SIZE" lines), so a generation in the
# lab costs what it costs in the simulation.
set -eu
uri=$1 out=$2
dir=$(echo "$uri" | cut -d/ -f4)
case $dir in
  thumbs) kind=thumb ;; thumbstrips) kind=thumbstrip ;; proxies) kind=proxy ;;
  gaussian_splats) kind=gaussian_splat ;; *) kind=$dir ;;
esac
size=$(grep -m1 -F "$uri " "$LAB_SIZES" | cut -d' ' -f2)
[ -n "$size" ] || { echo "gen.sh: no size for $uri" >&2; exit 1; }
eval "cost=\${LAB_COST_$kind:-0}"
sleep "$cost"
head -c "$size" /dev/urandom >"$out"
