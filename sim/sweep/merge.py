#!/usr/bin/env python3
"""merge.py - plan and merge vss-sim sweeps (python3 standard library only).

  merge.py --plan SCENARIO OUT SEEDS SETS   write OUT/jobs.txt (+ variants)
  merge.py OUT                              merge OUT/runs/* into
                                            OUT/sweep.csv, OUT/sweep.md and
                                            OUT/plots/*.dat + plot.gp

A run is one line of jobs.txt: "ID SCENARIO SEED PARAMS" (PARAMS is
"sec.key=value;..." or "-"). Runs with the same PARAMS form a group;
every numeric figure of summary.csv and run.csv (and /usr/bin/time's
peak memory and CPU time) gets n, mean, standard deviation, a 95 %
confidence interval of the mean (Student's t, n - 1 degrees of freedom),
min and max per group. Runs that failed (non-zero status) are counted
and left out.
"""
import csv
import itertools
import math
import os
import re
import sys

# Student's t, two-sided 95 %, by degrees of freedom (1..30), then normal.
T95 = [0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
       2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093,
       2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
       2.042]


def t95(df):
    if df <= 0:
        return float("nan")
    return T95[df] if df < len(T95) else 1.960


def parse_seeds(spec):
    seeds = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)-(\d+)", part)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if b < a:
                sys.exit("merge.py: bad seed range " + part)
            seeds.extend(range(a, b + 1))
        elif part.isdigit():
            seeds.append(int(part))
        else:
            sys.exit("merge.py: bad seeds " + spec)
    if not seeds:
        sys.exit("merge.py: no seeds")
    return seeds


def parse_sets(text):
    """'sec.key=v1,v2' lines -> [(sec, key, [values])]"""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        m = re.fullmatch(r"([^.=\s]+)\.([^=\s]+)=(.+)", line)
        if not m:
            sys.exit("merge.py: --set wants SECTION.KEY=V1,V2,...: " + line)
        vals = [v.strip() for v in m.group(3).split(",") if v.strip()]
        out.append((m.group(1), m.group(2), vals))
    return out


def variant(lines, base_dir, assign):
    """The scenario's lines with key=value set in their sections."""
    out = list(lines)
    for sec, key, val in assign:
        start = None
        for i, l in enumerate(out):
            m = re.match(r"\s*\[([^\]]+)\]", l)
            if m and m.group(1).strip() == sec:
                start = i
                break
        if start is None:
            out.append("[%s]\n" % sec)
            out.append("%s = %s\n" % (key, val))
            continue
        end = len(out)
        for i in range(start + 1, len(out)):
            if re.match(r"\s*\[", out[i]):
                end = i
                break
        done = False
        for i in range(start + 1, end):
            if re.match(r"\s*%s\s*=" % re.escape(key), out[i]):
                out[i] = "%s = %s\n" % (key, val)
                done = True
        if not done:
            out.insert(start + 1, "%s = %s\n" % (key, val))
    # A variant lives in another folder: relative platform paths move.
    for i, l in enumerate(out):
        m = re.match(r"(\s*platform\s*=\s*)(\S+)", l)
        if m and not m.group(2).startswith("/"):
            out[i] = "%s%s\n" % (m.group(1), os.path.join(base_dir, m.group(2)))
    return out


def plan(scen, out, seeds_spec, sets_text):
    seeds = parse_seeds(seeds_spec)
    sets = parse_sets(sets_text)
    with open(scen) as f:
        lines = f.readlines()
    combos = list(itertools.product(*[[(s, k, v) for v in vals]
                                      for s, k, vals in sets]))
    jobs = []
    for ci, combo in enumerate(combos):
        path = scen
        params = "-"
        if combo:
            path = os.path.join(out, "scen", "v%03d.ini" % ci)
            with open(path, "w") as f:
                f.writelines(variant(lines, os.path.dirname(scen), combo))
            params = ";".join("%s.%s=%s" % a for a in combo)
        for s in seeds:
            jobs.append((path, s, params))
    with open(os.path.join(out, "jobs.txt"), "w") as f:
        for i, (path, s, params) in enumerate(jobs):
            if " " in path or " " in params:
                sys.exit("merge.py: no spaces in paths or values, please")
            f.write("r%04d %s %d %s\n" % (i + 1, path, s, params))


def read_metrics(path, into):
    try:
        with open(path) as f:
            for row in csv.reader(f):
                if len(row) != 2 or row[0] == "metric":
                    continue
                try:
                    into[row[0]] = float(row[1])
                except ValueError:
                    pass
    except OSError:
        pass


