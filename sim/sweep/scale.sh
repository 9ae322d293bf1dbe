#!/bin/sh
# scale.sh OUT SCENARIO... - how wall time and memory grow with the number
# of devices: runs each scenario once (sequentially, under /usr/bin/time
# -v; pass --max-wall etc. after --), collects wall, CPU, peak memory,
# simulated time reached, sessions per device, gossip per device-hour and
# the availability convergence into OUT/scale.csv, and plots wall time and
# peak memory against N (OUT/scale.png, log-log). Reuses a scenario's
# earlier result in OUT when its run.csv is there (delete it to rerun).
#   sh sim/sweep/scale.sh out/scale scenarios/fleet-100.ini \
#      scenarios/fleet-1000.ini scenarios/fleet-10000.ini -- --max-wall 20m
set -eu
sim=${VSS_SIM:-build/sim/vss-sim}
out=$1
shift
scens=
while [ $# -gt 0 ] && [ "$1" != "--" ]; do scens="$scens $1"; shift; done
[ $# -gt 0 ] && shift
mkdir -p "$out"
for s in $scens; do
  name=$(basename "$s" .ini)
  dir=$out/$name
  if [ ! -s "$dir/run.csv" ]; then
    mkdir -p "$dir"
    /usr/bin/time -v -o "$out/$name.time" "$sim" "$s" --out "$dir" \
      --no-report --no-progress "$@" > "$out/$name.log" 2>&1 || true
  fi
done
python3 - "$out" $scens <<'PY'
import csv, os, re, sys
out, scens = sys.argv[1], sys.argv[2:]
def kv(path):
    d = {}
    try:
        for row in csv.reader(open(path)):
            if len(row) == 2:
                try: d[row[0]] = float(row[1])
                except ValueError: pass
    except OSError: pass
    return d
rows = []
for s in scens:
    name = os.path.basename(s)[:-4]
    sm = kv(os.path.join(out, name, "summary.csv"))
    rn = kv(os.path.join(out, name, "run.csv"))
    t = open(os.path.join(out, name + ".time")).read() if os.path.exists(os.path.join(out, name + ".time")) else ""
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t)
    cpu = [float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", t)]
    log = open(os.path.join(out, name + ".log")).read() if os.path.exists(os.path.join(out, name + ".log")) else ""
    m = re.search(r"stopped the run at ([\d.]+) s simulated", log)
    m2 = re.search(r"scenario \S+, seed \d+, model \S+, (\d+) devices, ([\d.]+) s", log)
    n = int(m2.group(1)) if m2 else 0
    simulated = float(m.group(1)) if m else (float(m2.group(2)) if m2 else 0)
    rows.append(dict(scenario=name, devices=n, simulated_s=simulated,
        wall_s=rn.get("wall_s", 0), setup_s=rn.get("setup_s", 0),
        cpu_s=sum(cpu), engine_share=rn.get("engine_share", 0),
        peak_rss_mb=int(rss.group(1)) / 1024 if rss else 0,
        sessions_mean=sm.get("sessions.mean", 0), sessions_max=sm.get("sessions.max", 0),
        gossip_bytes_per_device_hour=sm.get("gossip.steady_bytes_per_device_hour",
                                            sm.get("gossip.bytes_per_device_hour", 0)),
        availability_s=sm.get("convergence.availability_s", -1),
        fetch_failed=sm.get("failures.fetch_failed", 0)))
keys = list(rows[0].keys())
with open(os.path.join(out, "scale.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, keys); w.writeheader(); w.writerows(rows)
with open(os.path.join(out, "scale.dat"), "w") as f:
    f.write("# devices wall_s peak_rss_mb cpu_s simulated_s\n")
    for r in rows:
        f.write("%d %g %g %g %g\n" % (r["devices"], r["wall_s"], r["peak_rss_mb"], r["cpu_s"], r["simulated_s"]))
for r in rows:
    print(", ".join("%s=%s" % (k, ("%.4g" % v) if isinstance(v, float) else v) for k, v in r.items()))
PY
if command -v gnuplot >/dev/null 2>&1; then
  gnuplot <<GP
set terminal pngcairo size 900,500 font "sans,10" noenhanced
set output "$out/scale.png"
set logscale xy
set grid
set xlabel "devices (N)"
set ylabel "wall time, CPU time (s)"
set y2label "peak memory (MB)"
set y2tics
set logscale y2
set key top left
set title "vss-sim: wall, CPU and peak memory against N (labels: simulated seconds reached)"
plot "$out/scale.dat" using 1:2 with linespoints pt 7 title "wall s", \
     "" using 1:4 with linespoints pt 5 title "CPU s", \
     "" using 1:3 axes x1y2 with linespoints pt 9 title "peak MB", \
     "" using 1:2:(sprintf("%gs sim", \$5)) with labels offset 0,1 notitle
GP
fi
echo "$out/scale.csv"
