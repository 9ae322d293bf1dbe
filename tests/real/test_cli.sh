#!/usr/bin/env bash
# Issue 11, item 11: what a new user sees.
#  - the help lists the kind directories and extensions, the same the
#    parser accepts (checked against the parser's own error message);
#  - a wrong URI says which part is wrong and lists the valid values;
#  - `show --help` is help (exit 0); `pair --addr` prints the port;
#  - the help says that eager = thumb prefetches every thumbnail;
#  - adding a key again in another format removes the first file.
. "$(dirname "$0")/lib.sh"

node alice
node bob
help=$("$VSS" --help) || fail "--help exit status"
C=550e8400-e29b-41d4-a716-446655440000
err() { vn alice resolve "$1" 2>&1 >/dev/null; }
e=$(err "sidecar://$C/thumb/grid@2x.webp")
echo "$e" | grep -q "unknown kind directory 'thumb' (one of thumbs, " || fail "kind: $e"
for d in $(echo "$e" | sed 's/.*(one of \([^)]*\)).*/\1/' | tr -d ,); do
  echo "$help" | grep -qw "$d" || fail "help lacks kind directory $d"
done
e=$(err "sidecar://$C/thumbs/grid@2x.png")
echo "$e" | grep -q "unknown extension 'png' (one of webp, mp4" || fail "ext: $e"
for x in $(echo "$e" | sed 's/.*(one of \([^)]*\)).*/\1/' | tr -d ,); do
  echo "$help" | grep -qw "$x" || fail "help lacks extension $x"
done
e=$(err "sidecar://550e8400/thumbs/grid@2x.webp")
echo "$e" | grep -q "content id must be a hyphenated uuid" || fail "uuid: $e"
e=$(err "http://$C/thumbs/grid@2x.webp")
echo "$e" | grep -q "must start with sidecar://" || fail "scheme: $e"
e=$(err "sidecar://$C/thumbs/a b.webp")
echo "$e" | grep -q "bad variant 'a b'" || fail "variant: $e"
e=$(err "sidecar://$C/thumbs/x/y.webp")
echo "$e" | grep -q "is a path" || fail "path: $e"
echo "$help" | grep -q "eager = thumb" || fail "help does not explain eager prefetch"

vn alice show --help >"$T/h.out" || fail "show --help exit $?"
grep -q "usage: vss-node identity" "$T/h.out" || fail "show --help: $(cat "$T/h.out")"
code=$(vn bob show identity --code)
out=$(vn alice pair "$code" --name bob --addr 127.0.0.1:7999) || fail "pair"
echo "$out" | grep -q "dialling 127.0.0.1:7999" || fail "pair output: $out"

# The extension is not part of the key: a second add of the same sidecar
# in another format replaces the first file instead of orphaning it.
mkfile "$T/a.mp4" 3000
mkfile "$T/a.webp" 3000 webp
o1=$(vn alice add "$T/a.mp4" "sidecar://$C/thumbs/grid@2x.mp4") || fail "add mp4"
vn alice add "$T/a.webp" "sidecar://$C/thumbs/grid@2x.webp" >/dev/null 2>"$T/add2.err" ||
  fail "add webp"
[ ! -e "${o1#* }" ] || fail "the .mp4 bytes were left orphaned at ${o1#* }"
grep -q "replaces the same sidecar's .mp4 file" "$T/add2.err" || fail "$(cat "$T/add2.err")"
[ "$(vn alice list | grep -c "$C")" = 1 ] || fail "list: $(vn alice list)"
STATUS=0
log PASS
