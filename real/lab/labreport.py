"""labreport.py - the figures of a run, computed the same way for the
simulator's events.csv and the lab's per-node event logs, so that a
difference between them is the run's, not the report's.

Both sources are first normalised to rows
  (t_s from the start of the timeline, device, event, peer, item, bytes,
   duration_ms, flags)
with devices and peers by scenario name and items by number (the plan
maps each URI to its item). The figures:

  requests / grids   per timeline request: when each item was ready on the
                     device (fetched, generated or already local), and
                     where it came from
  first_request_ms   the first `request`'s ready time; its source
  first_thumb_ms, grid_complete_ms   the first open-grid's
  fg_fetch.*         foreground fetch durations (p50, p90, max)
  fetches, fetches.bytes, generations, fetch_failed, chunk_bad
  share.SRC          fraction of fetched sidecars each source served
  goodput_Bps        fetched bytes / (last fetch done - first fetch started)
"""
import csv
import json
import math
import os
import subprocess

FG = 0x2


def item_of_uri(plan):
    m = {}
    for s in plan["initial"]:
        for it in s["items"]:
            m[it["uri"]] = it["item"]
    for e in plan["timeline"]:
        for it in e.get("items", []):
            m[it["uri"]] = it["item"]
    return m


def key_of_uri(uri):
    """(content uuid, kind dir, variant) from sidecar://uuid/dir/variant.ext"""
    rest = uri[len("sidecar://"):]
    content, kdir, leaf = rest.split("/")
    return content, kdir, leaf.rsplit(".", 1)[0]


KIND_DIR = {"thumb": "thumbs", "thumbstrip": "thumbstrips", "proxy": "proxies",
            "embeddings": "embeddings", "ocr": "ocr", "transcript": "transcript",
            "gaussian_splat": "gaussian_splats"}


def sim_rows(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            if not r["item"]:
                continue
            rows.append({"t": float(r["t_s"]), "device": r["device"], "event": r["event"],
                         "peer": r["peer"], "item": (int(r["item"]), r["kind"], r["variant"]),
                         "bytes": int(r["bytes"] or 0),
                         "ms": float(r["duration_ms"] or 0), "flags": int(r["flags"] or 0)})
    return rows


def lab_rows(out, plan, t0, uuids):
    items = {}
    for uri, n in item_of_uri(plan).items():
        c, kdir, var = key_of_uri(uri)
        kind = next(k for k, v in KIND_DIR.items() if v == kdir)
        items[(c, kind, var)] = (n, kind, var)
    names = {u: n for n, u in uuids.items()}
    rows = []
    for d in plan["devices"]:
        path = os.path.join(out, "nodes", d["name"], "events.csv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for r in csv.DictReader(f):
                it = items.get((r["content"], r["kind"], r["variant"]))
                if it is None:
                    continue
                rows.append({"t": float(r["t_s"]) - t0, "device": d["name"],
                             "event": r["event"], "peer": names.get(r["peer"], r["peer"]),
                             "item": it, "bytes": int(r["bytes"]),
                             "ms": float(r["duration_ms"]), "flags": int(r["flags"])})
    rows.sort(key=lambda r: r["t"])
    return rows


def pct(xs, p):
    """Nearest-rank percentile (no interpolation between samples)."""
    if not xs:
        return None
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100 * len(xs)) - 1)]


def figures(plan, rows):
    ready = {}  # (device, item) -> [(t, source)]
    for r in rows:
        src = None
        if r["event"] == "fetch_done":
            src = r["peer"]
        elif r["event"] in ("generated", "local_recorded"):
            src = "generated" if r["event"] == "generated" else "local"
        if src:
            ready.setdefault((r["device"], r["item"]), []).append((r["t"], src))
    f, reqs, grids = {}, [], []
    for e in plan["timeline"]:
        if e["action"] not in ("request", "open-grid"):
            continue
        times = []
        for it in e["items"]:
            kind = "thumb" if e["action"] == "open-grid" else None
            hits = ready.get((e["device"], _key(it, kind, e)), [])
            before = [h for h in hits if h[0] <= e["t_s"]]
            # A fetch or generation ends with the row recorded too: only
            # those two say how an item that was not local became ready.
            after = [h for h in hits if h[0] > e["t_s"] and h[1] != "local"]
            if before:
                times.append((0.0, "local"))
            elif after:
                times.append(((after[0][0] - e["t_s"]) * 1e3, after[0][1]))
            else:
                times.append((None, ""))
        if e["action"] == "request":
            reqs.append({"device": e["device"], "t0_s": e["t_s"],
                         "ready_ms": times[0][0], "source": times[0][1]})
        else:
            done = [t for t, _ in times if t is not None]
            grids.append({"device": e["device"], "t0_s": e["t_s"], "items": len(times),
                          "done": len(done), "first_ms": min(done) if done else None,
                          "all_ms": max(done) if len(done) == len(times) else None})
    if reqs:
        f["first_request_ms"] = reqs[0]["ready_ms"]
        f["first_request.from"] = reqs[0]["source"]
    if grids:
        f["first_thumb_ms"] = grids[0]["first_ms"]
        f["grid_complete_ms"] = grids[0]["all_ms"]
    done = [r for r in rows if r["event"] == "fetch_done"]
    fg = [r["ms"] for r in done if r["flags"] & FG]
    f["fg_fetch.count"] = len(fg)
    for p in (50, 90):
        f[f"fg_fetch.p{p}_ms"] = pct(fg, p)
    f["fg_fetch.max_ms"] = max(fg) if fg else None
    f["fetches"] = len(done)
    f["fetches.bytes"] = sum(r["bytes"] for r in done)
    f["generations"] = sum(1 for r in rows if r["event"] == "generated")
    f["fetch_failed"] = sum(1 for r in rows if r["event"] == "fetch_failed")
    f["chunk_bad"] = sum(1 for r in rows if r["event"] == "chunk_bad")
    for src in sorted({r["peer"] for r in done}):
        f[f"share.{src}"] = sum(1 for r in done if r["peer"] == src) / len(done)
    started = [r["t"] for r in rows if r["event"] == "fetch_started"]
    if done and started:
        span = max(r["t"] for r in done) - min(started)
        f["goodput_Bps"] = f["fetches.bytes"] / span if span > 0 else None
    return f, reqs, grids


