# lib.sh - helpers for the multi-process loopback tests of vss-node.
# Sourced by each test_*.sh; needs VSS_NODE (path to the binary).
#
# Each node gets its own data dir under one temp dir, listens on
# 127.0.0.1 on a port the kernel picked at its first start (kept for
# restarts), and is killed when the test exits, whatever happens.

set -u
VSS=${VSS_NODE:?set VSS_NODE to the vss-node binary}
T=$(mktemp -d "${TMPDIR:-/tmp}/vss-real.XXXXXX")
declare -A PID PORT
STATUS=1

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }

fail() {
  log "FAIL: $*"
  exit 1
}

cleanup() {
  local rc=$?
  for n in "${!PID[@]}"; do kill -9 "${PID[$n]}" 2>/dev/null; done
  if [ "$STATUS" != 0 ] || [ "$rc" != 0 ] || [ -n "${KEEP:-}" ]; then
    for f in "$T"/*.log; do
      [ -f "$f" ] || continue
      echo "----- $f (last 40 lines)"
      tail -n 40 "$f"
    done
    echo "(kept $T)"
  else
    rm -rf "$T"
  fi
}
trap cleanup EXIT

# vn NAME ARGS... : run vss-node on NAME's data dir.
vn() {
  local n=$1
  shift
  "$VSS" -d "$T/$n" "$@"
}

# node NAME [config key=value ...]: init a node listening on a free port.
node() {
  local n=$1
  shift
  vn "$n" init --name "$n" --listen 127.0.0.1:0 >/dev/null || fail "init $n"
  local kv
  for kv in "$@"; do cfg_set "$n" "${kv%%=*}" "${kv#*=}"; done
}

# cfg_set NAME KEY VALUE: set a key that init wrote (any section).
cfg_set() {
  local f="$T/$1/config.ini"
  grep -q "^$2 =" "$f" || fail "no key $2 in $f"
  sed -i "s|^$2 =.*|$2 = $3|" "$f"
}

# start NAME: serve in the background, wait until it answers.
start() {
  local n=$1 i
  # Not through vn: $! must be the daemon itself, so kill -9 reaches it.
  "$VSS" -d "$T/$n" serve >>"$T/$n.log" 2>&1 &
  PID[$n]=$!
  disown "${PID[$n]}" # no "Killed" job notices; gone() polls instead
  for i in $(seq 100); do
    if vn "$n" status >"$T/$n.status" 2>/dev/null &&
      grep -q 'daemon running' "$T/$n.status"; then
      if [ -z "${PORT[$n]:-}" ]; then
        PORT[$n]=$(grep -o 'listen=127.0.0.1:[0-9]*' "$T/$n.status" | cut -d: -f2)
        # Keep the port for restarts (peers dial it).
        cfg_set "$n" listen "127.0.0.1:${PORT[$n]}"
      fi
      return 0
    fi
    kill -0 "${PID[$n]}" 2>/dev/null || fail "$n exited at start-up"
    sleep 0.05
  done
  fail "$n did not start"
}

# gone PID: wait (up to 10 s) until the process has exited.
gone() {
  local i
  for i in $(seq 500); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.02
  done
  return 1
}

stop() {
  vn "$1" stop >/dev/null 2>&1
  gone "${PID[$1]}" || fail "$1 did not stop"
  unset 'PID[$1]'
}

kill9() {
  kill -9 "${PID[$1]}"
  gone "${PID[$1]}" || fail "$1 survived kill -9"
  unset 'PID[$1]'
}

# pair A B [OPTIONS]: A pins B (and dials it when B has a port).
pair() {
  local a=$1 b=$2 code addr=()
  shift 2
  code=$(vn "$b" show identity --code) || fail "code of $b"
  [ -n "${PORT[$b]:-}" ] && addr=(--addr "127.0.0.1:${PORT[$b]}")
  vn "$a" pair "$code" --name "$b" "${addr[@]}" "$@" >/dev/null ||
    fail "pair $a $b"
}

# wait_for SECONDS CMD...: poll until CMD succeeds.
wait_for() {
  local secs=$1 i
  shift
  for i in $(seq $((secs * 20))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}

peer_online() { vn "$1" status | grep -q "^peer $2 .*state=online"; }
holds() { vn "$1" presence "$3" | grep -q "name=$2 online=1"; }

# mkfile PATH SIZE [webp]: deterministic-looking content, optionally with
# a WebP (RIFF....WEBPVP8 ) header.
mkfile() {
  head -c "$2" /dev/urandom >"$1"
  if [ "${3:-}" = webp ]; then
    printf 'RIFF\x00\x00\x00\x00WEBPVP8 ' | dd of="$1" conv=notrunc status=none
  fi
}

uuid() { cat /proc/sys/kernel/random/uuid; }
sum_of() { "$VSS" checksum "$1" | cut -d' ' -f1; }

# ready_rows_ok NAME: every `ready` row of NAME's database has its bytes
# on disk with the checksum the row records (read with sqlite3 and
# checksummed here, independently of the daemon). Prints the row count.
ready_rows_ok() {
  local n=$1 rel sum bad=0 count=0
  while read -r rel sum; do
    count=$((count + 1))
    if [ ! -f "$T/$n/$rel" ]; then
      log "ready row without bytes: $rel"
      bad=$((bad + 1))
    elif [ "$(sum_of "$T/$n/$rel")" != "$sum" ]; then
      log "ready row with wrong bytes: $rel"
      bad=$((bad + 1))
    fi
  done < <(sqlite3 -separator ' ' "$T/$n/vss.db" \
    "SELECT rel_path, checksum FROM sidecar WHERE status = 'ready'")
  echo "$count"
  [ "$bad" = 0 ]
}

# done_bytes NAME: bytes done of NAME's first transfer in flight.
done_bytes() {
  vn "$1" status | grep -o '^transfer job=.* done=[0-9]*' | head -1 |
    grep -o 'done=[0-9]*' | cut -d= -f2
}
