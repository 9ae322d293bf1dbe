#!/usr/bin/env bash
# Issue 11, item 2: idle unauthenticated sockets cannot lock a real peer
# out. 40 silent connections (more than the global limit of 32) are held
# open to alice, whose handshake timeout is long; bob, paired, then dials
# alice and must be let in within seconds (the oldest idle socket from his
# address is evicted instead of bob being refused). The evictions are
# logged, but rate-limited: not one line per socket.
. "$(dirname "$0")/lib.sh"

node alice
node bob
cfg_set alice handshake_timeout 50s
start alice
pair alice bob # no address: only bob dials, so only his dial can connect
declare -a FDS
for i in $(seq 40); do
  exec {fd}<>"/dev/tcp/127.0.0.1/${PORT[alice]}" || fail "socket $i"
  FDS+=("$fd")
done
sleep 0.5
start bob
pair bob alice
wait_for 10 peer_online bob alice || fail "bob was locked out by idle sockets"
peer_online alice bob || fail "alice does not list bob online"
n=$(grep -c "unauthenticated connections" "$T/alice.log")
[ "$n" -ge 1 ] || fail "evictions not logged"
[ "$n" -le 3 ] || fail "evictions logged $n times (not rate-limited)"
ev=$(vn alice status | grep -o 'evicted=[0-9]*' | cut -d= -f2)
[ "$ev" -ge 8 ] || fail "only $ev evictions counted"
for fd in "${FDS[@]}"; do exec {fd}>&-; done
STATUS=0
log PASS