def _key(it, kind, e):
    c, kdir, var = key_of_uri(it["uri"])
    k = next(k for k, v in KIND_DIR.items() if v == kdir)
    return (it["item"], kind or k, var)


def fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e15 else f"{v:.0f}"
    return str(v)


def write_csv(path, rows, cols):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([fmt(r.get(c)) for c in cols])


COMPARED = ["first_request_ms", "first_thumb_ms", "grid_complete_ms",
            "fg_fetch.p50_ms", "fg_fetch.p90_ms", "fg_fetch.max_ms",
            "goodput_Bps", "fetches", "fetches.bytes", "generations",
            "fetch_failed"]


def compare(out, sim_f, lab_f):
    rows = []
    keys = COMPARED + sorted(k for k in set(sim_f) | set(lab_f) if k.startswith("share."))
    for k in keys:
        s, l = sim_f.get(k), lab_f.get(k)
        ratio = l / s if isinstance(s, (int, float)) and isinstance(l, (int, float)) and s else None
        rows.append({"metric": k, "sim": s, "lab": l, "lab_over_sim": ratio})
    write_csv(os.path.join(out, "compare.csv"), rows, ["metric", "sim", "lab", "lab_over_sim"])
    dat = os.path.join(out, "compare.dat")
    with open(dat, "w") as f:
        for i, r in enumerate(x for x in rows if x["lab_over_sim"] is not None):
            f.write(f'{i} "{r["metric"]}" {r["lab_over_sim"]:.6g}\n')
    gp = f"""set terminal pngcairo size 900,500 noenhanced
set output '{os.path.join(out, "compare.png")}'
set title 'vss-lab / vss-sim, same scenario and seed (1 = identical; dotted: +-15 %)'
set logscale y
set ylabel 'lab / sim (log scale)'
set style fill solid 0.6
set boxwidth 0.7
set xtics rotate by -35
set grid ytics
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2
set arrow from graph 0, first 0.85 to graph 1, first 0.85 nohead dt 3 lc 'gray'
set arrow from graph 0, first 1.15 to graph 1, first 1.15 nohead dt 3 lc 'gray'
set yrange [*:*]
plot '{dat}' using 1:3:xtic(2) with boxes notitle
"""
    subprocess.run(["gnuplot"], input=gp, text=True, capture_output=True)
    return rows


def write(out, plan, t0, info, sim_out):
    rows = lab_rows(out, plan, t0, info.get("uuids", {}))
    f, reqs, grids = figures(plan, rows)
    write_csv(os.path.join(out, "requests.csv"), reqs, ["device", "t0_s", "ready_ms", "source"])
    write_csv(os.path.join(out, "grids.csv"), grids,
              ["device", "t0_s", "items", "done", "first_ms", "all_ms"])
    summary = dict(scenario=plan["scenario"], seed=plan["seed"], **f,
                   **{f"lab.{k}": v for k, v in info.items() if k not in ("unplayed", "uuids")})
    write_csv(os.path.join(out, "summary.csv"),
              [{"metric": k, "value": v} for k, v in summary.items()], ["metric", "value"])
    with open(os.path.join(out, "summary.json"), "w") as fj:
        json.dump(summary, fj, indent=1)
    cmp_rows = None
    if sim_out:
        sim_f, _, _ = figures(plan, sim_rows(os.path.join(sim_out, "events.csv")))
        cmp_rows = compare(out, sim_f, f)
    path = os.path.join(out, "report.md")
    with open(path, "w") as r:
        r.write(f"# vss-lab: {plan['scenario']} (seed {plan['seed']})\n\n")
        r.write(f"{len(plan['devices'])} real `vss-node` processes, one network namespace "
                f"each; {info['processes']} processes and {info['namespaces']} namespaces "
                f"in all. Setup {info['setup_s']:.1f} s, timeline {info['played_s']:.1f} s, "
                f"wall {info['wall_s']:.1f} s.\n\n")
        r.write("## Not emulated, or emulated differently\n\n")
        for u in info["unplayed"]:
            r.write(f"- {u}\n")
        r.write("\n## Figures\n\n| metric | lab |")
        if cmp_rows:
            r.write(" sim | lab / sim |\n|---|---|---|---|\n")
            for c in cmp_rows:
                r.write(f"| {c['metric']} | {fmt(c['lab'])} | {fmt(c['sim'])} | "
                        f"{fmt(c['lab_over_sim'])} |\n")
            r.write("\n![lab / sim](compare.png)\n")
        else:
            r.write("\n|---|---|\n")
            for k, v in f.items():
                r.write(f"| {k} | {fmt(v)} |\n")
    return path
