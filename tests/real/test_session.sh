#!/usr/bin/env bash
# Issue 11, items 3 and 8: an authenticated session cannot be held open
# for free, and a cut is told apart from a clean close.
#  - a paired peer that goes silent is dropped after idle_timeout, while a
#    real peer (bob) idle for longer stays up (gossip HELLOs keep it alive);
#  - a paired peer sitting on a half-sent record, trickling a byte now and
#    then, is dropped after record_timeout;
#  - a stream ending at a record boundary without the close record is
#    logged as cut; one ending with it as a clean close;
#  - bob's `stop` sends the close record: alice logs a clean close.
. "$(dirname "$0")/lib.sh"
EVIL=${EVIL_PEER:?set EVIL_PEER to the evil_peer binary}

node alice
node bob
node evil
for n in alice bob; do
  cfg_set $n interval 1s
  sed -i 's/^record_timeout = .*/&\nidle_timeout = 3s/' "$T/$n/config.ini"
  cfg_set $n record_timeout 2s
done
cfg_set bob eager none
start alice
start bob
pair alice bob
pair bob alice
pair alice evil
wait_for 10 peer_online bob alice || fail "bob never saw alice"
A=127.0.0.1:${PORT[alice]}
CODE=$(vn alice show identity --code)

t0=$(date +%s%N)
"$EVIL" "$T/evil" "$CODE" "$A" idle 2>>"$T/evil.log" || fail "idle peer kept"
grep -q "closed: idle: nothing received for" "$T/alice.log" || fail "idle not logged"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 2500 ] || fail "idle peer dropped after $ms ms, before idle_timeout"

"$EVIL" "$T/evil" "$CODE" "$A" stall 2>>"$T/evil.log" || fail "stalled record kept"
grep -q "closed: record stalled: incomplete for" "$T/alice.log" || fail "stall not logged"

"$EVIL" "$T/evil" "$CODE" "$A" cut 2>>"$T/evil.log" || fail "cut peer kept"
grep -q "connection cut: no close record (truncated)" "$T/alice.log" ||
  fail "a cut at a record boundary was not detected"
n_cut=$(grep -c "connection cut" "$T/alice.log")
"$EVIL" "$T/evil" "$CODE" "$A" fin 2>>"$T/evil.log" || fail "closed peer kept"
grep -q "closed: peer closed the session" "$T/alice.log" || fail "clean close not logged"
[ "$(grep -c "connection cut" "$T/alice.log")" = "$n_cut" ] || fail "clean close taken for a cut"

# bob stayed up through all that (idle for > 3 s: HELLOs every second).
peer_online bob alice || fail "bob was dropped"
# (Pairing both ways may dial twice at once: the session one side
# replaces is not a drop.)
grep "peer bob down" "$T/alice.log" | grep -vq "replaced by a newer session" &&
  fail "alice dropped bob"
stop bob
bob_closed() { [ "$(grep -c "closed: peer closed the session" "$T/alice.log")" -ge 2 ]; }
wait_for 5 bob_closed || fail "bob's stop did not send the close record"
[ "$(grep -c "connection cut" "$T/alice.log")" = "$n_cut" ] || fail "bob's stop looked like a cut"
STATUS=0
log PASS
