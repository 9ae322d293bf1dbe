#!/bin/sh
# sweep.sh VSS_SIM SCENARIO OUT - a 4-run sweep (2 values of a scenario
# key x 2 seeds, 2 at once) through sim/sweep/sweep.sh: every run
# succeeds, the merge has 2 groups of n = 2 with a confidence interval,
# each group's runs used its own value, the plots are drawn, and the
# Slurm mode writes a job array of the same 4 runs.
set -eu
sim=$1 scen=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
sweep=$here/../../sim/sweep/sweep.sh
rm -rf "$out" "$out-slurm"
sh "$sweep" --sim "$sim" --out "$out" --seeds 1-2 -j 2 \
  --set scenario.change_batch_delay=100ms,1s "$scen" -- --duration 20s
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(wc -l < "$out/jobs.txt")" -eq 4 ] || fail "jobs.txt has not 4 runs"
for s in "$out"/runs/*/status; do [ "$(cat "$s")" = 0 ] || fail "$s: $(cat "$s")"; done
grep -q "^4 runs merged (0 failed), 2 parameter set" "$out/sweep.md" ||
  grep -q "4 runs merged (0 failed), 2 parameter set" "$out/sweep.md" || fail "sweep.md header"
# Both groups: n = 2 and a numeric CI for the availability exchange.
n=$(grep -c '^"\{0,1\}scenario.change_batch_delay=[^,]*"\{0,1\},convergence.availability_s,2,' "$out/sweep.csv" || true)
[ "$n" -eq 2 ] || fail "convergence.availability_s not merged per group with n=2 ($n)"
awk -F, '$2 == "wall_s" && $6 == "nan" { bad = 1 } END { exit bad }' "$out/sweep.csv" ||
  fail "wall_s has no CI"
# Each run's scenario carries its group's value.
grep -q "change_batch_delay = 1s" "$out/scen/v001.ini" || fail "variant v001 lacks its value"
grep -q "change_batch_delay = 100ms" "$out/scen/v000.ini" || fail "variant v000 lacks its value"
if command -v gnuplot >/dev/null 2>&1; then
  [ -s "$out/plots/wall_s.png" ] || fail "no plot of wall_s"
fi
sh "$sweep" --sim "$sim" --out "$out-slurm" --seeds 1-2 --slurm \
  --set scenario.change_batch_delay=100ms,1s "$scen" -- --duration 20s >/dev/null
grep -q "^#SBATCH --array=1-4$" "$out-slurm/sweep.sbatch" || fail "slurm array"
echo "sweep: ok (4 runs, 2 groups, CI and plots)"
