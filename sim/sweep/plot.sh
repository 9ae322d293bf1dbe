#!/bin/sh
# plot.sh OUT - draws OUT/plots/*.png from merge.py's data (gnuplot).
command -v gnuplot >/dev/null 2>&1 || { echo "plot.sh: no gnuplot, plots skipped" >&2; exit 0; }
gnuplot "$1/plots/plot.gp" 2>&1 | grep -v -e "Skipping data file with no valid points" -e "Warning: empty . range" || true
