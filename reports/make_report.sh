#!/bin/sh
# make_report.sh OUTDIR - the plots (PNG and SVG) and report.md of one
# vss-sim run, from the data files it wrote into OUTDIR. vss-sim runs this
# at the end of every run (unless --no-report); it can be re-run by hand.
# Needs gnuplot for the plots; without it the report says so and keeps
# the tables.
set -eu

out=${1:?usage: make_report.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$out/summary.csv" ] || { echo "make_report: no $out/summary.csv" >&2; exit 1; }

# get METRIC: a value of summary.csv (empty when absent)
get() { awk -F, -v k="$1" '$1 == k { print $2; exit }' "$out/summary.csv"; }
# ms VALUE: a latency for humans ("-" when absent)
ms() { awk -v v="$1" 'BEGIN { if (v == "" || v < 0) print "-";
  else if (v >= 10000) printf "%.1f s", v / 1000;
  else if (v >= 100) printf "%.0f ms", v; else if (v >= 1) printf "%.1f ms", v;
  else printf "%.3f ms", v }'; }
# bytes VALUE
bytes() { awk -v v="$1" 'BEGIN { u = "B KB MB GB TB"; split(u, n, " "); i = 1;
  while (v >= 1000 && i < 5) { v /= 1000; i++ }
  if (i == 1) printf "%d %s", v, n[i]; else printf "%.2f %s", v, n[i] }'; }
secs() { awk -v v="$1" 'BEGIN { if (v == "" || v < 0) print "not reached"; else printf "%.2f s", v }'; }

plots=""
log="$out/gnuplot.log"
: > "$log"
if command -v gnuplot >/dev/null 2>&1; then
  kinds=""
  for k in exchange fg_fetch prefetch request_ready; do
    awk -F, -v k="$k" 'NR > 1 && $1 == k { print $3 }' "$out/latency.csv" |
      sort -g > "$out/lat_$k.dat"
    if [ -s "$out/lat_$k.dat" ]; then kinds="$kinds $k"; else rm -f "$out/lat_$k.dat"; fi
  done
  ncols=$(head -1 "$out/link_series.csv" | awk -F, '{ print NF }')
  # At most 30 devices in the bar chart: the busiest (sent + received).
  ndev=$(($(wc -l < "$out/devices.csv") - 1))
  { head -1 "$out/devices.csv"; tail -n +2 "$out/devices.csv" |
      awk -F, '{ print $6 + $7 "," $0 }' | sort -t, -k1,1 -g -r | head -30 |
      cut -d, -f2-; } > "$out/devices_top.csv"
  devtitle="Bytes per device"
  [ "$ndev" -gt 30 ] && devtitle="Bytes per device (the 30 busiest of $ndev)"
  for term in png svg; do
    if [ -n "$kinds" ]; then
      gnuplot -e "out='$out/latency_cdf.$term'; term='$term'; dir='$out'; kinds='$kinds'" \
        "$here/latency_cdf.gp" 2>> "$log"
    fi
    if [ "$ncols" -ge 2 ]; then
      gnuplot -e "out='$out/link_bandwidth.$term'; term='$term'; dir='$out'; ncols=$ncols" \
        "$here/link_bandwidth.gp" 2>> "$log"
    fi
    gnuplot -e "out='$out/device_bytes.$term'; term='$term'; file='$out/devices_top.csv'; title='$devtitle'" \
      "$here/device_bytes.gp" 2>> "$log"
  done
  rm -f "$out/devices_top.csv"
  rm -f "$out"/lat_*.dat
  plots=yes
fi

# figure NAME TITLE: the PNG inline, the SVG linked
figure() {
  if [ -f "$out/$1.png" ]; then
    printf '![%s](%s.png)\n\n[SVG](%s.svg)\n\n' "$2" "$1" "$1"
  elif [ -z "$plots" ]; then
    printf '_(%s: gnuplot not found, no plot)_\n\n' "$2"
  else
    printf '_(%s: no data)_\n\n' "$2"
  fi
}

scenario=$(get scenario)
seed=$(get seed)
model=$(get model)
desc=$(awk -F' *= *' '/^description *=/ { sub(/^[^=]*= */, ""); print; exit }' "$out/scenario.ini" 2>/dev/null || true)
wall=$(awk -F, '$1 == "wall_s" { print $2 }' "$out/run.csv" 2>/dev/null || true)
rss=$(awk -F, '$1 == "peak_rss_kb" { print $2 }' "$out/run.csv" 2>/dev/null || true)
case $model in
  lv08-warm) model_text="lv08-warm: SimGrid LV08 bandwidth sharing (bandwidth factor 0.97, cross-traffic) with each path's latency paid once per connection stream (latency factor 1): a warm, long-lived connection" ;;
  lv08) model_text="lv08: SimGrid's default LV08 (latency x13.01, a cold TCP flow per message)" ;;
  *) model_text="$model (SimGrid network/model)" ;;
esac

