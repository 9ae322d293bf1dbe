#!/usr/bin/env bash
# Issue 11, items 4, 5 and 6: the local side of a node.
#  - a data dir given with a loose mode (0755, files 0644, as an older
#    version or a careless mkdir left it) is repaired to 0700/0600; new
#    files and sidecar directories are private; a dir others can write is
#    refused by every command;
#  - a control request with a NUL byte gets an error, the daemon lives on;
#  - 200,005 URIs in one request (`presence --stdin`) all get an answer:
#    nothing is truncated.
. "$(dirname "$0")/lib.sh"
CTL=${CTL_RAW:?set CTL_RAW to the ctl_raw binary}

mode() { stat -c %a "$1"; }

mkdir -m 0755 "$T/alice"
node alice
[ "$(mode "$T/alice")" = 700 ] || fail "init left the data dir $(mode "$T/alice")"
for f in config.ini vss.db identity.key; do
  [ "$(mode "$T/alice/$f")" = 600 ] || fail "init made $f $(mode "$T/alice/$f")"
done

# An older data dir: everything readable by others. Any command repairs
# it and says so (checked on a lone `status`: during `start` the status
# polls race the daemon to the repair, and their stderr is not kept).
chmod 0755 "$T/alice"
chmod 0644 "$T/alice/vss.db" "$T/alice/config.ini"
vn alice status >"$T/repair.out" 2>&1 || fail "status on a loose dir: $(cat "$T/repair.out")"
grep -q "tightened $T/alice/vss.db from mode 0644 to 0600" "$T/repair.out" ||
  fail "repair not logged: $(cat "$T/repair.out")"
chmod 0755 "$T/alice"
chmod 0644 "$T/alice/vss.db" "$T/alice/config.ini"
start alice
[ "$(mode "$T/alice")" = 700 ] || fail "serve left the data dir $(mode "$T/alice")"
[ "$(mode "$T/alice/vss.db")" = 600 ] || fail "vss.db left $(mode "$T/alice/vss.db")"
[ "$(mode "$T/alice/config.ini")" = 600 ] || fail "config.ini left $(mode "$T/alice/config.ini")"
[ "$(mode "$T/alice/ctl.sock")" = 600 ] || fail "ctl.sock is $(mode "$T/alice/ctl.sock")"

U="sidecar://$(uuid)/thumbs/grid@2x.webp"
mkfile "$T/t.webp" 45000 webp
out=$(vn alice add "$T/t.webp" "$U") || fail "add"
p=${out#* }
[ "$(mode "$p")" = 600 ] || fail "sidecar file is $(mode "$p")"
[ "$(mode "$(dirname "$p")")" = 700 ] || fail "sidecar dir is $(mode "$(dirname "$p")")"

# 5. A NUL byte in a request line.
printf 'vss-ctl 1\nstatus\nab\0cd\n\n' | "$CTL" "$T/alice/ctl.sock" >"$T/nul.out" ||
  fail "no answer to the NUL request"
grep -q "NUL byte" "$T/nul.out" || fail "NUL request: $(cat "$T/nul.out")"
kill -0 "${PID[alice]}" || fail "the daemon died of a NUL byte"
printf 'vss-ctl 1\nstatus' | "$CTL" "$T/alice/ctl.sock" >/dev/null # no end
vn alice status | grep -q "daemon running" || fail "daemon not answering after"

# 6. 200,005 URIs: every one answered (the daemon used to stop at 200,000
# lines, the magic and verb included).
awk -v u="$U" 'BEGIN { for (i = 0; i < 200004; i++)
  printf "sidecar://%08x-0000-4000-8000-000000000000/thumbs/grid@2x.webp\n", i
  print u }' >"$T/many"
n=$(vn alice presence --stdin <"$T/many" | wc -l)
[ "$n" = 200005 ] || fail "presence --stdin answered $n of 200005"
vn alice presence --stdin <"$T/many" | tail -1 | grep -q "name=alice online=1.* self" ||
  fail "the last URI of 200005 was not answered"

# A dir others can write is refused, by the daemon and by the CLI.
stop alice
chmod 0777 "$T/alice"
vn alice status >"$T/st.out" 2>&1 && fail "status ran on a world-writable dir"
grep -q "writable by other users (mode 0777)" "$T/st.out" || fail "$(cat "$T/st.out")"
"$VSS" -d "$T/alice" serve >"$T/serve.out" 2>&1 && fail "serve ran on a world-writable dir"
grep -q "writable by other users" "$T/serve.out" || fail "$(cat "$T/serve.out")"
chmod 0700 "$T/alice"
STATUS=0
log PASS
