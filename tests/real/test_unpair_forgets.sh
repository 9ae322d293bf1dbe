#!/usr/bin/env bash
# After `unpair`, the device disappears from status, presence and list at
# once, not when the daemon restarts or its cache expires (the node keeps
# what it learned of a peer until then).
. "$(dirname "$0")/lib.sh"

node alice
node bob
start alice
start bob
pair alice bob
pair bob alice
wait_for 10 peer_online bob alice || fail "bob never saw alice online"
U="sidecar://$(uuid)/thumbs/grid@2x.webp"
mkfile "$T/t.webp" 45000 webp
vn alice add "$T/t.webp" "$U" >/dev/null || fail "add on alice"
wait_for 10 holds bob alice "$U" || fail "bob never learned alice holds it"
vn bob status | grep -q "^peer alice " || fail "alice not in bob's status"
A=$(vn alice show identity | grep -o '[0-9a-f]\{8\}-[0-9a-f-]\{27\}' | head -1)
[ -n "$A" ] || fail "no device id for alice"

vn bob unpair alice >/dev/null || fail "unpair"
s=$(vn bob status) || fail "status"
# By name or, once the name is gone with the pairing, by device id.
if echo "$s" | grep -qE "^peer (alice|$A) "; then fail "alice still in status: $(echo "$s" | grep '^peer ')"; fi
p=$(vn bob presence "$U")
if echo "$p" | grep -qE "name=alice|$A"; then fail "alice still in presence: $p"; fi
stop bob
stop alice
STATUS=0
log PASS
