#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rsockets under the preload with stock rdmacm-utils programs: rstream
# over 127.0.0.1 and ::1 on a tcp device (librdmacm-ext/rsock.c carries
# the rsocket API on kernel TCP sockets), and riostream (riomap/riowrite:
# framed rsockets, librdmacm-ext/rio_*.c) in its non-blocking, blocking
# and async modes with data verification; riowrite past the peer's
# mapping, and a hostile peer (rio_peer.py) that does not frame or writes
# outside the mapping: clean errors, resets, no crash or hang; the framed
# API call by call (rio_api.py); rstream and riostream across two
# namespaces joined by a veth pair (10.89.0.0/24, tcpA and tcpB).
#
#   tests/integration/test_rsocket.sh PATH/TO/rdma-tcp
#
# As root. A private registry with tcp0 on lo; a free port found at
# start. Each process runs under `timeout` (RSOCKET_TIMEOUT, default 20 s);
# the client starts once the server listens. Prints one line per check and
# "N passed, N failed"; exit 1 on any failure, 2 on a usage error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
require_root # the namespace phase
need_tools ip ss timeout rstream riostream /usr/bin/python3

TMO=${RSOCKET_TIMEOUT:-20}
LOGS=$(mktemp -d /tmp/rdma-tcp-rsocket.XXXXXX)
BG_PID=
NSA=rtcp-rioA-$$
NSB=rtcp-rioB-$$
IPA=10.89.0.1
IPB=10.89.0.2
SNS= # the namespaces pair runs its server and client in
CNS=
lo_device tcp0
PRE=$("$RDMA_TCP" env | sed -n 's/^export LD_PRELOAD=//p' | tr -d "'\"")
if [ "$SAN_ACTIVE" = 1 ]; then
	LD_PRELOAD=$PRE san_refresh
	RUN=("${STOCK[@]}")
else
	RUN=(env "LD_PRELOAD=$PRE")
fi
cleanup() {
	local rc=$?
	[ -n "$BG_PID" ] && kill "$BG_PID" 2>/dev/null
	ns_del "$NSA" tcpA
	ns_del "$NSB" tcpB
	[ -n "${KEEP_LOGS:-}" ] || rm -rf "$LOGS"
	(exit "$rc") # the status lo_device's cleanup passes on
	_lo_device_cleanup
}
trap cleanup EXIT

PORT=7480
while port_used "" "$PORT" && [ "$PORT" -lt 7580 ]; do PORT=$((PORT + 1)); done

# pair LABEL PROG ADDR [ARGS...]: server bound to ADDR, client to it
# (in namespaces SNS and CNS if set); both must exit 0 and report their
# transfers
pair() {
	local label=$1 prog=$2 addr=$3 slog clog src crc
	shift 3
	slog=$LOGS/$label-server.log
	clog=$LOGS/$label-client.log
	in_ns "$SNS" timeout -k 5 "$TMO" "${RUN[@]}" "$prog" -b "$addr" -p "$PORT" "$@" \
		>"$slog" 2>&1 </dev/null &
	BG_PID=$!
	if ! poll 10 listening "$SNS" "$PORT"; then
		kill "$BG_PID" 2>/dev/null
		wait "$BG_PID"
		BG_PID=
		fail "$label" "server not listening on $PORT: $(tail -n 4 "$slog")"
		return
	fi
	in_ns "$CNS" timeout -k 5 "$TMO" "${RUN[@]}" "$prog" -s "$addr" -p "$PORT" "$@" \
		>"$clog" 2>&1 </dev/null
	crc=$?
	wait "$BG_PID"
	src=$?
	BG_PID=
	if [ "$src" = 0 ] && [ "$crc" = 0 ] && grep -q '^custom' "$clog" &&
		grep -q '^custom' "$slog"; then
		ok "$label: $prog $* ($(grep '^custom' "$clog" | awk '{print $2" x "$3}'))"
	else
		fail "$label" "server rc=$src client rc=$crc"$'\n'"$(tail -n 4 "$slog" "$clog")"
	fi
}

pair v4-4k rstream 127.0.0.1 -S 4096 -C 200
pair v4-1m-blocking rstream 127.0.0.1 -S 1000000 -C 10 -T b
pair v4-64k-nonblocking rstream 127.0.0.1 -S 65536 -C 50 -T n
pair v4-verify rstream 127.0.0.1 -S 10000 -C 20 -T v
pair v6-4k rstream ::1 -S 4096 -C 100

# riostream: riomap/riowrite on framed rsockets (RDMA_IOMAPSIZE, rio_*.c);
# -T v checks every byte the peer placed, the exit status says it did
pair rio-64k-verify riostream 127.0.0.1 -S 65536 -C 100 -I 10 -T v
pair rio-100k-blocking riostream 127.0.0.1 -S 100000 -C 20 -I 5 -T b -T v
pair rio-lat-async riostream 127.0.0.1 -S 64 -C 1 -I 500 -T a
pair rio-4m-v6-verify riostream ::1 -S 4194304 -C 3 -I 2 -T v
# In the ASan pass, one run with leak detection (off for stock programs
# elsewhere, sanitize.sh): a framed rsocket's thread, table entry and
# mappings are all freed by rclose. (librdmacm-ext keeps the device lists
# it took its devices from, cm_devices.c: not a leak of this code.)
if [ "$SAN_ACTIVE" = 1 ]; then
	printf 'leak:ibv_get_device_list\n' >"$LOGS/lsan.supp"
	SAVED_RUN=("${RUN[@]}")
	RUN+=("ASAN_OPTIONS=${SAN_ASAN_OPTIONS/detect_leaks=0/detect_leaks=1}"
		"LSAN_OPTIONS=suppressions=$LOGS/lsan.supp")
	pair rio-no-leaks riostream 127.0.0.1 -S 65536 -C 20 -I 3 -T v
	RUN=("${SAVED_RUN[@]}")
