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
# na VALUE: 1 when the summary has no data for it ("n/a", absent)
# ms VALUE: a latency for humans ("-" when absent)
ms() { awk -v v="$1" 'BEGIN { if (v == "" || v == "n/a" || v < 0) print "-";
  else if (v >= 10000) printf "%.1f s", v / 1000;
  else if (v >= 100) printf "%.0f ms", v; else if (v >= 1) printf "%.1f ms", v;
  else printf "%.3f ms", v }'; }
# bytes VALUE
bytes() { awk -v v="$1" 'BEGIN { if (v == "" || v == "n/a") { print "-"; exit }
  u = "B KB MB GB TB"; split(u, n, " "); i = 1;
  while (v >= 1000 && i < 5) { v /= 1000; i++ }
  if (i == 1) printf "%d %s", v, n[i]; else printf "%.2f %s", v, n[i] }'; }
secs() { awk -v v="$1" 'BEGIN { if (v == "" || v == "n/a" || v < 0) print "not reached"; else printf "%.2f s", v }'; }

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
  ncols=$(head -1 "$out/link_util.csv" | awk -F, '{ print NF }')
  # The active period: from the first to the last bucket where a link
  # carried anything, a little margin around it.
  range=$(awk -F, 'NR > 1 { busy = 0; for (i = 2; i <= NF; i++) if ($i > 0.0005) busy = 1
      if (busy) { if (lo == "") lo = $1; hi = $1 } if (NR == 2) t0 = $1; if (NR == 3) step = $1 - t0; end = $1 }
    END { if (lo == "") { lo = t0; hi = end }
      hi += step; pad = (hi - lo) * 0.03; if (pad < step) pad = step
      lo -= pad; if (lo < t0) lo = t0; hi += pad; if (hi > end + step) hi = end + step
      printf "%g %g", lo, hi }' "$out/link_util.csv")
  xmin=${range% *} xmax=${range#* }
  # Timeline events as vertical marks (every panel), labelled on the
  # first panel when there are few enough to read.
  nmarks=$(($(wc -l < "$out/marks.csv") - 1))
  awk -F, -v lbl="$out/marks_labels.gp" -v many="$nmarks" '
    BEGIN { c["offline"] = "#d62728"; c["online"] = "#2ca02c"; c["restart"] = "#9467bd"
      c["link-down"] = "#d62728"; c["link-up"] = "#2ca02c"; c["link-set"] = "#ff7f0e"
      c["wifi-rate"] = "#ff7f0e"; c["faults"] = "#8c564b"; c["request"] = "#7f7f7f"; c["open-grid"] = "#7f7f7f"
      printf "" > lbl }
    NR > 1 { col = ($2 in c) ? c[$2] : "#7f7f7f"
      dt = ($2 == "request" || $2 == "open-grid") ? 3 : 2
      printf "set arrow from %s, graph 0 to %s, graph 1 nohead lw 1.5 dt %d lc rgb \"%s\" back\n", $1, $1, dt, col
      # marks at one instant share one label ("open-grid laptop, tablet")
      if (!($1 in txt)) { order[++nt] = $1; txt[$1] = $2 " " $3; tc[$1] = col }
      else if (index(txt[$1], $2 " ") == 1 && split(txt[$1], w, "; ") == 1) txt[$1] = txt[$1] ", " $3
      else txt[$1] = txt[$1] "; " $2 " " $3 }
    END { if (nt <= 25) for (i = 1; i <= nt; i++) { t = order[i]
        printf "set label \"%s\" at %s, graph 0.97 rotate by 90 right font \",7\" tc rgb \"%s\" front\n", txt[t], t, tc[t] >> lbl } }' \
    "$out/marks.csv" > "$out/marks.gp"
  # At most 30 devices in the bar chart: the busiest (sent + received).
  ndev=$(($(wc -l < "$out/devices.csv") - 1))
  # (no header line: the plot numbers the rows from 0)
  tail -n +2 "$out/devices.csv" |
      awk -F, '{ print $6 + $7 "," $0 }' | sort -t, -k1,1 -g -r | head -30 |
      cut -d, -f2- > "$out/devices_top.csv"
  devtitle="Bytes per device"
  [ "$ndev" -gt 30 ] && devtitle="Bytes per device (the 30 busiest of $ndev)"
  for term in png svg; do
    if [ -n "$kinds" ]; then
      gnuplot -e "out='$out/latency_cdf.$term'; term='$term'; dir='$out'; kinds='$kinds'" \
        "$here/latency_cdf.gp" 2>> "$log"
    fi
    if [ "$ncols" -ge 2 ]; then
      gnuplot -e "out='$out/link_bandwidth.$term'; term='$term'; dir='$out'; ncols=$ncols; xmin=$xmin; xmax=$xmax; marks='$out/marks.gp'; labels='$out/marks_labels.gp'" \
        "$here/link_bandwidth.gp" 2>> "$log"
    fi
    gnuplot -e "out='$out/device_bytes.$term'; term='$term'; file='$out/devices_top.csv'; title='$devtitle'" \
      "$here/device_bytes.gp" 2>> "$log"
  done
  rm -f "$out/devices_top.csv" "$out/marks.gp" "$out/marks_labels.gp"
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
run_get() { awk -F, -v k="$1" '$1 == k { print $2 }' "$out/run.csv" 2>/dev/null || true; }
wall=$(run_get wall_s)
setup_wall=$(run_get setup_wall_s)
run_wall=$(run_get run_wall_s)
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
  [ -n "$wall" ] && printf '| Wall time / peak memory | %.2f s until the summary (setup %.2f s: scenario, nodes, start sidecars, platform; simulation %.2f s), this report not included / %s MB (machine shared with other work) |\n' \
    "$wall" "${setup_wall:-0}" "${run_wall:-0}" "$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')"
  [ "$(get stopped_early)" = 1 ] && printf '| Stopped early | --max-wall cut the run at %s s simulated: the figures cover only that |\n' "$(get duration_s)"
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
  if [ -n "$(get faults.frames_lost)" ]; then
    printf '| Faults injected (frames mode) | %s frames lost, %s data frames damaged, %s frames of closed connections dropped |\n' \
      "$(get faults.frames_lost)" "$(get faults.frames_corrupted)" "$(get faults.frames_stale)"
  else
    printf '| Faults injected (TCP + AEAD) | %s segments retransmitted, %s records damaged, %s connection resets, %s frames of closed connections dropped |\n' \
      "$(get faults.segments_retransmitted)" "$(get faults.connections_damaged)" "$(get faults.connection_resets)" "$(get faults.frames_stale)"
  fi
  [ "$(get byzantine.garbage_bytes)" != 0 ] && printf '| Byzantine sources | %s of falsified data received; a liar kept sending data %s after its first bad chunk |\n' \
    "$(bytes "$(get byzantine.garbage_bytes)")" "$(secs "$(get byzantine.chosen_after_first_bad_s)")"
  printf '| Gossip, first exchanges | %s of full digests (%s pages) = %s per device, once per peer (not a rate) |\n' \
    "$(bytes "$(get gossip.full_bytes)")" "$(get gossip.full_pages)" "$(bytes "$(get gossip.first_exchange_bytes_per_device)")"
  printf '| Gossip, steady state | %s per device per hour (HELLO rounds and delta digests over %s s; %s in all, %s digest pages) |\n' \
    "$(bytes "$(get gossip.steady_bytes_per_device_hour)")" "$(get gossip.steady_window_s)" "$(bytes "$(get gossip.bytes)")" "$(get gossip.digests_sent)"
  printf '| Convergence (%s thumbnails) | every device knows a holder of each: %s; every device knows every holder: %s |\n' \
    "$(get thumbnails)" "$(secs "$(get convergence.availability_s)")" "$(secs "$(get convergence.holders_s)")"
  printf '| Verification at the end | %s sidecars held, %s re-hashed, %s mismatched, %s differing from their generator |\n\n' \
    "$(get verify.held)" "$(get verify.checked)" "$(get verify.failed)" "$(get verify.impure)"

  printf '## Latency\n\n'
  figure latency_cdf "Latency CDF"
  printf '## Links\n\n'
  figure link_bandwidth "Link utilisation over time, timeline events marked"
  printf '| link | class | capacity | bytes | goodput while data flowed | utilisation (run) | peak utilisation |\n|---|---|---|---|---|---|---|\n'
  awk -F, 'NR > 1 { printf "| %s | %s | %.2f MB/s | %.2f MB | %.2f MB/s | %.2f%% | %.1f%% |\n",
    $1, $2, $3 / 1e6, $4 / 1e6, $8 / 1e6, $11 * 100, $12 * 100 }' "$out/links.csv"
  printf '\n## Devices\n\n'
  figure device_bytes "Bytes per device: sent and received, useful and wasted"
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
