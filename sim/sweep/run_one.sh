#!/bin/sh
# run_one.sh SIM OUT ID SCENARIO SEED PARAMS - one run of a sweep (the
# unit GNU parallel, ssh and Slurm tasks execute). Output in OUT/runs/ID;
# OUT/runs/ID/status holds vss-sim's exit status.
sim=$1 out=$2 id=$3 scen=$4 seed=$5 params=$6
dir=$out/runs/$id
mkdir -p "$dir"
set -- --seed "$seed" --out "$dir" --no-report --quiet --no-progress
while IFS= read -r a; do set -- "$@" "$a"; done < "$out/args.txt"
printf '%s\n' "$params" > "$dir/params"
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v -o "$dir/time.txt" "$sim" "$scen" "$@" > "$dir/log" 2>&1
else
  "$sim" "$scen" "$@" > "$dir/log" 2>&1
fi
rc=$?
echo "$rc" > "$dir/status"
exit "$rc"
