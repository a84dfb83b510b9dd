#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rdma_cm ports take no TCP port (librdmacm-ext/cm_port.c, cm_route.c):
# as on an RDMA NIC, an rdma_cm listener's port is a port of rdma_cm only,
# so UCX's tcp transport or a plain socket of the same program can bind the
# same number. On loopback, with stock programs under the preload:
#  1. rping -s -p P1 listens, yet TCP port P1 is free: another process
#     binds and listens on it, and rping clients still reach P1;
#  2. a second rping -s on P1 fails with EADDRINUSE as with the kernel's
#     rdma_cm (tests/pyverbs/test_cm.py: the port spaces stay apart); once
#     the first server is killed, P1 is free for a new one;
#  3. UCX io_demo with both its connection managers (rdmacm and tcp)
#     listening on P2 in one process, reached once by an rdmacm client and
#     once by a UCX_TLS=tcp client;
#  4. two rping servers on ports P1 and P3 (two processes sharing the
#     control port): each reached, also 32 connections at once to a
#     third process (ucmatose), also while that process is stopped and
#     its mailbox is full; and a server of another user (nobody),
#     which cannot share the control port (SO_REUSEPORT is per user), is
#     reached through the other processes' routing (its connections are
#     passed to it with SCM_RIGHTS), and takes the control port over when
#     they end;
#  5. `rdma-tcp link set tcp0 cmport Q` moves the control port to Q.
#
#   tests/integration/test_cm_ports.sh PATH/TO/rdma-tcp
#
# As root. Prints one line per check and "N passed, N failed".

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
need_tools rping ucmatose io_demo setpriv python3 ss pkill
san_setup "$RDMA_TCP" || exit 2
# a control port of the test's own, away from other rdma_cm users here
CMPORT=$(free_port) || exit 2
lo_device tcp0 cmport "$CMPORT"
eval "$("$RDMA_TCP" env)"
RUN=(env "LD_PRELOAD=$LD_PRELOAD" RDMACM_EXT_DEBUG=1)
unset LD_PRELOAD # the preload goes to the programs, not this shell's tools
if [ "$SAN_ACTIVE" = 1 ]; then
	RUN+=("ASAN_OPTIONS=$SAN_ASAN_OPTIONS" "UBSAN_OPTIONS=$SAN_UBSAN_OPTIONS")
fi
WORK=$(mktemp -d /tmp/test_cm_ports.XXXXXX) || exit 2
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$WORK"
	_lo_device_cleanup
}
trap cleanup EXIT

P1=$(free_port) && P2=$(free_port) && P3=$(free_port) && P4=$(free_port) ||
	exit 2

# server LOG CMD...: starts CMD in the background (pid in SPID)
server() {
	local log=$1
	shift
	timeout -k 5 60 "$@" >"$log" 2>&1 &
	SPID=$!
	PIDS+=("$SPID")
}

# ping_ok WHAT PORT: an rping client reaches the server of PORT
ping_ok() {
	local out
	if out=$(timeout -k 5 20 "${RUN[@]}" rping -c -a 127.0.0.1 -p "$2" -C 2 -v 2>&1) &&
		[[ $out == *"rdma-ping-1: "* ]]; then
		ok "$1"
	else
		fail "$1" "$out"
	fi
}

# 1. the rdma_cm port is no TCP port
server "$WORK/s1.log" "${RUN[@]}" rping -s -P -a 127.0.0.1 -p "$P1"
S1=$SPID
if ! poll 15 cm_listening "" "$P1"; then
	fail "rping -s -p $P1 listening" "$(cat "$WORK/s1.log")"
	finish
	exit
fi
ok "rping -s -p $P1 listening (rdma_cm port $P1)"
check_nomatch "no TCP listener on port $P1" . \
	"$(ss -Hltn "sport = :$P1" 2>&1)"
