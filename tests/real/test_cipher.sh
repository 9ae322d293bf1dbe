#!/usr/bin/env bash
# Record cipher negotiation between two daemons: AES-256-GCM when both
# CPUs have AES in hardware (and neither config says otherwise), else
# XChaCha20-Poly1305; either way a 3 MB proxy arrives byte-identical and
# verified. `cipher = xchacha20poly1305` on one end is enough to get
# XChaCha20-Poly1305 on both.
. "$(dirname "$0")/lib.sh"

node alice
node bob
cfg_set bob eager none
start alice
start bob
pair alice bob
pair bob alice
wait_for 10 peer_online bob alice || fail "bob never saw alice online"

cipher_of() { vn "$1" status | grep "^peer $2 " | grep -o 'cipher=[a-z0-9]*' | cut -d= -f2; }
if grep -qw aes /proc/cpuinfo; then want=aes256gcm; else want=xchacha20poly1305; fi
[ "$(cipher_of bob alice)" = $want ] || fail "bob: cipher $(cipher_of bob alice), want $want"
[ "$(cipher_of alice bob)" = $want ] || fail "alice: cipher $(cipher_of alice bob), want $want"

fetch_one() { # fetch_one NAME: a new 3 MB proxy from alice, byte-identical
  local u="sidecar://$(uuid)/proxies/$1.mp4" out
  mkfile "$T/$1.mp4" 3000000
  vn alice add "$T/$1.mp4" "$u" >/dev/null || fail "add $1"
  wait_for 10 holds bob alice "$u" || fail "bob never learned of $1"
  out=$(vn bob fetch "$u" --timeout 30) || fail "fetch $1: $out"
  cmp -s "${out#* }" "$T/$1.mp4" || fail "$1: bytes differ"
}
fetch_one first

stop bob
cfg_set bob cipher xchacha20poly1305
start bob
wait_for 10 peer_online bob alice || fail "bob never saw alice again"
[ "$(cipher_of bob alice)" = xchacha20poly1305 ] || fail "bob: $(cipher_of bob alice) after opting out"
wait_for 10 peer_online alice bob || fail "alice never saw bob again"
[ "$(cipher_of alice bob)" = xchacha20poly1305 ] || fail "alice: $(cipher_of alice bob) when bob opted out"
fetch_one second
stop bob
stop alice
STATUS=0
log PASS
