#!/usr/bin/env bash
# syncthing_copy.sh WORK SRC NFILES: one Syncthing baseline round for
# bench_real. Two Syncthing instances on 127.0.0.1 (no discovery, relays,
# NAT or usage reports: nothing leaves the machine), configured through
# their config.xml in WORK: A shares SRC send-only, B receives into a
# fresh WORK/st-dst. B starts with the folder paused; once the two are
# connected and A has scanned SRC, the folder is unpaused over B's REST
# API and the time until B holds all NFILES files, verified by Syncthing's
# block hashes and fsynced (Syncthing's default), is printed in seconds.
# With ST_FROM_START=1, B starts unpaused instead and the time counts from
# B's start (its start-up and connection included).
# Exit 3 when syncthing is not installed.
set -u
WORK=$1 SRC=$2 N=$3
command -v syncthing >/dev/null || exit 3
command -v curl >/dev/null || exit 3
KEY=benchkey
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
die() { echo "syncthing_copy: $*" >&2; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api() { curl -sf -H "X-API-Key: $KEY" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

for h in a b; do
  if [ ! -f "$WORK/st-$h/cert.pem" ]; then
    syncthing generate --home="$WORK/st-$h" --no-default-folder >/dev/null 2>&1 ||
      die "generate $h"
  fi
done
IDA=$(syncthing serve --home="$WORK/st-a" --device-id) || die "device id a"
IDB=$(syncthing serve --home="$WORK/st-b" --device-id) || die "device id b"
PA=$(port) PB=$(port) GA=$(port) GB=$(port)

config() { # config HOME GUI LISTEN TYPE PATH PAUSED
  cat >"$1/config.xml" <<XML
<configuration version="35">
  <folder id="bench" label="bench" path="$5" type="$4" rescanIntervalS="3600" fsWatcherEnabled="false">
    <filesystemType>basic</filesystemType>
    <device id="$IDA"></device>
    <device id="$IDB"></device>
    <paused>$6</paused>
  </folder>
  <device id="$IDA" name="a" compression="never"><address>tcp://127.0.0.1:$PA</address></device>
  <device id="$IDB" name="b" compression="never"><address>tcp://127.0.0.1:$PB</address></device>
  <gui enabled="true" tls="false"><address>127.0.0.1:$2</address><apikey>$KEY</apikey></gui>
  <options>
    <listenAddress>tcp://127.0.0.1:$3</listenAddress>
    <globalAnnounceEnabled>false</globalAnnounceEnabled>
    <localAnnounceEnabled>false</localAnnounceEnabled>
    <relaysEnabled>false</relaysEnabled>
    <natEnabled>false</natEnabled>
    <urAccepted>-1</urAccepted>
    <autoUpgradeIntervalH>0</autoUpgradeIntervalH>
    <startBrowser>false</startBrowser>
    <crashReportingEnabled>false</crashReportingEnabled>
  </options>
</configuration>
XML
}
rm -rf "$WORK/st-dst" "$WORK/st-b/index-"*
mkdir -p "$WORK/st-dst/.stfolder" "$SRC/.stfolder"
config "$WORK/st-a" "$GA" "$PA" sendonly "$SRC" false
FROM_START=${ST_FROM_START:-0}
config "$WORK/st-b" "$GB" "$PB" receiveonly "$WORK/st-dst" \
  "$([ "$FROM_START" = 1 ] && echo false || echo true)"
export STNODEFAULTFOLDER=1 STNOUPGRADE=1
syncthing serve --home="$WORK/st-a" --no-browser --no-restart >"$WORK/st-a.log" 2>&1 &
pids+=($!)
start_b() {
  syncthing serve --home="$WORK/st-b" --no-browser --no-restart >"$WORK/st-b.log" 2>&1 &
  pids+=($!)
}
[ "$FROM_START" = 1 ] || start_b

# until CMD prints "yes", for up to $1 seconds
until_yes() {
  local end=$((SECONDS + $1))
  shift
  while [ $SECONDS -lt $end ]; do
    [ "$("$@" 2>/dev/null)" = yes ] && return 0
    sleep 0.1
  done
  return 1
}
a_scanned() { api "http://127.0.0.1:$GA/rest/db/status?folder=bench" |
  json "'yes' if d['state']=='idle' and d['localFiles']==$N else 'no'"; }
b_connected() { api "http://127.0.0.1:$GB/rest/system/connections" |
  json "'yes' if d['connections'].get('$IDA',{}).get('connected') else 'no'"; }
b_done() { api "http://127.0.0.1:$GB/rest/db/status?folder=bench" |
  json "'yes' if d['globalFiles']==$N and d['localFiles']==$N and d['needFiles']==0 and d['state']=='idle' else 'no'"; }
until_yes 1800 a_scanned || die "A never scanned $N files (see $WORK/st-a.log)"
if [ "$FROM_START" = 1 ]; then
  t0=$(date +%s.%N)
  start_b
else
  until_yes 120 b_connected || die "B never connected to A (see $WORK/st-b.log)"
  t0=$(date +%s.%N)
  api -X PATCH -d '{"paused": false}' "http://127.0.0.1:$GB/rest/config/folders/bench" >/dev/null ||
    die "cannot unpause B's folder"
fi
until_yes 3600 b_done || die "B never completed (see $WORK/st-b.log)"
t1=$(date +%s.%N)
python3 -c "print(f'{$t1 - $t0:.3f}')"
