#!/bin/sh
# bad_scenarios.sh VSS_SIM DIR - every DIR/*.ini starts with a line
# "; expect: TEXT": vss-sim --check must refuse the file (exit status 2)
# and print an error that contains FILE:TEXT (so TEXT starts with the
# line number). Prints each case; exits 1 on the first mismatch.
set -eu
sim=$1 dir=$2
fail=0
for f in "$dir"/*.ini; do
  want=$(sed -n '1s/^; expect: //p' "$f")
  set +e
  # A parser that loops forever is a failure of its own (exit 124).
  msg=$(timeout 10 "$sim" "$f" --check 2>&1 >/dev/null)
  rc=$?
  set -e
  case $msg in
    *"$f:$want"*) if [ $rc -eq 2 ]; then echo "ok   $msg"; continue; fi ;;
  esac
  echo "FAIL $f (exit $rc): got '$msg', want '$f:$want'"
  fail=1
done
exit $fail
