#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rdma_cm's authenticated control connection (librdmacm-ext/cm_sec.c) with
# stock programs (rping, ucmatose), between two hosts' worth of
# configuration: two private registries, A (servers) and B (clients), each
# with tcp0 on lo and its own `psp` settings, so each process uses the
# credentials of its own registry.
#
#   tests/integration/test_cm_auth.sh PATH/TO/rdma-tcp
#
# As root. Checked:
#  - the same key file on both sides: rping and ucmatose connect;
#  - different keys (the two registries' own host keys, then two key
#    files), auth against off and off against auth: the client's
#    rdma_connect ends in REJECTED with status -129 (-EKEYREJECTED) well
#    within the handshake's deadline (CM_HS_TIMEOUT_MS, 10 s), and the
#    server, which serves exactly one connection, never saw it: it serves
#    the matching client that follows and exits 0;
#  - bytes that are not TLS, sent to the server's CM port first: the same.
# With certificates (tests/lib/mkcerts.sh, when there): leaves of one CA
# connect; a client whose certificate another CA signed is rejected.
# Only QP-less checks need one registry; data flows in the rping cases.
#
# Prints one line per check and "N passed, N failed"; exit 1 on any
# failure, 2 on a usage error. Traffic stays on lo.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
need_tools ss timeout rping ucmatose od

TMO=30     # a whole case at most
REJECT_S=8 # a rejection comes before the handshake's deadline (10 s)
WORK=$(mktemp -d /tmp/rdma-tcp-cmauth.XXXXXX)
RA=$WORK/a
RB=$WORK/b
LOGS=$WORK/logs
mkdir -p "$RA" "$RB" "$LOGS"
PORT=19900
SERVER_PID=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	RDMA_TCP_ROOT=$RA "$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	RDMA_TCP_ROOT=$RB "$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A key file: 64 hex digits, readable by its owner only.
keyfile() {
	(umask 077 && od -An -vtx1 -N32 /dev/urandom | tr -d ' \n' >"$1")
}

# ROOT ARGS...: rdma-tcp on registry ROOT
rt() {
	local root=$1
	shift
	RDMA_TCP_ROOT=$root "$RDMA_TCP" "$@"
}

if out=$(rt "$RA" env 2>&1); then
	eval "$out"
else
	fail "rdma-tcp env" "$out"
	finish
	exit 1
fi
# the preload goes to the stock programs only (after the sanitizer
# runtimes in an ASan build), not to this script's own tools
PRE=$LD_PRELOAD
unset LD_PRELOAD SYSFS_PATH RDMA_TCP_ROOT
if [ "$SAN_ACTIVE" = 1 ]; then
	LD_PRELOAD=$PRE san_refresh
	RUN=("${STOCK[@]}")
else
	RUN=(env "LD_PRELOAD=$PRE")
fi

# ROOT CMD...: a stock program on registry ROOT's devices
on() {
	local root=$1
	shift
	timeout -k 5 "$TMO" "${RUN[@]}" RDMA_TCP_ROOT="$root" \
		SYSFS_PATH="$root/sys" "$@"
}

next_port() {
	while port_used "" "$PORT"; do
		PORT=$((PORT + 1))
	done
	PICKED=$PORT
	PORT=$((PORT + 1))
}

# start_server LOG CMD... (with %PORT%): in registry A, until it listens
start_server() {
	local log=$1
	shift
	next_port
	on "$RA" "${@//%PORT%/$PICKED}" >"$log" 2>&1 </dev/null &
	SERVER_PID=$!
	poll 15 listening "" "$PICKED" && return 0
	kill "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=
	return 1
}

# stop_server: its exit code (a server left waiting is killed: 124+)
stop_server() {
	for _ in $(seq 100); do
		alive "$SERVER_PID" || break
		sleep 0.1
	done
	alive "$SERVER_PID" && kill "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID"
	local rc=$?
	SERVER_PID=
	return $rc
}

elapsed() { awk -v n=$(($(date +%s%N) - $1)) 'BEGIN { printf "%.1f", n / 1e9 }'; }

