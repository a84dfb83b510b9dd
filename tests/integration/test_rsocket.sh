#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rsockets under the preload with stock rdmacm-utils programs: rstream
# over 127.0.0.1 and ::1 on a tcp device (librdmacm-ext/rsock.c carries
# the rsocket API on kernel TCP sockets), and riostream's refusal
# (riomap is not offered: a clean error, not a hang).
#
#   tests/integration/test_rsocket.sh PATH/TO/rdma-tcp
#
# A private registry with tcp0 on lo; a free port found at start. Each
# process runs under `timeout` (RSOCKET_TIMEOUT, default 20 s); the client
# starts once the server listens. Prints one line per check and
# "N passed, N failed"; exit 1 on any failure, 2 on a usage error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
need_tools ss timeout rstream riostream

TMO=${RSOCKET_TIMEOUT:-20}
LOGS=$(mktemp -d /tmp/rdma-tcp-rsocket.XXXXXX)
BG_PID=
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
	rm -rf "$LOGS"
	(exit "$rc") # the status lo_device's cleanup passes on
	_lo_device_cleanup
}
trap cleanup EXIT

PORT=7480
while port_used "" "$PORT" && [ "$PORT" -lt 7580 ]; do PORT=$((PORT + 1)); done

# pair LABEL PROG ADDR [ARGS...]: server bound to ADDR, client to it;
# both must exit 0 and report their transfers
pair() {
	local label=$1 prog=$2 addr=$3 slog clog src crc
	shift 3
	slog=$LOGS/$label-server.log
	clog=$LOGS/$label-client.log
	timeout -k 5 "$TMO" "${RUN[@]}" "$prog" -b "$addr" -p "$PORT" "$@" \
		>"$slog" 2>&1 </dev/null &
	BG_PID=$!
	if ! poll 10 listening "" "$PORT"; then
		kill "$BG_PID" 2>/dev/null
		wait "$BG_PID"
		BG_PID=
		fail "$label" "server not listening on $PORT: $(tail -n 4 "$slog")"
		return
	fi
	timeout -k 5 "$TMO" "${RUN[@]}" "$prog" -s "$addr" -p "$PORT" "$@" \
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

# riostream: riomap is refused (ENOSYS), both sides exit with an error
timeout -k 5 "$TMO" "${RUN[@]}" riostream -b 127.0.0.1 -p "$PORT" -S 4096 -C 10 \
	>"$LOGS/rio-server.log" 2>&1 </dev/null &
BG_PID=$!
if poll 10 listening "" "$PORT"; then
	timeout -k 5 "$TMO" "${RUN[@]}" riostream -s 127.0.0.1 -p "$PORT" -S 4096 -C 10 \
		>"$LOGS/rio-client.log" 2>&1 </dev/null
	crc=$?
	wait "$BG_PID"
	src=$?
	BG_PID=
	if [ "$crc" != 0 ] && [ "$crc" != 124 ] && [ "$src" != 124 ] &&
		grep -qi 'riomap' "$LOGS"/rio-*.log; then
		ok "riostream: riomap refused, exit $crc/$src (no hang)"
	else
		fail "riostream refusal" "server rc=$src client rc=$crc"$'\n'"$(tail -n 4 "$LOGS"/rio-*.log)"
	fi
else
	fail "riostream" "server not listening: $(tail -n 4 "$LOGS/rio-server.log")"
fi
finish
