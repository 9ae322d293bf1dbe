#!/bin/sh
# warnings.sh VSS_SIM DIR - every DIR/*.ini starts with "; warn: TEXT":
# vss-sim --check must accept the file (exit 0) and print a warning that
# contains FILE:TEXT (TEXT starts with the line number).
set -eu
sim=$1 dir=$2
fail=0
for f in "$dir"/*.ini; do
  want=$(sed -n '1s/^; warn: //p' "$f")
  set +e
  msg=$(timeout 10 "$sim" "$f" --check 2>&1 >/dev/null)
  rc=$?
  set -e
  case $msg in
    *"$f:$want"*) if [ $rc -eq 0 ]; then echo "ok   $msg"; continue; fi ;;
  esac
  echo "FAIL $f (exit $rc): got '$msg', want '$f:$want'"
  fail=1
done
exit $fail
