#!/usr/bin/env bash
# kill -9 of the fetching node mid-transfer, then restart:
#  - no `ready` row without its verified bytes (checked with sqlite3 and
#    an independent checksum), the partial file is only a tmp/ .part;
#  - the restarted node sweeps the .part, the fetch restarts and
#    completes with verified bytes;
#  - a crash in the middle of a storm of thumbnail commits (eager
#    prefetch) leaves only rows whose bytes verify, and the prefetch
#    finishes after the restart.
. "$(dirname "$0")/lib.sh"

MB=$((1024 * 1024))
node alice
node bob
cfg_set alice upload_limit 16M
start alice
start bob
pair alice bob
# The RTT hint keeps the first request's timeout above the time a source
# takes to hash a proxy it serves for the first time (the core does that
# synchronously on the first GET; under a loaded CI machine a 24 MB hash
# can outlast the default 50 ms floor and the source gets dropped).
pair bob alice --rtt-hint 100ms
wait_for 10 peer_online bob alice || fail "bob never saw alice"

C=$(uuid)
P="sidecar://$C/proxies/1080p.mp4"
mkfile "$T/p.mp4" $((48 * MB))
vn alice add "$T/p.mp4" "$P" >/dev/null || fail "add on alice"
wait_for 5 holds bob alice "$P" || fail "bob never learned alice holds it"

# 1. Crash mid-transfer.
vn bob fetch "$P" --timeout 30 >"$T/fetch1.out" 2>&1 &
FETCH=$!
mid() { d=$(done_bytes bob); [ -n "$d" ] && [ "$d" -ge $((8 * MB)) ]; }
wait_for 10 mid || fail "fetch never got going"
log "kill -9 bob at $(done_bytes bob) of $((48 * MB)) bytes"
kill9 bob
wait $FETCH && fail "the fetch client should report the lost daemon"
row=$(sqlite3 "$T/bob/vss.db" "SELECT status FROM sidecar WHERE content_uuid='$C'")
[ -z "$row" ] || fail "row for the interrupted sidecar: '$row'"
ready_rows_ok bob >/dev/null || fail "bob has a ready row without its bytes"
final="$T/bob/$(sqlite3 "$T/alice/vss.db" "SELECT rel_path FROM sidecar WHERE content_uuid='$C'")"
[ ! -e "$final" ] || fail "partial bytes under the final name $final"
parts=$(ls "$T/bob/tmp" | grep -c '\.part$')
[ "$parts" -ge 1 ] || fail "expected the interrupted .part file in tmp/"
old_parts=$(ls "$T/bob/tmp")

# 2. Restart: the .part is swept, the fetch restarts (the request was
# recorded: the node resumes it by itself, from zero after a crash) and
# completes; asking again joins it.
start bob
grep -q "removed $parts unfinished transfer file" "$T/bob.log" || fail "no sweep logged"
for f in $old_parts; do
  [ ! -e "$T/bob/tmp/$f" ] || fail "tmp/$f not swept"
done
wait_for 10 peer_online bob alice || fail "bob did not reconnect"
out=$(vn bob fetch "$P" --timeout 30) || fail "fetch after restart: $out"
cmp -s "$final" "$T/p.mp4" || fail "bytes differ after the restarted fetch"
row=$(sqlite3 "$T/bob/vss.db" "SELECT status, checksum FROM sidecar WHERE content_uuid='$C'")
[ "$row" = "ready|$(sum_of "$T/p.mp4")" ] || fail "row after restart: '$row'"

# 3. Crash among many commits: bob prefetches 300 thumbnails eagerly.
# One process makes the 300 files (forking 900 under a loaded CI machine
# took most of the test's minute).
mkdir "$T/th"
head -c $((300 * 45000)) /dev/urandom | split -b 45000 -d -a 3 - "$T/th/t"
R=$(uuid | cut -c1-8)
ls "$T"/th/t* | awk -v r="$R" '{ printf "%s sidecar://%s-0000-4000-8000-%012d/thumbs/grid@2x.webp\n", $0, r, NR }' >"$T/thumbs.list"
vn alice add --stdin <"$T/thumbs.list" >/dev/null || fail "bulk add on alice"
some() { n=$(sqlite3 "$T/bob/vss.db" "SELECT count(*) FROM sidecar WHERE kind='thumb'"); [ "$n" -ge 40 ]; }
wait_for 20 some || fail "prefetch never started"
kill9 bob
n=$(ready_rows_ok bob) || fail "ready rows without verified bytes after the crash"
log "crash among commits: $n ready rows, all verified"
start bob
all() { n=$(sqlite3 "$T/bob/vss.db" "SELECT count(*) FROM sidecar WHERE kind='thumb' AND status='ready'"); [ "$n" = 300 ]; }
wait_for 30 all || fail "prefetch did not finish after the restart"
n=$(ready_rows_ok bob) || fail "bad rows at the end"
vn bob verify >/dev/null || fail "verify on bob"
STATUS=0
log PASS
