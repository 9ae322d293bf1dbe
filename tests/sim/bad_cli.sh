#!/bin/sh
# bad_cli.sh VSS_SIM SCENARIOS - command-line overrides are checked like
# the scenario's own values, and refused with a message naming what and
# where (exit status 2). Each case: expected message, then the arguments.
set -u
sim=$1 sc=$2
fail=0
check() {
  want=$1
  shift
  msg=$(timeout 20 "$sim" "$@" --check 2>&1 >/dev/null)
  rc=$?
  case $msg in
    *"$want"*) [ $rc -eq 2 ] && { echo "ok   $msg"; return; } ;;
  esac
  echo "FAIL $* (exit $rc): got '$msg', want '$want'"
  fail=1
}
check "optimal-source.ini:79: open-grid at 10.000 s is after the end of the run (duration 8.000 s)" \
  "$sc/optimal-source.ini" --duration 8s
check "--platform no-such.xml: No such file or directory" \
  "$sc/optimal-source.ini" --platform no-such.xml
check "model ns-3 needs your own --platform" "$sc/optimal-source.ini" --model ns-3
check "--model: unknown 'ns3'" "$sc/optimal-source.ini" --model ns3
exit $fail
