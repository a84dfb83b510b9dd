#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# `rdma-tcp link set` reaches processes that already have the device open
# (docs/design.md, "Security model"): their connections made afterwards
# use the new mode and credential, established ones keep theirs.
#
# 1. psp_linkset, one process: `link set tcp0 psp encrypt` -> a new pair
#    connects in encrypt while the old one keeps working in auth; `link set
#    tcp0 key NEW` -> a new pair connects with it, the old pairs keep
#    working; the key file made readable by all -> the engine refuses the
#    change (stderr, once) and keeps the key.
# 2. `link set` itself refuses a world-readable key.
# 3. Two processes hold tcp0 open (key K1) while `link set tcp0 key K2`
#    runs, then connect (psp_peer -W/-F) to a peer process with the old
#    key (tcp1: no connection, both ends end cleanly) and to one with the
#    new key (tcp2: connects, verified).
#
#   tests/integration/test_linkset.sh PATH/TO/rdma-tcp
#
# Prints "N passed, N failed"; exit status 1 on any failure.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
LINKSET=$(built tests/tools/psp_linkset) || exit 2
PEER=$(built tests/tools/psp_peer) || exit 2
lo_device tcp0
own_san_options
W=$RDMA_TCP_ROOT/linkset
mkdir -p "$W"

newkey() { (umask 077 && openssl rand -hex 32 >"$1"); }
fpr() { "$RDMA_TCP" link show "$1" | grep -Eo 'sha256:[0-9a-f]{64}'; }

K1=$W/k1 K2=$W/k2 K3=$W/k3
newkey "$K1"
newkey "$K2"
newkey "$K3"
chmod 644 "$K3"

# 1. one process
check "link set tcp0 psp auth key K1" "$RDMA_TCP" link set tcp0 psp auth key "$K1"
if run_c_suite 120 "$LINKSET" tcp0 "$RDMA_TCP link set tcp0 psp encrypt" \
	"$RDMA_TCP link set tcp0 key $K2" "chmod 644 $K2"; then
	ok "psp_linkset: mode and key changes reach the open context"
else
	fail "psp_linkset: mode and key changes reach the open context"
fi
chmod 600 "$K2"

# 2. the tool
out=$("$RDMA_TCP" link set tcp0 key "$K3" 2>&1)
rc=$?
check_match "link set with a world-readable key fails ($rc)" '^[1-9]' "$rc"
check_match "... saying why" 'accessible to every user' "$out"
check_nomatch "... and the device keeps its key" "$(fpr tcp0 || echo none)" \
	"$(sha256sum "$K3")"

# 3. processes that hold the device open
check "link set tcp0 psp auth key K1 (again)" "$RDMA_TCP" link set tcp0 psp auth key "$K1"
check "link add tcp1 (the old key)" "$RDMA_TCP" link add tcp1 netdev lo key "$K1"
check "link add tcp2 (the new key)" "$RDMA_TCP" link add tcp2 netdev lo key "$K2"
F2=$(fpr tcp2)
for h in 1 2; do
	# the pair with the old key: its waiting end gives up after 10 s
	timeout -k 5 60 "$PEER" -d tcp0 -W "$W/gate" -F "$F2" -o "$W/h$h" \
		-i "$W/p$h" -n 4 -s 4096 -t $((h == 1 ? 10 : 30)) \
		>"$W/h$h.log" 2>&1 &
	if [ $h = 1 ]; then H1=$!; else H2=$!; fi
done
held() { grep -q '^holding' "$W/h1.log" && grep -q '^holding' "$W/h2.log"; }
check "two processes hold tcp0 open" poll 20 held
check "link set tcp0 key K2" "$RDMA_TCP" link set tcp0 key "$K2"
touch "$W/gate"
timeout -k 5 60 "$PEER" -d tcp1 -o "$W/p1" -i "$W/h1" -w -n 4 -s 4096 -t 5 \
	>"$W/p1.log" 2>&1 &
P1=$!
timeout -k 5 60 "$PEER" -d tcp2 -o "$W/p2" -i "$W/h2" -w -n 4 -s 4096 -t 30 \
	>"$W/p2.log" 2>&1 &
P2=$!
wait "$H1"
RH1=$?
wait "$H2"
RH2=$?
wait "$P1"
RP1=$?
wait "$P2"
RP2=$?
logs() {
	local f
	for f in "$@"; do printf -- '--- %s\n%s\n' "$f" "$(cat "$W/$f.log")"; done
}
if [ "$RH2" = 0 ] && [ "$RP2" = 0 ]; then
	ok "the held process connects to the new key's peer (4 iterations verified)"
else
	fail "the held process connects to the new key's peer ($RH2, $RP2)" "$(logs h2 p2)"
fi
# No connection: the connecting end (the lower QPN) fails cleanly (QP_FATAL,
# its WRs flushed); the accepting end waits untouched, or fails on its own
# retry budget when it has WRs posted (the writer).
case "$RH1:$RP1" in
1:3 | 3:1 | 1:1)
	if grep -q '^iterations 0/' "$W/h1.log" && grep -q '^iterations 0/' "$W/p1.log"; then
		ok "the old key's peer gets no connection, both ends end cleanly ($RH1:$RP1)"
	else
		fail "the old key's peer gets no connection" "$(logs h1 p1)"
	fi
	;;
*) fail "the old key's peer gets no connection ($RH1:$RP1)" "$(logs h1 p1)" ;;
esac
check_match "... nothing forged, canaries intact" '^canary intact$' \
	"$(grep -h '^canary' "$W/h1.log" "$W/p1.log" | sort -u)"
"$RDMA_TCP" link del tcp1 >/dev/null 2>&1
"$RDMA_TCP" link del tcp2 >/dev/null 2>&1
finish
