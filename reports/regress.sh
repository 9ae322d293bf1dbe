#!/bin/sh
# regress.sh VSS_SIM OUTDIR [BASELINE] [--update] - the regression
# benchmark: runs every scenario named in BASELINE (default
# scenarios/baseline.csv) and compares its summary figures with the
# checked-in values. BASELINE rows: scenario,metric,baseline,tolerance,better
#   tolerance  "25%" (relative to the baseline) or "3" (absolute)
#   better     lower | higher | equal
# A figure worse than its baseline by more than the tolerance fails the
# run; every comparison is printed. --update rewrites the baseline values
# from this run (tolerances and directions stay).
set -eu
sim=${1:?usage: regress.sh VSS_SIM OUTDIR [BASELINE] [--update]}
out=${2:?usage: regress.sh VSS_SIM OUTDIR [BASELINE] [--update]}
here=$(cd "$(dirname "$0")" && pwd)
baseline="$here/../scenarios/baseline.csv"
update=no
for a in "${3:-}" "${4:-}"; do
  case $a in
    --update) update=yes ;;
    "") ;;
    *) baseline=$a ;;
  esac
done
scenarios_dir=$(dirname "$baseline")
mkdir -p "$out"
for s in $(awk -F, 'NR > 1 && !seen[$1]++ { print $1 }' "$baseline"); do
  "$sim" "$scenarios_dir/$s.ini" --out "$out/$s" --no-report --no-progress > "$out/$s.log"
done

awk -F, -v out="$out" -v update="$update" '
  function value(s, m,    line, f, v) {
    v = "missing"
    f = out "/" s "/summary.csv"
    while ((getline line < f) > 0) { split(line, x, ","); if (x[1] == m) v = x[2] }
    close(f)
    return v
  }
  NR == 1 { header = $0; next }
  {
    s = $1; m = $2; base = $3 + 0; tol = $4; better = $5
    got = value(s, m)
    slack = tol ~ /%$/ ? (substr(tol, 1, length(tol) - 1) / 100) * (base < 0 ? -base : base) : tol + 0
    status = "ok"
    if (got == "missing") status = "MISSING"
    else if (got == "n/a" && $3 == "n/a") status = "ok"
    else if (got == "n/a" || $3 == "n/a") status = better == "equal" || got == "n/a" ? "REGRESSION (no data)" : "improved"
    else {
      g = got + 0
      if (base >= 0 && g < 0 && better != "equal") status = "REGRESSION (not reached)"
      else if (better == "lower" && g > base + slack) status = "REGRESSION"
      else if (better == "higher" && g < base - slack) status = "REGRESSION"
      else if (better == "equal" && (g > base + slack || g < base - slack)) status = "REGRESSION"
      else if (better == "lower" && g < base - slack) status = "improved"
      else if (better == "higher" && g > base + slack) status = "improved"
    }
    change = (got == "missing" || got == "n/a" || $3 == "n/a" || base == 0) ? "" : sprintf("%+.1f%%", (got - base) * 100 / (base < 0 ? -base : base))
    printf "%-34s %-40s %12s %12s %8s  %s (%s better, tolerance %s)\n", s, m, $3, got, change, status, better, tol
    if (status ~ /REGRESSION|MISSING/) bad++
    rows[NR] = s "," m "," (got == "missing" ? $3 : got) "," tol "," better
  }
  END {
    if (update == "yes") {
      print header > ARGV[1]
      for (i = 2; i <= NR; i++) print rows[i] > ARGV[1]
      print "baseline updated: " ARGV[1]
      exit 0
    }
    printf "%d figures compared, %d regressed\n", NR - 1, bad
    exit bad ? 1 : 0
  }' "$baseline"
