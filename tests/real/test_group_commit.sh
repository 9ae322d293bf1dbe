#!/usr/bin/env bash
# Group commit: bob fetches 300 thumbnails from alice in one request.
# Sidecars that complete close together share one sync (syncfs) and one
# store transaction, so bob's `status` counts far fewer groups than
# sidecars; the fetch answers only once its group is durable, so every
# row is already committed (read by sqlite3, a separate connection) and
# its bytes verified when `fetch` returns. alice's `add --stdin` of the
# 300 copies is grouped too (one sync per 256 files).
. "$(dirname "$0")/lib.sh"

N=300
node alice
node bob
cfg_set bob eager none
start alice
start bob
pair alice bob
pair bob alice
wait_for 10 peer_online bob alice || fail "bob never saw alice online"

# Few processes per file: a loaded machine spawns one in ~80 ms.
mkdir -p "$T/src"
head -c $((N * 45000)) /dev/urandom >"$T/all"
(cd "$T/src" && split -b 45000 -a 3 -d "$T/all" t)
: >"$T/add.list"
: >"$T/fetch.list"
for f in "$T"/src/t*; do
  u="sidecar://$(cat /proc/sys/kernel/random/uuid)/thumbs/grid@2x.webp"
  echo "$f $u" >>"$T/add.list"
  echo "$u" >>"$T/fetch.list"
done
vn alice add --stdin <"$T/add.list" >/dev/null || fail "add --stdin on alice"
last=$(tail -1 "$T/fetch.list")
wait_for 20 holds bob alice "$last" || fail "bob never learned alice's thumbnails"

out=$(vn bob fetch --stdin --timeout 50 <"$T/fetch.list") || fail "fetch: $out"
[ "$(echo "$out" | grep -c ' /')" = $N ] || fail "fetch printed $(echo "$out" | wc -l) paths"
# Answered after the commit: every row is there for another connection
# (sqlite3), with alice's checksum, and the bytes are alice's.
rows=$(sqlite3 "$T/bob/vss.db" "ATTACH '$T/alice/vss.db' AS a;
  SELECT count(*) FROM sidecar b JOIN a.sidecar x USING (content_uuid)
  WHERE b.status = 'ready' AND b.checksum = x.checksum AND b.size = 45000")
[ "$rows" = $N ] || fail "$rows of $N rows committed when fetch answered"
sums() { xargs md5sum | cut -d' ' -f1 | sort | md5sum; }
[ "$(echo "$out" | cut -d' ' -f2 | sums)" = "$(ls "$T"/src/t* | sums)" ] ||
  fail "bob's bytes differ from alice's"

line=$(vn bob status | grep '^commits ') || fail "status shows no commit groups"
log "bob: $line"
grouped=$(echo "$line" | grep -o 'grouped=[0-9]*' | cut -d= -f2)
groups=$(echo "$line" | grep -o ' groups=[0-9]*' | cut -d= -f2)
[ "$grouped" -ge $N ] || fail "only $grouped sidecars went through groups"
[ $((groups * 2)) -le "$grouped" ] || fail "$groups groups for $grouped sidecars: not grouped"
stop bob
stop alice
STATUS=0
log PASS