# rejected WHAT ROOT CMD...: the client on registry ROOT fails with
# REJECTED, status -129, within REJECT_S seconds
rejected() {
	local what=$1 root=$2 t0 rc secs cout
	shift 2
	t0=$(date +%s%N)
	cout=$(on "$root" "${@//%PORT%/$PICKED}" 2>&1 </dev/null)
	rc=$?
	secs=$(elapsed "$t0")
	if [ $rc -ne 0 ] && [ $rc -lt 124 ] || [ $rc -eq 255 ] &&
		[[ $cout =~ RDMA_CM_EVENT_REJECTED,\ error\ -129 ]] &&
		awk -v s="$secs" -v m="$REJECT_S" 'BEGIN { exit !(s < m) }' &&
		! san_report_in "$cout"; then
		ok "$what: REJECTED -129 in $secs s"
	else
		fail "$what: REJECTED -129 within $REJECT_S s" \
			"exit $rc in $secs s: $(tail -n 5 <<<"$cout")"
	fi
}

# served WHAT ROOT LOG CMD... -- RE: the client on ROOT succeeds (its
# output matches RE), then the server exits 0 (log LOG)
served() {
	local what=$1 root=$2 slog=$3 cmd=() re rc src cout
	shift 3
	while [ "$1" != -- ]; do
		cmd+=("$1")
		shift
	done
	re=$2
	cout=$(on "$root" "${cmd[@]//%PORT%/$PICKED}" 2>&1 </dev/null)
	rc=$?
	stop_server
	src=$?
	if [ $rc -eq 0 ] && [ $src -eq 0 ] && [[ $cout =~ $re ]] &&
		! san_report_in "$cout" && ! san_report_in "$(cat "$slog")"; then
		ok "$what"
	else
		fail "$what" "client exit $rc, server exit $src
--- client: $(tail -n 5 <<<"$cout")
--- server: $(tail -n 5 "$slog")"
	fi
}

RPING_S=(rping -s -a 127.0.0.1 -p %PORT%)
RPING_C=(rping -c -a 127.0.0.1 -p %PORT% -C 10 -v -V)
RPING_RE='rdma-ping-9:'

# mismatch LABEL ROOT_OF_BAD_CLIENT: a rejected client, then a good one
# (registry A's own) is served by the same one-connection server
mismatch() {
	local label=$1 bad=$2 slog=$LOGS/$1.server.log
	if ! start_server "$slog" "${RPING_S[@]}"; then
		fail "$label: server listening" "$(tail -n 5 "$slog")"
		return
	fi
	rejected "$label: rping -c" "$bad" "${RPING_C[@]}"
	served "$label: the server then serves a matching client" "$RA" \
		"$slog" "${RPING_C[@]}" -- "$RPING_RE"
}

echo "# registries: A $RA, B $RB (tcp0 on lo in each)"
check "A: link add tcp0 (default: auth, A's host key)" \
	rt "$RA" link add tcp0 netdev lo
check "B: link add tcp0 (default: auth, B's host key)" \
	rt "$RB" link add tcp0 netdev lo

# two hosts that share nothing: their host keys differ
mismatch "host keys differ" "$RB"

keyfile "$WORK/k1"
keyfile "$WORK/k2"
check "A: psp auth key k1" rt "$RA" link set tcp0 psp auth key "$WORK/k1"
check "B: psp auth key k1" rt "$RB" link set tcp0 psp auth key "$WORK/k1"
slog=$LOGS/same-key.server.log
if start_server "$slog" "${RPING_S[@]}"; then
	served "same key: rping" "$RB" "$slog" "${RPING_C[@]}" -- "$RPING_RE"
else
	fail "same key: server listening" "$(tail -n 5 "$slog")"
fi
slog=$LOGS/same-key-ucmatose.server.log
if start_server "$slog" ucmatose -b 127.0.0.1 -p %PORT% -c 4; then
	served "same key: ucmatose, 4 connections" "$RB" "$slog" \
		ucmatose -s 127.0.0.1 -p %PORT% -c 4 -- "return status 0"
else
	fail "same key: ucmatose server listening" "$(tail -n 5 "$slog")"
