#!/bin/sh
# bad_scenarios.sh [--warn] VSS_SIM DIR - every DIR/*.ini starts with a
# line "; expect: TEXT": vss-sim --check must refuse the file (exit status
# 2) and print an error that contains FILE:TEXT (so TEXT starts with the
# line number). With --warn the line is "; warn: TEXT" and the file must
# be accepted (exit 0) with that warning. Prints each case; exits 1 if any
# mismatched.
set -eu
tag=expect want_rc=2
if [ "${1:-}" = --warn ]; then
  tag=warn want_rc=0
  shift
fi
sim=$1 dir=$2
fail=0
for f in "$dir"/*.ini; do
  want=$(sed -n "1s/^; $tag: //p" "$f")
  set +e
  # A parser that loops forever is a failure of its own (exit 124).
  msg=$(timeout 10 "$sim" "$f" --check 2>&1 >/dev/null)
  rc=$?
  set -e
  case $msg in
    *"$f:$want"*) if [ $rc -eq $want_rc ]; then echo "ok   $msg"; continue; fi ;;
  esac
  echo "FAIL $f (exit $rc): got '$msg', want '$f:$want'"
  fail=1
done
exit $fail
