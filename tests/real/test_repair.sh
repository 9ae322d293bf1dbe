#!/usr/bin/env bash
# Issue 11, item 1: replacing a device keeps no old key trusted.
#  - pairing a new device under a name another device has is refused
#    unless --replace, which unpins the old one: `peers` then lists one
#    "bob", the old bob's session ends and it is refused from then on;
#  - re-pairing the same device id with a new key says "key changed" and
#    ends the session the old key authenticated; the old key is refused;
#  - `unpair NAME` finds the name in the database and removes it; a
#    second `unpair` says there is no such peer.
. "$(dirname "$0")/lib.sh"

node alice
node bob
node bob2
node carol
start alice
start bob
pair alice bob
pair bob alice
wait_for 10 peer_online alice bob || fail "alice never saw bob"

# A new device under the same name: refused, then replaced.
code2=$(vn bob2 show identity --code)
vn alice pair "$code2" --name bob >"$T/p1.out" 2>&1 && fail "duplicate name accepted"
grep -q "another device is paired as 'bob'.*--replace" "$T/p1.out" || fail "$(cat "$T/p1.out")"
[ "$(vn alice peers | grep -c '^bob ')" = 1 ] || fail "two bobs after a refused pair"
vn alice pair "$code2" --name bob --replace >"$T/p2.out" || fail "replace: $(cat "$T/p2.out")"
grep -q "unpaired the previous bob" "$T/p2.out" || fail "$(cat "$T/p2.out")"
[ "$(vn alice peers | grep -c '^bob ')" = 1 ] || fail "peers: $(vn alice peers)"
dev2=$(vn bob2 show identity | awk '/^device/ {print $2}')
vn alice peers | grep -q "^bob device=$dev2" || fail "bob is not the new device"
oldfp=$(vn bob show identity | awk '/^fingerprint/ {print $2}' | tr -d -)
ended() { ! peer_online bob alice; }
wait_for 5 ended || fail "the replaced bob kept its session"
refused() { grep -q "refused: key is not paired with this device key $oldfp" "$T/alice.log"; }
wait_for 10 refused || fail "the replaced bob's key was not refused"

# 3. unpair by name, twice.
vn alice unpair bob | grep -q "unpaired bob" || fail "unpair bob"
vn alice unpair bob 2>"$T/u2.err" && fail "second unpair succeeded"
grep -q "no paired peer 'bob'" "$T/u2.err" || fail "$(cat "$T/u2.err")"
vn alice peers 2>&1 | grep -q "^bob " && fail "bob still listed"

# 2. Same device id, new key (carol's identity copied over bob's).
pair alice carol
start carol
pair carol alice
wait_for 10 peer_online alice carol || fail "alice never saw carol"
cp -r "$T/carol" "$T/carol-new"
rm -f "$T/carol-new/ctl.sock" "$T/carol-new/lock"
cp "$T/bob/identity.key" "$T/bob/identity.pub" "$T/carol-new/"
code3=$(vn carol-new show identity --code) || fail "code of the re-keyed carol"
vn alice pair "$code3" --name carol >"$T/p3.out" || fail "re-pair: $(cat "$T/p3.out")"
grep -q "key changed for carol" "$T/p3.out" || fail "no 'key changed': $(cat "$T/p3.out")"
grep -q "key changed: session of the old key ended" "$T/alice.log" ||
  fail "the old key's session was not ended"
cfp=$(vn carol show identity | awk '/^fingerprint/ {print $2}' | tr -d -)
crefused() { grep -q "refused: key is not paired with this device key $cfp" "$T/alice.log"; }
wait_for 10 crefused || fail "carol's old key still accepted"
peer_online alice carol && fail "carol still online with the old key"
STATUS=0
log PASS