python3 - "$P1" >"$WORK/tcp.log" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket()
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(1)
print('listening', flush=True)
s.settimeout(30)
c, _ = s.accept()
c.sendall(b'tcp ok')
EOF
TPID=$!
PIDS+=("$TPID")
if poll 10 grep -q listening "$WORK/tcp.log"; then
	ok "another process binds and listens on TCP port $P1"
	ping_ok "rping -c -p $P1 reaches the rdma_cm listener beside it" "$P1"
	out=$(python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$P1),10); print(s.recv(16).decode())" 2>&1)
	check_match "TCP port $P1 is that process's" '^tcp ok$' "$out"
else
	fail "another process binds TCP port $P1" "$(cat "$WORK/tcp.log")"
fi
wait "$TPID" 2>/dev/null

# 2. one rdma_cm listener per port and port space
out=$(timeout -k 5 20 "${RUN[@]}" rping -s -a 127.0.0.1 -p "$P1" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] && [[ $out == *"Address already in use"* ]]; then
	ok "a second rping -s -p $P1: EADDRINUSE (exit $rc)"
else
	fail "a second rping -s -p $P1: EADDRINUSE" "exit $rc: $out"
fi
kill "$S1" 2>/dev/null
wait "$S1" 2>/dev/null
server "$WORK/s1b.log" "${RUN[@]}" rping -s -P -a 127.0.0.1 -p "$P1"
S1=$SPID
check "the server killed, port $P1 is free for a new one" \
	poll 10 cm_listening "" "$P1"

