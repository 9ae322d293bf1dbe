#!/usr/bin/env bash
# Issue 11, item 7: generators are bounded and killed as a whole.
#  - `fetch --or-generate` of 8 sidecars with no peer runs at most
#    [generate] parallel = 2 generators at once, and all 8 are made;
#  - a generator that times out is killed with its whole process group:
#    the child it started in the background does not survive it.
. "$(dirname "$0")/lib.sh"

mkdir "$T/run"
cat >"$T/gen.sh" <<SH
#!/bin/sh
# gen.sh URI OUT: counts how many run at once; "stray" leaves a child.
touch "$T/run/\$\$"
ls "$T/run" | wc -l >>"$T/conc"
case "\$1" in *stray*) sleep 30 & echo \$! >"$T/stray.pid"; sleep 30 ;; esac
sleep 0.5
rm -f "$T/run/\$\$"
printf 'RIFF\0\0\0\0WEBPVP8 generated for %s\n' "\$1" >"\$2"
SH
chmod +x "$T/gen.sh"

node bob
cfg_set bob eager none
cfg_set bob command "$T/gen.sh"
cfg_set bob timeout 2s
sed -i 's/^; parallel = 2$/parallel = 2/' "$T/bob/config.ini"
grep -q "^parallel = 2" "$T/bob/config.ini" || fail "no parallel key"
start bob

C=$(uuid)
for i in 1 2 3 4 5 6 7 8; do echo "sidecar://$C/thumbs/v$i.webp"; done >"$T/uris"
vn bob fetch --or-generate --stdin --timeout 40 <"$T/uris" >"$T/out" ||
  fail "fetch --or-generate: $(cat "$T/out")"
[ "$(wc -l <"$T/out")" = 8 ] || fail "not all 8 generated: $(cat "$T/out")"
max=$(sort -n "$T/conc" | tail -1)
log "at most $max generators at once"
[ "$max" -le 2 ] || fail "$max generators ran at once (parallel = 2)"
[ "$(wc -l <"$T/conc")" = 8 ] || fail "generator runs: $(wc -l <"$T/conc")"

vn bob fetch --or-generate "sidecar://$C/thumbs/stray.webp" --timeout 20 \
  >"$T/stray.out" 2>&1 && fail "the timed-out generator's fetch succeeded"
grep -q "timed out; killing its process group" "$T/bob.log" || fail "no timeout logged"
[ -s "$T/stray.pid" ] || fail "the stray child never started"
gone "$(cat "$T/stray.pid")" || fail "the generator's child survived the kill"
STATUS=0
log PASS
