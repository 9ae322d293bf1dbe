#!/usr/bin/env bash
# Three nodes: alice (uploads at most 4 MB/s) and carol (16 MB/s) both
# hold two 24 MB proxies. Bob's fetch takes most bytes from the faster
# source, carol; then carol is killed in the middle of the second fetch
# and bob completes it from alice, verified.
. "$(dirname "$0")/lib.sh"

MB=$((1024 * 1024))
node alice
node carol
node bob
cfg_set alice upload_limit 4M
cfg_set carol upload_limit 16M
cfg_set bob eager none
for n in alice carol bob; do start $n; done
pair alice bob
pair carol bob
# No --rtt-hint / --rate-hint: bob measures both sources himself (issue 9
# item 1: handshake RTT, PING/PONG, verified bytes) and must still find
# the faster one.
pair bob alice
pair bob carol
wait_for 10 peer_online bob alice || fail "bob never saw alice"
wait_for 10 peer_online bob carol || fail "bob never saw carol"

C1=$(uuid) C2=$(uuid)
P1="sidecar://$C1/proxies/1080p.mp4"
P2="sidecar://$C2/proxies/1080p.mp4"
mkfile "$T/p1.mp4" $((24 * MB))
mkfile "$T/p2.mp4" $((24 * MB))
for n in alice carol; do
  vn $n add "$T/p1.mp4" "$P1" >/dev/null || fail "add p1 on $n"
  vn $n add "$T/p2.mp4" "$P2" >/dev/null || fail "add p2 on $n"
done
for n in alice carol; do
  wait_for 5 holds bob $n "$P2" || fail "bob never learned $n holds p2"
done

recv_from() { vn bob status | grep "^peer $1 " | grep -o 'received=[0-9]*' | cut -d= -f2; }

# 1. The faster source carries most of the bytes.
a0=$(recv_from alice) c0=$(recv_from carol)
t0=$(date +%s%N)
out=$(vn bob fetch "$P1" --timeout 30) || fail "fetch p1: $out"
ms=$((($(date +%s%N) - t0) / 1000000))
a=$(($(recv_from alice) - a0)) c=$(($(recv_from carol) - c0))
log "p1: ${ms} ms, from carol $((c / 1024)) KiB, from alice $((a / 1024)) KiB"
cmp -s "${out#* }" "$T/p1.mp4" || fail "p1 bytes differ"
[ $((c * 100 / (a + c))) -ge 60 ] || fail "carol (4x faster) sent only $c of $((a + c)) bytes"

# 2. Carol dies mid-transfer: alice finishes it.
vn bob fetch "$P2" --timeout 40 >"$T/fetch2.out" 2>&1 &
FETCH=$!
mid() { d=$(done_bytes bob); [ -n "$d" ] && [ "$d" -ge $((4 * MB)) ]; }
wait_for 10 mid || fail "second fetch never got going"
log "killing carol at $(done_bytes bob) of $((24 * MB)) bytes"
kill9 carol
wait $FETCH || fail "fetch p2 did not complete after carol died: $(cat "$T/fetch2.out")"
path=$(cut -d' ' -f2 "$T/fetch2.out")
cmp -s "$path" "$T/p2.mp4" || fail "p2 bytes differ"
row=$(sqlite3 "$T/bob/vss.db" "SELECT status, checksum FROM sidecar WHERE content_uuid='$C2'")
[ "$row" = "ready|$(sum_of "$T/p2.mp4")" ] || fail "p2 row is '$row'"
grep -q "source carol dropped\|peer carol down" "$T/bob.log" || fail "bob never noticed carol left"
STATUS=0
log PASS