fi

# start_server LABEL ARGS...: a riostream server in the background (BG_PID)
start_server() {
	local label=$1
	shift
	timeout -k 5 "$TMO" "${RUN[@]}" riostream -b 127.0.0.1 -p "$PORT" "$@" \
		>"$LOGS/$label-server.log" 2>&1 </dev/null &
	BG_PID=$!
	poll 10 listening "" "$PORT" && return 0
	fail "$label" "server not listening: $(tail -n 4 "$LOGS/$label-server.log")"
	stop_server
	return 1
}
stop_server() {
	kill "$BG_PID" 2>/dev/null
	wait "$BG_PID" 2>/dev/null
	BG_PID=
}
san_clean() { ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$@"; }

# A writer whose riowrite runs past the peer's mapping (the server maps
# 4 KiB, the client writes 8 KiB): EINVAL at the writer, no hang. The
# server spins on its memory, as riostream does, and is stopped.
if start_server rio-beyond -S 4096 -C 1 -I 1; then
	timeout -k 5 "$TMO" "${RUN[@]}" riostream -s 127.0.0.1 -p "$PORT" \
		-S 8192 -C 1 -I 1 >"$LOGS/rio-beyond-client.log" 2>&1 </dev/null
	crc=$?
	stop_server
	if [ "$crc" != 0 ] && [ "$crc" != 124 ] &&
		grep -q 'riowrite: Invalid argument' "$LOGS/rio-beyond-client.log" &&
		san_clean "$LOGS"/rio-beyond-*.log; then
		ok "riowrite beyond the peer's mapping: EINVAL at the writer (exit $crc)"
	else
		fail "riowrite beyond the mapping" "client rc=$crc"$'\n'"$(tail -n 4 "$LOGS"/rio-beyond-*.log)"
	fi
fi

# A hostile peer (rio_peer.py) against a riostream server: a peer that
# does not frame, a WRITE whose offset wraps, each while the server is in
# an r* call (it must fail with an error, not crash or hang); a WRITE past
# the end of the announced mapping while it spins on its memory (the
# connection is reset; the ASan pass catches a byte written past it).
peer() {
	local label=rio-peer-$1 want=$2 prc src=stopped
	start_server "$label" -S 4096 -C 1 -I 1 || return
	/usr/bin/python3 "$HERE/rio_peer.py" "$PORT" "$1" \
		>"$LOGS/$label-peer.log" 2>&1
	prc=$?
	if [ "$want" = exits ]; then
		wait "$BG_PID" # it ends by itself (timeout's 124 if it hangs)
		src=$?
		BG_PID=
	else
		stop_server
	fi
	if [ "$prc" = 0 ] && san_clean "$LOGS/$label-server.log" &&
		{ [ "$want" != exits ] || { [ "$src" != 0 ] && [ "$src" != 124 ] && [ "$src" != 137 ] &&
			grep -qE '^(riomap|rrecv): (Protocol error|Permission denied)' \
				"$LOGS/$label-server.log"; }; }; then
		ok "hostile peer, $1: reset; server: $(grep -hE '^(riomap|rrecv)' "$LOGS/$label-server.log" || echo "spinning on its memory, stopped")"
	else
		fail "hostile peer, $1" "peer rc=$prc server rc=$src"$'\n'"$(tail -n 4 "$LOGS/$label-peer.log" "$LOGS/$label-server.log")"
	fi
}
peer garbage exits
peer wrap exits
peer straddle spins

# The API of framed rsockets, call by call (rio_api.py, ctypes): errors,
# slots, offsets, rselect, a peer that does not frame
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "api: ${line#ok - }" ;;
	"FAIL - "*) fail "api: ${line#FAIL - }" "" ;;
	*) echo "    | $line" ;;
	esac
done < <(timeout -k 5 "$TMO" "${RUN[@]}" /usr/bin/python3 "$HERE/rio_api.py" 2>&1 </dev/null ||
	echo "FAIL - rio_api.py exited with status $?")

# Across two namespaces joined by a veth pair, tcpA and tcpB
if out=$(veth_pair "$NSA" "$IPA" "$NSB" "$IPB" 2>&1) &&
	out=$(ip netns exec "$NSA" "$RDMA_TCP" link add tcpA netdev vethA 2>&1) &&
	out=$(ip netns exec "$NSB" "$RDMA_TCP" link add tcpB netdev vethB 2>&1); then
	SNS=$NSA CNS=$NSB
	pair netns-rstream rstream "$IPA" -S 65536 -C 50
	pair netns-rio-verify riostream "$IPA" -S 65536 -C 50 -I 4 -T v
	pair netns-rio-lat-blocking riostream "$IPA" -S 64 -C 1 -I 300 -T b
	SNS='' CNS=''
else
	fail "namespaces $NSA and $NSB joined by veth" "$out"
fi
finish
