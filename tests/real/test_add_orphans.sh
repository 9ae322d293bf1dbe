#!/usr/bin/env bash
# 1. `add` with no daemon copies and records under the data dir's lock
#    (held from before it reads its input to the end), so a daemon
#    starting meanwhile cannot sweep copies that have no row yet.
# 2. At start the daemon removes bytes under sidecars/content that no
#    ready row names (a crash between a blob commit and its row, an add
#    that never recorded) and leaves recorded bytes and foreign files.
. "$(dirname "$0")/lib.sh"
command -v flock >/dev/null || { log "SKIP: no flock(1)"; STATUS=0; exit 0; }

node alice
mkfile "$T/a.webp" 45000 webp
U="sidecar://$(uuid)/thumbs/grid@2x.webp"
mkfifo "$T/fifo"
# stdout apart from stderr: the probe below (flock) may create the lock
# file with the umask's mode before add does, and add then logs that it
# tightened it.
vn alice add --stdin <"$T/fifo" >"$T/add.out" 2>"$T/add.err" &
ADD=$!
exec 3>"$T/fifo"
locked() { ! flock -n "$T/alice/lock" true; }
wait_for 10 locked || fail "add does not hold the data dir lock"
echo "$T/a.webp $U" >&3
exec 3>&-
wait $ADD || fail "add: $(cat "$T/add.out" "$T/add.err")"
locked && fail "the lock outlived add"
kept=$(cut -d' ' -f2 "$T/add.out")
[ -f "$kept" ] || fail "no recorded file: $(cat "$T/add.out")"

# Plant bytes no row names, under a name we make, and a foreign file.
O=$(uuid)
odir="$T/alice/sidecars/content/${O:0:2}/${O:2:2}/$O/thumbs"
mkdir -p "$odir"
cp "$T/a.webp" "$odir/grid@2x.webp"
echo hello >"$T/alice/sidecars/content/README.txt"
start alice
[ -f "$odir/grid@2x.webp" ] && fail "orphan bytes were not removed"
[ -f "$kept" ] || fail "recorded bytes were removed"
[ -f "$T/alice/sidecars/content/README.txt" ] || fail "a foreign file was removed"
grep -q "removed 1 sidecar file(s) that no row named" "$T/alice.log" ||
  fail "the removal was not logged"
[ "$(ready_rows_ok alice)" = 1 ] || fail "alice's row"
stop alice
STATUS=0
log PASS
