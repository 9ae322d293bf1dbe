#!/usr/bin/env bash
# Seed test 2 over real sockets: bob resolves alice's grid@2x thumbnail
# to alice (remote), fetches it (45,000 bytes, a WebP, checksum verified),
# and then resolves it locally; the database row is ready with the same
# checksum as alice's.
. "$(dirname "$0")/lib.sh"

node alice
node bob
cfg_set bob eager none # fetch on demand, not by prefetch
start alice
start bob
pair alice bob
pair bob alice
wait_for 10 peer_online bob alice || fail "bob never saw alice online"

C=$(uuid)
U="sidecar://$C/thumbs/grid@2x.webp"
mkfile "$T/thumb.webp" 45000 webp
vn alice add "$T/thumb.webp" "$U" >/dev/null || fail "add on alice"
wait_for 5 holds bob alice "$U" || fail "bob never learned alice holds $U"

r=$(vn bob resolve "$U") || fail "resolve on bob: $r"
[[ $r == "remote alice "* ]] || fail "bob resolved to '$r', not alice"

out=$(vn bob fetch "$U" --timeout 10) || fail "fetch: $out"
path=${out#* }
[ -f "$path" ] || fail "fetched file $path missing"
[ "$(stat -c %s "$path")" = 45000 ] || fail "size $(stat -c %s "$path")"
[ "$(head -c 4 "$path")" = RIFF ] && [ "$(dd if="$path" bs=1 skip=8 count=4 status=none)" = WEBP ] ||
  fail "not a WebP"
cmp -s "$path" "$T/thumb.webp" || fail "bytes differ from alice's"
want=$(sum_of "$T/thumb.webp")
row=$(sqlite3 "$T/bob/vss.db" "SELECT status, size, checksum FROM sidecar WHERE content_uuid='$C'")
[ "$row" = "ready|45000|$want" ] || fail "bob's row is '$row'"

r=$(vn bob resolve "$U") || fail "second resolve"
[ "$r" = "local $path" ] || fail "bob resolved to '$r' after the fetch"
vn bob presence "$U" | grep -q "name=bob .* self" || fail "bob does not hold it"
wait_for 5 holds alice bob "$U" || fail "alice never learned bob holds it"
vn bob verify >/dev/null || fail "verify on bob"
STATUS=0
log PASS
