#!/usr/bin/env bash
# Only paired devices may connect:
#  - mallory pinned alice's key, alice never pinned mallory's: alice
#    refuses every attempt before sending a byte, logs mallory's key
#    fingerprint, and mallory learns nothing of alice's sidecars;
#  - a forged responder: eve listens where alice expects bob; alice's
#    handshake cannot be read by eve (it is sealed to bob's key), eve
#    refuses it, and alice never takes eve for bob.
. "$(dirname "$0")/lib.sh"

node alice
node mallory
node bob
node eve
start alice
start mallory
pair mallory alice # one-sided: alice did not pair mallory
U="sidecar://$(uuid)/thumbs/grid@2x.webp"
mkfile "$T/t.webp" 45000 webp
vn alice add "$T/t.webp" "$U" >/dev/null || fail "add"

fp=$(vn mallory show identity | awk '/^fingerprint/ {print $2}' | tr -d -)
refused() { [ "$(grep -c "refused: key is not paired with this device key $fp" "$T/alice.log")" -ge 2 ]; }
wait_for 10 refused || fail "alice did not log refusals of mallory's key $fp"
vn mallory status | grep -q "^peer alice .*state=online" && fail "mallory got a session"
vn alice status | grep -q "^peer mallory" && fail "alice lists mallory"
vn mallory presence "$U" | grep -q "name=alice" && fail "mallory learned alice's sidecars"
vn mallory fetch "$U" --timeout 2 >/dev/null 2>&1 && fail "mallory fetched from alice"
grep -q "peer alice up" "$T/mallory.log" && fail "mallory saw alice up"

# The forged responder: bob is paired but offline; eve takes bob's port.
start bob
pair alice bob
BOBPORT=${PORT[bob]}
stop bob
cfg_set eve listen "127.0.0.1:$BOBPORT"
PORT[eve]=$BOBPORT
start eve
pair eve alice # eve would even accept alice; it cannot read her msg1
forged() { grep -q "refused: handshake authentication failed" "$T/eve.log"; }
wait_for 10 forged || fail "eve did not refuse alice's sealed handshake"
vn alice status | grep -q "^peer bob .*state=online" && fail "alice took eve for bob"
grep -q "peer bob up" "$T/alice.log" && fail "alice logged bob up"
STATUS=0
log PASS
