#!/usr/bin/env bash
# Fall back to local generation when fetching fails: alice held a
# thumbnail but is now offline, so bob's `fetch --or-generate` runs his
# [generate] command and records the result; a generator that fails, and
# a device with no generator, end in a clear error.
. "$(dirname "$0")/lib.sh"

cat >"$T/gen.sh" <<'SH'
#!/bin/sh
# gen.sh URI OUT: a fake thumbnailer (fails for variant detail@2x).
case "$1" in *detail@2x*) echo "gen.sh: cannot make $1" >&2; exit 3 ;; esac
printf 'RIFF\0\0\0\0WEBPVP8 generated for %s\n' "$1" >"$2"
SH
chmod +x "$T/gen.sh"

node alice
node bob
cfg_set bob eager none
cfg_set bob command "$T/gen.sh"
start alice
start bob
pair alice bob
pair bob alice
wait_for 10 peer_online bob alice || fail "bob never saw alice"

C=$(uuid)
U="sidecar://$C/thumbs/grid@2x.webp"
mkfile "$T/t.webp" 45000 webp
vn alice add "$T/t.webp" "$U" >/dev/null || fail "add"
wait_for 5 holds bob alice "$U" || fail "bob never learned alice holds it"
stop alice
wait_for 10 bash -c "! $VSS -d $T/bob status | grep -q '^peer alice .*state=online'" ||
  fail "bob still sees alice"

out=$(vn bob fetch "$U" --or-generate --timeout 20) || fail "fetch --or-generate: $out"
path=${out#* }
grep -q "generated for $U" "$path" || fail "not the generator's output: $(head -c 80 "$path")"
row=$(sqlite3 "$T/bob/vss.db" "SELECT status, checksum FROM sidecar WHERE content_uuid='$C'")
[ "$row" = "ready|$(sum_of "$path")" ] || fail "row '$row'"
grep -q "generated $U" "$T/bob.log" || fail "no generation logged"
vn bob presence "$U" | grep -q "name=bob .* self" || fail "bob does not list it"

# A failing generator: the fetch fails with a clear reason.
U2="sidecar://$(uuid)/thumbs/detail@2x.webp"
out=$(vn bob fetch "$U2" --or-generate --timeout 20 2>&1) && fail "fetch should fail"
echo "$out" | grep -q "failed: local generation failed" || fail "unclear error: $out"
grep -q "cannot make $U2" "$T/bob.log" || fail "generator stderr not in the log"
[ -z "$(ls "$T/bob/tmp")" ] || fail "generator output left in tmp/"

# No generator configured: same request, plain failure.
cfg_set bob command ""
stop bob
start bob
out=$(vn bob fetch "sidecar://$(uuid)/thumbs/grid@1x.webp" --or-generate --timeout 20 2>&1) &&
  fail "fetch without a generator should fail"
STATUS=0
log PASS
