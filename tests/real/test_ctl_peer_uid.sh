#!/usr/bin/env bash
# The control socket answers only clients of the daemon's own uid
# (SO_PEERCRED), even one that gets past the file modes: a client of
# another uid that keeps CAP_DAC_OVERRIDE (so the 0700 directory and the
# 0600 socket do not stop it) connects, is refused with a log line naming
# its uid and gets no answer; the daemon keeps serving its own user.
# Needs root and setpriv (util-linux) to run a client as another uid;
# skipped (exit 0 with a note) otherwise.
. "$(dirname "$0")/lib.sh"
CTL=${CTL_RAW:?set CTL_RAW to the ctl_raw binary}

if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
  log "SKIP: needs root and setpriv to connect as another uid"
  STATUS=0
  exit 0
fi
OTHER=65534
as_other() {
  setpriv --reuid=$OTHER --regid=$OTHER --clear-groups \
    --inh-caps=+dac_override --ambient-caps=+dac_override "$@"
}
# The capability really lets it reach the socket: stat through the 0700
# directory works as that uid (else this test would prove nothing).
as_other stat "$T" >/dev/null 2>&1 || {
  log "SKIP: cannot keep CAP_DAC_OVERRIDE as uid $OTHER here"
  STATUS=0
  exit 0
}

node alice
start alice
printf 'vss-ctl 1\nstatus\n\n' | "$CTL" "$T/alice/ctl.sock" >"$T/own.out" ||
  fail "our own raw request got no answer"
grep -q "daemon running" "$T/own.out" || fail "own request: $(cat "$T/own.out")"

printf 'vss-ctl 1\nstatus\n\n' | as_other "$CTL" "$T/alice/ctl.sock" >"$T/other.out" 2>&1
if grep -q "daemon running\|device " "$T/other.out"; then
  fail "uid $OTHER got an answer: $(cat "$T/other.out")"
fi
# Only this client can cause this line: no other process of uid 65534
# talks to alice.
wait_for 10 grep -q "refused a client of uid $OTHER" "$T/alice.log" ||
  fail "no refusal logged for uid $OTHER"
vn alice status | grep -q "daemon running" || fail "daemon not answering after"
stop alice
STATUS=0
log PASS