def read_time(path, into):
    """/usr/bin/time -v: peak memory and CPU time."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        into["time.peak_rss_mb"] = int(m.group(1)) / 1024.0
    u = re.search(r"User time \(seconds\): ([\d.]+)", text)
    s = re.search(r"System time \(seconds\): ([\d.]+)", text)
    if u and s:
        into["time.cpu_s"] = float(u.group(1)) + float(s.group(1))


def stats(xs):
    n = len(xs)
    mean = sum(xs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    ci = t95(n - 1) * sd / math.sqrt(n) if n > 1 else float("nan")
    return n, mean, sd, ci, min(xs), max(xs)


# Figures plotted by default (when present); SWEEP_METRICS=a,b,... adds.
PLOT = ["convergence.availability_s", "convergence.holders_s",
        "gossip.bytes_per_device_hour", "request_ready.p50_ms",
        "request_ready.p99_ms", "fetches.total", "failures.fetch_failed",
        "wall_s", "cpu_s", "engine_share", "time.peak_rss_mb", "frames"]


def merge(out):
    runs_dir = os.path.join(out, "runs")
    groups, failed, order = {}, 0, []
    for rid in sorted(os.listdir(runs_dir)):
        d = os.path.join(runs_dir, rid)
        if not os.path.isdir(d):
            continue
        try:
            status = open(os.path.join(d, "status")).read().strip()
            params = open(os.path.join(d, "params")).read().strip()
        except OSError:
            failed += 1
            continue
        if status != "0":
            failed += 1
            continue
        m = {}
        read_metrics(os.path.join(d, "summary.csv"), m)
        read_metrics(os.path.join(d, "run.csv"), m)
        read_time(os.path.join(d, "time.txt"), m)
        if params not in groups:
            groups[params] = []
            order.append(params)
        groups[params].append(m)
    if not groups:
        sys.exit("merge.py: no successful run in %s (%d failed)" % (out, failed))
    rows = []
    for params in order:
        runs = groups[params]
        names = sorted(set().union(*[set(r) for r in runs]))
        for name in names:
            xs = [r[name] for r in runs if name in r]
            n, mean, sd, ci, lo, hi = stats(xs)
            rows.append((params, name, n, mean, sd, ci, lo, hi))
    with open(os.path.join(out, "sweep.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["params", "metric", "n", "mean", "sd", "ci95", "min", "max"])
        for r in rows:
            w.writerow([r[0], r[1], r[2]] + ["%.6g" % v for v in r[3:]])
    want = PLOT + [m for m in os.environ.get("SWEEP_METRICS", "").split(",") if m]
    plots = write_plots(out, order, rows, want, groups)
    nruns = sum(len(g) for g in groups.values())
    with open(os.path.join(out, "sweep.md"), "w") as f:
        f.write("# Sweep %s\n\n%d runs merged (%d failed), %d parameter "
                "set(s); mean and 95 %% confidence interval of the mean "
                "(Student's t). All figures: sweep.csv.\n\n"
                % (os.path.basename(out), nruns, failed, len(order)))
        f.write("| params | metric | n | mean | ±95 % CI | min | max |\n")
        f.write("|---|---|---|---|---|---|---|\n")
        for r in rows:
            if r[1] in want:
                f.write("| %s | %s | %d | %.4g | %.3g | %.4g | %.4g |\n"
                        % (r[0], r[1], r[2], r[3], r[5], r[6], r[7]))
        for p in plots:
            f.write("\n![%s](plots/%s.png)\n" % (p, p))
    print("merge.py: %d runs (%d failed), %d groups -> %s/sweep.csv"
          % (nruns, failed, len(order), out))


def write_plots(out, order, rows, want, groups):
    """One data file per metric and a gnuplot script: with several
    parameter sets, mean ± CI against the set (or its single numeric
    parameter's value); with one (a seed sweep), every run's value and
    the mean with its CI band."""
    pdir = os.path.join(out, "plots")
    os.makedirs(pdir, exist_ok=True)
    # One varying parameter with numeric values: plot against it.
    xs, label = {}, "parameter set"
    for i, p in enumerate(order):
        xs[p] = i + 1
    if len(order) > 1 and all(p.count("=") == 1 for p in order):
        try:
            vals = {p: float(re.sub(r"[a-zA-Z%]+$", "", p.split("=")[1]))
                    for p in order}
            xs, label = vals, order[0].split("=")[0]
        except ValueError:
            pass
    by = {}
    for r in rows:
        by.setdefault(r[1], []).append(r)
    done = []
    gp = ['if (!exists("term")) term = "png"',
          'set terminal pngcairo size 800,480 font "sans,10" noenhanced',
          "set grid", "set key off", 'set xlabel "%s"' % label]
    for name in want:
        if name not in by or name in done:
            continue
        fn = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        if len(order) == 1:
            r = by[name][0]
            ci = 0 if math.isnan(r[5]) else r[5]
            vals = [g[name] for g in groups[order[0]] if name in g]
            with open(os.path.join(pdir, fn + ".dat"), "w") as f:
                f.write("# run value\n")
                for i, v in enumerate(vals):
                    f.write("%d %g\n" % (i + 1, v))
            gp += ['set output "%s/%s.png"' % (pdir, fn),
                   'set title "%s: %d runs, mean %.4g ± %.3g (95 %% CI)"'
                   % (name, r[2], r[3], ci),
                   'set xlabel "run"', "set offsets 0.5, 0.5, 0, 0",
                   'plot "%s/%s.dat" using 1:2 with points pt 7, '
                   '%g with lines dt 1, %g with lines dt 2, %g with lines dt 2'
                   % (pdir, fn, r[3], r[3] - ci, r[3] + ci)]
            done.append(fn)
            continue
        with open(os.path.join(pdir, fn + ".dat"), "w") as f:
            f.write("# x mean ci95 n params\n")
            for r in sorted(by[name], key=lambda r: xs[r[0]]):
                ci = 0 if math.isnan(r[5]) else r[5]
                f.write("%g %g %g %d %s\n" % (xs[r[0]], r[3], ci, r[2], r[0]))
        gp += ['set output "%s/%s.png"' % (pdir, fn),
               'set title "%s (mean, 95 %% CI)"' % name,
               'plot "%s/%s.dat" using 1:2:3 with yerrorbars pt 7, '
               '"" using 1:2 with lines' % (pdir, fn)]
        done.append(fn)
    with open(os.path.join(pdir, "plot.gp"), "w") as f:
        f.write("\n".join(gp) + "\n")
    return done


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--plan":
        plan(*sys.argv[2:])
    elif len(sys.argv) == 2:
        merge(sys.argv[1])
    else:
        sys.exit(__doc__)