fi

# garbage first, then the real client: the server never saw the garbage.
# rdma_cm ports are virtual: junk goes to the control port (the default,
# CMPORT), bare or after a routing prefix for the server's port
CMPORT=4791
route_prefix() { # "RTCR", version 1, 0, port space TCP, port, port 0
	printf 'RTCR\001\000\001\006'
	# shellcheck disable=SC2059
	printf "\\$(printf %03o $(($1 >> 8)))\\$(printf %03o $(($1 & 255)))"
	printf '\000\000'
}
slog=$LOGS/garbage.server.log
if start_server "$slog" "${RPING_S[@]}"; then
	# not a routing prefix: closed by the router
	(exec 3<>"/dev/tcp/127.0.0.1/$CMPORT" &&
		printf 'GET / HTTP/1.0\r\n\r\n' >&3 &&
		timeout 5 cat <&3 >/dev/null) 2>/dev/null
	for junk in 'GET / HTTP/1.0\r\n\r\n' 'RTCM\001\001\000\000' '\026\003\001'; do
		# shellcheck disable=SC2059
		(exec 3<>"/dev/tcp/127.0.0.1/$CMPORT" &&
			route_prefix "$PICKED" >&3 && printf "$junk" >&3 &&
			timeout 5 cat <&3 >/dev/null) 2>/dev/null
	done
	served "bytes that are not TLS are dropped, the server serves on" \
		"$RB" "$slog" "${RPING_C[@]}" -- "$RPING_RE"
else
	fail "garbage: server listening" "$(tail -n 5 "$slog")"
fi

check "B: psp auth key k2" rt "$RB" link set tcp0 psp auth key "$WORK/k2"
mismatch "different key files" "$RB"

check "B: psp off" rt "$RB" link set tcp0 psp off
mismatch "client off, server auth" "$RB"

# the other way round: the server in A is off, the client in B auth
check "A: psp off" rt "$RA" link set tcp0 psp off
check "B: psp auth key k1" rt "$RB" link set tcp0 psp auth key "$WORK/k1"
slog=$LOGS/server-off.server.log
if start_server "$slog" "${RPING_S[@]}"; then
	rejected "client auth, server off: rping -c" "$RB" "${RPING_C[@]}"
	check "B: psp off" rt "$RB" link set tcp0 psp off
	served "both off: the server then serves a plain client" "$RB" \
		"$slog" "${RPING_C[@]}" -- "$RPING_RE"
else
	fail "server off: listening" "$(tail -n 5 "$slog")"
fi

MKCERTS=$HERE/../lib/mkcerts.sh
if [ -f "$MKCERTS" ] && command -v openssl >/dev/null; then
	C=$WORK/certs
	if sh "$MKCERTS" "$C" >/dev/null 2>&1 && chmod 600 "$C"/*.key; then
		check "A: psp auth cert a (ca)" rt "$RA" link set tcp0 psp auth \
			cert "$C/a.pem" certkey "$C/a.key" ca "$C/ca.pem"
		check "B: psp auth cert b (ca)" rt "$RB" link set tcp0 psp auth \
			cert "$C/b.pem" certkey "$C/b.key" ca "$C/ca.pem"
		slog=$LOGS/certs.server.log
		if start_server "$slog" "${RPING_S[@]}"; then
			served "certificates of one CA: rping" "$RB" "$slog" \
				"${RPING_C[@]}" -- "$RPING_RE"
		else
			fail "certs: server listening" "$(tail -n 5 "$slog")"
		fi
		check "B: psp auth cert other (signed by ca2)" rt "$RB" link set \
			tcp0 psp auth cert "$C/other.pem" certkey "$C/other.key" \
			ca "$C/ca.pem"
		mismatch "client certificate of another CA" "$RB"
		check "B: psp auth key k1 (PSK against certificates)" \
			rt "$RB" link set tcp0 psp auth key "$WORK/k1"
		mismatch "PSK client, certificate server" "$RB"
	else
		fail "mkcerts.sh"
	fi
else
	echo "# no tests/lib/mkcerts.sh or openssl: certificate cases not run"
fi

finish