{
  printf '# vss-sim report: %s\n\n' "$scenario"
  [ -n "$desc" ] && printf '%s\n\n' "$desc"
  printf '| run | |\n|---|---|\n'
  printf '| Seed | %s (replay: `vss-sim scenario.ini --seed %s`, same CSV files) |\n' "$seed" "$seed"
  printf '| Network model | %s |\n' "$model_text"
  printf '| Simulated time | %s s |\n' "$(get duration_s)"
  printf '| Devices | %s |\n' "$(get devices)"
  [ -n "$wall" ] && printf '| Wall time / peak memory | %.2f s / %s MB |\n' "$wall" "$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')"
  printf '| Payloads | real bytes from a deterministic generator; every chunk hashed and checked by the core |\n\n'

  printf '## Key figures\n\n| metric | value |\n|---|---|\n'
  printf '| Availability exchange (HELLO to last digest page), n=%s | p50 %s, p99 %s, max %s |\n' \
    "$(get exchange.count)" "$(ms "$(get exchange.p50_ms)")" "$(ms "$(get exchange.p99_ms)")" "$(ms "$(get exchange.max_ms)")"
  printf '| Time to first thumbnail (first grid) | %s |\n' "$(ms "$(get first_thumb_ms)")"
  printf '| Whole grid ready (first grid) | %s |\n' "$(ms "$(get grid_complete_ms)")"
  printf '| Foreground fetch latency, n=%s | p50 %s, p90 %s, p99 %s, max %s |\n' \
    "$(get fg_fetch.count)" "$(ms "$(get fg_fetch.p50_ms)")" "$(ms "$(get fg_fetch.p90_ms)")" \
    "$(ms "$(get fg_fetch.p99_ms)")" "$(ms "$(get fg_fetch.max_ms)")"
  printf '| Request to ready, n=%s | p50 %s, p90 %s, p99 %s |\n' \
    "$(get request_ready.count)" "$(ms "$(get request_ready.p50_ms)")" \
    "$(ms "$(get request_ready.p90_ms)")" "$(ms "$(get request_ready.p99_ms)")"
  printf '| Prefetch fetch latency, n=%s | p50 %s, p99 %s |\n' \
    "$(get prefetch.count)" "$(ms "$(get prefetch.p50_ms)")" "$(ms "$(get prefetch.p99_ms)")"
  printf '| Fetches vs local generations | %s fetched (%s foreground, %s prefetch, %s), %s generated locally (%s by the application, %s as fallback) |\n' \
    "$(get fetches)" "$(get fetches.fg)" "$(get fetches.prefetch)" "$(bytes "$(get fetches.bytes)")" \
    "$(get generations.local)" "$(get generations.app)" "$(get generations.fallback)"
  printf '| Requests | %s made, %s ready (%s already local), %s failed, %s still open at the end |\n' \
    "$(get request.count)" "$(get request.done)" "$(get request.local)" "$(get request.failed)" "$(get request.pending)"
  printf '| Failures and retries | %s fetches failed, %s bad chunks, %s retries, %s sources dropped, %s protocol errors |\n' \
    "$(get failures.fetch_failed)" "$(get failures.chunk_bad)" "$(get failures.retries)" \
    "$(get failures.sources_dropped)" "$(get failures.proto_errors)"
  printf '| Faults injected | %s frames lost, %s chunks corrupted, %s frames of closed connections dropped |\n' \
    "$(get faults.frames_lost)" "$(get faults.frames_corrupted)" "$(get faults.frames_stale)"
  printf '| Gossip overhead | %s per hour for the fleet, %s per device per hour (%s digest pages) |\n' \
    "$(bytes "$(get gossip.bytes_per_hour)")" "$(bytes "$(get gossip.bytes_per_device_hour)")" "$(get gossip.digests_sent)"
  printf '| Convergence (%s thumbnails) | every device knows a holder of each: %s; every device knows every holder: %s |\n' \
    "$(get thumbnails)" "$(secs "$(get convergence.availability_s)")" "$(secs "$(get convergence.holders_s)")"
  printf '| Verification at the end | %s sidecars held, %s re-hashed, %s mismatched, %s differing from their generator |\n\n' \
    "$(get verify.held)" "$(get verify.checked)" "$(get verify.failed)" "$(get verify.impure)"

  printf '## Latency\n\n'
  figure latency_cdf "Latency CDF"
  printf '## Links\n\n'
  figure link_bandwidth "Bandwidth over time per link"
  printf '| link | class | capacity | bytes | goodput while data flowed | utilisation (run) | peak utilisation |\n|---|---|---|---|---|---|---|\n'
  awk -F, 'NR > 1 { printf "| %s | %s | %.2f MB/s | %.2f MB | %.2f MB/s | %.2f%% | %.1f%% |\n",
    $1, $2, $3 / 1e6, $4 / 1e6, $8 / 1e6, $11 * 100, $12 * 100 }' "$out/links.csv"
  printf '\n## Devices\n\n'
  figure device_bytes "Bytes per device"
  printf '| device | class | link | sent | received | gossip | fetched | generated | held | verified |\n|---|---|---|---|---|---|---|---|---|---|\n'
  awk -F, 'NR > 1 { printf "| %s | %s | %s (%s) | %.2f MB | %.2f MB | %.1f KB | %s | %s | %s | %s |\n",
    $1, $2, $3, $4, $6 / 1e6, $7 / 1e6, $8 / 1e3, $11, $12, $13, $14 }' "$out/devices.csv"
  if [ "$(wc -l < "$out/grids.csv")" -gt 1 ]; then
    printf '\n## Grids opened\n\n| device | at | items | ready | already local | first thumbnail | all |\n|---|---|---|---|---|---|---|\n'
    awk -F, 'NR > 1 { printf "| %s | %.3f s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5,
      ($6 < 0 ? "-" : sprintf("%.1f ms", $6)), ($7 < 0 ? "not all" : sprintf("%.1f ms", $7)) }' "$out/grids.csv"
  fi
  printf '\n## Files\n\n'
  printf -- '- `summary.csv`, `summary.json`: every figure above, machine-readable\n'
  printf -- '- `events.csv`: every node event and timeline event, in simulated time\n'
  printf -- '- `devices.csv`, `links.csv`, `pairs.csv`, `grids.csv`, `latency.csv`, `link_series.csv`: the tables behind the plots\n'
  printf -- '- `platform.xml`: the SimGrid platform the run used; `scenario.ini`: the scenario\n'
} > "$out/report.md"
