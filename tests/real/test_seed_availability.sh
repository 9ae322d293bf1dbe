#!/usr/bin/env bash
# Seed test 1 over real sockets: alice generates a grid@2x thumbnail, bob
# learns by gossip that alice has it (within 1 s of the add), and the
# query from bob's side lists alice as a holder.
. "$(dirname "$0")/lib.sh"

node alice
node bob
cfg_set bob eager none # bob must not prefetch: we look at presence only
start alice
start bob
pair alice bob
pair bob alice
wait_for 10 peer_online bob alice || fail "bob never saw alice online"
wait_for 10 peer_online alice bob || fail "alice never saw bob online"

mkfile "$T/thumb.webp" 45000 webp
U="sidecar://$(uuid)/thumbs/grid@2x.webp"
t0=$(date +%s%N)
vn alice add "$T/thumb.webp" "$U" >/dev/null || fail "add on alice"
wait_for 5 holds bob alice "$U" || fail "bob never learned alice holds $U"
ms=$((($(date +%s%N) - t0) / 1000000))
log "availability reached bob in ${ms} ms (add included)"
[ "$ms" -lt 1000 ] || fail "availability exchange took ${ms} ms (>= 1 s)"

vn bob presence "$U" | grep "name=alice online=1 size=45000" >/dev/null ||
  fail "presence on bob lacks alice's size"
vn alice presence "$U" | grep -q "name=alice .* self" ||
  fail "alice does not list herself"
vn bob presence "$U" | grep -q "name=bob" && fail "bob claims to hold it"
vn bob status | grep -q "^peer alice .*entries=1 " ||
  fail "bob's cache of alice should hold one entry"
STATUS=0
log PASS