# 3. UCX: both connection managers of one process on one port
iodemo_client() {
	local what=$1 out rc
	shift
	out=$(timeout -k 5 30 env "$@" "${RUN[@]}" io_demo 127.0.0.1 -q \
		-d 1024:16384 -p "$P2" -i 100 -o read,write -c 1 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$what" "exit $rc:"$'\n'"$out"$'\n'"server:"$'\n'"$(cat "$WORK/io.log")"
		return
	fi
	check_match "$what" "total min:100 max:100 total:100 " "$out"
}
server "$WORK/io.log" env UCX_SOCKADDR_TLS_PRIORITY=rdmacm,tcp \
	UCX_TLS=rc_verbs,ud_verbs,tcp "${RUN[@]}" io_demo -q -d 1024:16384 -p "$P2"
IO=$SPID
if poll 15 cm_listening "" "$P2" && poll 5 listening "" "$P2" &&
	[ -n "$(ss -Hltn "sport = :$P2")" ]; then
	ok "io_demo listens on rdma_cm port $P2 and TCP port $P2 (one process)"
	iodemo_client "io_demo client by rdmacm to port $P2" \
		UCX_SOCKADDR_TLS_PRIORITY=rdmacm UCX_TLS=rc_verbs,ud_verbs
	iodemo_client "io_demo client by UCX_TLS=tcp to port $P2" \
		UCX_SOCKADDR_TLS_PRIORITY=tcp UCX_TLS=tcp
else
	fail "io_demo listening on port $P2 (rdmacm and tcp)" "$(cat "$WORK/io.log")"
fi
kill "$IO" 2>/dev/null

# 4. routing between processes, and users
server "$WORK/s3.log" "${RUN[@]}" rping -s -P -a 127.0.0.1 -p "$P3"
S3=$SPID
if poll 15 cm_listening "" "$P3"; then
	ping_ok "two servers share the control port: rping -c -p $P1" "$P1"
	ping_ok "two servers share the control port: rping -c -p $P3" "$P3"
else
	fail "rping -s -p $P3 listening" "$(cat "$WORK/s3.log")"
fi
# a burst: more connections at once than a mailbox queues (10 by default,
# net.unix.max_dgram_qlen), most of them accepted by the other processes
P6=$(free_port) || exit 2
server "$WORK/uc.log" "${RUN[@]}" ucmatose -b 127.0.0.1 -p "$P6" -c 32 -C 1
UC=$SPID
if poll 15 cm_listening "" "$P6"; then
	out=$(timeout -k 5 40 "${RUN[@]}" ucmatose -s 127.0.0.1 -p "$P6" -c 32 \
		-C 1 2>&1)
	rc=$?
	wait "$UC"
	src=$?
	if [ "$rc" -eq 0 ] && [ "$src" -eq 0 ]; then
		check_match "32 connections at once to a third process (ucmatose)" \
			"return status 0" "$out"
	else
		fail "32 connections at once to a third process (ucmatose)" \
			"client exit $rc, server $src: $(grep -v librdmacm-ext <<<"$out" | tail -5)"
	fi
else
	fail "ucmatose -b -p $P6 listening" "$(tail -5 "$WORK/uc.log")"
fi
# its listener stopped, the mailbox fills: the other processes hold the
# connections and route them again once it drains
P7=$(free_port) || exit 2
server "$WORK/uc2.log" "${RUN[@]}" ucmatose -b 127.0.0.1 -p "$P7" -c 40 -C 1
UC=$SPID
if poll 15 cm_listening "" "$P7"; then
	pkill -STOP -P "$UC" ucmatose
	timeout -k 5 40 "${RUN[@]}" ucmatose -s 127.0.0.1 -p "$P7" -c 40 -C 1 \
		>"$WORK/uc2c.log" 2>&1 &
	CL=$!
	check "40 connections to a stopped listener: its mailbox full" \
		poll 15 grep -q "port $P7: its mailbox is full" "$WORK/s1b.log" \
		"$WORK/s3.log"
	pkill -CONT -P "$UC" ucmatose
	wait "$CL"
	rc=$?
	wait "$UC"
	src=$?
	if [ "$rc" -eq 0 ] && [ "$src" -eq 0 ]; then
		ok "listener resumed: all 40 connections served"
	else
		fail "listener resumed: all 40 connections served" \
			"client exit $rc, server $src: $(grep -v librdmacm-ext "$WORK/uc2c.log" | tail -5)"
	fi
else
	fail "ucmatose -b -p $P7 listening" "$(tail -5 "$WORK/uc2.log")"
fi
# nobody reads the registry and the key (a key file of its group)
chmod 755 "$RDMA_TCP_ROOT"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/key"
chgrp nogroup "$WORK/key" && chmod 640 "$WORK/key" && chmod 755 "$WORK"
check "psp auth with a key file nobody's group reads" \
	"$RDMA_TCP" link set tcp0 psp auth key "$WORK/key"
server "$WORK/s4.log" setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"${RUN[@]}" rping -s -P -a 127.0.0.1 -p "$P4"
S4=$SPID
if poll 15 cm_listening "" "$P4"; then
	check "nobody's server cannot share the control port" \
		poll 10 grep -q "control port $CMPORT: in use by another user" \
		"$WORK/s4.log"
	ping_ok "nobody's server reached through root's routing" "$P4"
	kill "$S1" "$S3" 2>/dev/null
	wait "$S1" "$S3" 2>/dev/null
	check "root's servers gone: nobody's takes the control port" \
		poll 10 grep -q "control listener on port $CMPORT" "$WORK/s4.log"
	ping_ok "nobody's server reached on its own" "$P4"
else
	fail "nobody's rping -s -p $P4 listening" "$(cat "$WORK/s4.log")"
fi
# 5. the control port is the registry's (link set ... cmport)
kill "$S4" 2>/dev/null
wait "$S4" 2>/dev/null
Q=$(free_port) && P5=$(free_port) || exit 2
check "link set tcp0 cmport $Q" "$RDMA_TCP" link set tcp0 cmport "$Q"
server "$WORK/s5.log" "${RUN[@]}" rping -s -P -a 127.0.0.1 -p "$P5"
if poll 15 cm_listening "" "$P5" && poll 5 listening "" "$Q"; then
	ok "a new server's control listener is on TCP port $Q"
	ping_ok "rping -c -p $P5 by control port $Q" "$P5"
else
	fail "a server on control port $Q" "$(ss -Hltn; cat "$WORK/s5.log")"
fi
for f in "$WORK"/*.log; do
	if san_report_in "$(cat "$f")"; then
		fail "no sanitizer report in ${f##*/}" "$(cat "$f")"
	fi
done
finish
