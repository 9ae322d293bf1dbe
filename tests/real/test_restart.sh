#!/usr/bin/env bash
# Availability survives restarts: alice's own sidecars are in her
# database (list after a restart, with the same checksums), and bob's
# in-memory cache of alice is rebuilt by gossip after alice restarts and
# after bob himself restarts.
. "$(dirname "$0")/lib.sh"

node alice
node bob
cfg_set bob eager none
start alice
start bob
pair alice bob
pair bob alice
wait_for 10 peer_online bob alice || fail "bob never saw alice"
: >"$T/list"
for i in 1 2 3; do
  f="$T/s$i.webp"
  mkfile "$f" $((20000 + i)) webp
  echo "$f sidecar://$(uuid)/thumbs/grid@1x.webp" >>"$T/list"
done
vn alice add --stdin <"$T/list" >/dev/null || fail "add"
U3=$(tail -1 "$T/list" | cut -d' ' -f2)
wait_for 5 holds bob alice "$U3" || fail "bob never learned"
before=$(vn alice list | sort)
[ "$(echo "$before" | wc -l)" = 3 ] || fail "alice lists $(echo "$before" | wc -l)"

stop alice
vn alice list | grep -q . || fail "offline list is empty"
start alice
after=$(vn alice list | sort)
[ "$(echo "$after" | cut -d' ' -f1-3)" = "$(echo "$before" | cut -d' ' -f1-3)" ] ||
  fail "alice's sidecars changed over the restart"
wait_for 10 peer_online bob alice || fail "bob did not reconnect"
wait_for 5 holds bob alice "$U3" || fail "bob lost alice's availability"

stop bob
start bob
wait_for 10 peer_online bob alice || fail "bob did not reconnect after his restart"
wait_for 5 holds bob alice "$U3" || fail "bob's cache was not rebuilt"
while read -r f u; do
  vn bob presence "$u" | grep -q "name=alice online=1 size=$(stat -c %s "$f")" ||
    fail "bob lacks $u"
done <"$T/list"
STATUS=0
log PASS
