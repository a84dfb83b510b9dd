#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The soak (tests/soak/soak.c): two processes, SOAK_QPS RC QPs (default 64)
# of mixed, byte-checked traffic in both directions (SEND/IMM,
# WRITE/IMM, READ, atomics, multi-SGE, inline, SRQ and own receive
# queues, selective signaling) for SOAK_SECONDS (default 10, also with a
# sanitizer build) each:
#  1. on loopback: tcp0 on lo, both processes here;
#  2. across two network namespaces made for the test and joined by a veth
#     pair (10.83.0.1/24 in A with tcpA, 10.83.0.2/24 in B with tcpB), the
#     server in A, the client in B.
# A run passes when both processes exit 0 and print "result=ok" (no error
# completion, no corrupt byte, no lost or duplicated completion, every
# canary intact) and no log has a sanitizer report. First, a short run
# with -X (each side damages a canary the checks read) must fail on both
# sides: the checker can fail.
#
#   tests/integration/test_soak.sh PATH/TO/rdma-tcp
#
# The namespace run splits the QPs among SOAK_THREADS threads a side
# (default 2: posting and polling from several threads at once); the
# loopback run uses one.
#
# As root. SOAK_MAX (default 1048576) is the largest message; SOAK_SEED
# (default: the date) picks the traffic; SOAK_KEEP_LOGS=1 keeps the logs;
# SOAK_PHASES (default "lo many netns"; the loopback run always happens)
# picks the runs: "many" is a 3 s run with SOAK_MANY_QPS (default 300) QPs
# brought up at once, "netns" the namespace run.
# Prints one line per check and "N passed, N failed".

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
SOAK=$(built tests/soak/soak) || exit 2

SECS=${SOAK_SECONDS:-10}
PHASES=${SOAK_PHASES:-lo many netns}
QPS=${SOAK_QPS:-64}
MAX=${SOAK_MAX:-1048576}
THREADS=${SOAK_THREADS:-2}
SEED=${SOAK_SEED:-$(date +%s)}
# the watchdog inside reports first; this only bounds a process that hangs
TMO=$((SECS + 240))
NSA=rtcp-soakA-$$
NSB=rtcp-soakB-$$
IPA=10.83.0.1
IPB=10.83.0.2
WORK=$(mktemp -d /tmp/rdma-tcp-soak.XXXXXX)
RDMA_TCP_ROOT=$WORK/root
mkdir -p "$RDMA_TCP_ROOT"
export RDMA_TCP_ROOT
SPID=

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$SPID" ]; then
		kill "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
	fi
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	ns_del "$NSA" tcpA
	ns_del "$NSB" tcpB
	if [ -n "${SOAK_KEEP_LOGS:-}" ]; then
		echo "# logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pair NAME SERVER_NS SERVER_DEV BIND CLIENT_NS CLIENT_DEV SOAK_ARGS...
# Runs a server and a client; sets S_RC, C_RC and the logs $WORK/NAME.{s,c}.
pair() {
	local name=$1 sns=$2 sdev=$3 bind=$4 cns=$5 cdev=$6 port
	shift 6
	S_LOG=$WORK/$name.s
	C_LOG=$WORK/$name.c
	in_ns "$sns" timeout "$TMO" "$SOAK" -s "$bind" -p 0 -d "$sdev" \
		>"$S_LOG" 2>&1 &
	SPID=$!
	if ! poll 30 grep -qs '^listening ' "$S_LOG"; then
		S_RC=2 C_RC=2
		return
	fi
	port=$(awk '/^listening /{print $2; exit}' "$S_LOG")
	in_ns "$cns" timeout "$TMO" "$SOAK" -c "$bind" -p "$port" -d "$cdev" \
		"$@" >"$C_LOG" 2>&1
	C_RC=$?
	wait "$SPID"
	S_RC=$?
	SPID=
}

# NS DEV IP: the port is active and GID 0 is the veth's IPv4 address
dev_ready() {
	local out
	out=$(ip netns exec "$1" "${STOCK[@]}" ibv_devinfo -v -d "$2" 2>&1) &&
		[[ $out =~ PORT_ACTIVE ]] &&
		[[ $out =~ GID\[[[:space:]]*0\]:[[:space:]]+::ffff:${3//./\\.}, ]]
}

summary_of() { grep -h '^soak ' "$1" || tail -n 5 "$1"; }

# judge WHAT: both processes exit 0 with result=ok and no sanitizer report
judge() {
	local what=$1 s c
	s=$(cat "$S_LOG")
	c=$(cat "$C_LOG")
	if [ "$S_RC" = 0 ] && [ "$C_RC" = 0 ] &&
		[[ $s == *"result=ok"* ]] && [[ $c == *"result=ok"* ]] &&
		! san_report_in "$s$c"; then
		ok "$what"
		summary_of "$S_LOG" | sed 's/^/    /'
		summary_of "$C_LOG" | sed 's/^/    /'
	else
		fail "$what" "server exit $S_RC, client exit $C_RC"$'\n'"$(
			grep -v '^listening' "$S_LOG" | head -n 60
		)"$'\n'"$(head -n 60 "$C_LOG")"
	fi
}

ARGS=(-q "$QPS" -t "$SECS" -M "$MAX" -S "$SEED")
echo "# soak: $QPS QPs, $SECS s, messages up to $MAX B, seed $SEED"

if ! out=$("$RDMA_TCP" link add tcp0 netdev lo 2>&1); then
	fail "tcp0 on lo" "$out"
	finish
	exit
fi
eval "$("$RDMA_TCP" env)"
unset LD_PRELOAD # no rdma_cm here; the soak is built like the provider
san_refresh      # (ibv_devinfo, a stock program, gets the runtimes)

# the checker can fail: a damaged canary on each side
pair selftest "" tcp0 127.0.0.1 "" tcp0 -q 4 -t 4 -M 65536 -S "$SEED" -X
if [ "$S_RC" = 1 ] && [ "$C_RC" = 1 ] &&
	grep -q 'VIOLATION' "$S_LOG" && grep -q 'VIOLATION' "$C_LOG" &&
	grep -q 'result=FAIL' "$S_LOG" && grep -q 'result=FAIL' "$C_LOG"; then
	ok "-X: a flipped canary byte fails both sides"
else
	fail "-X: a flipped canary byte fails both sides" \
		"server exit $S_RC, client exit $C_RC"$'\n'"$(tail -n 5 "$S_LOG" "$C_LOG")"
fi

pair lo "" tcp0 127.0.0.1 "" tcp0 "${ARGS[@]}"
judge "loopback: $QPS QPs for $SECS s"

# Many QPs brought up at once, traffic without a barrier: hundreds of
# connections reach one listener faster than their hellos (a cap on
# pending connections once closed those past the 64th)
if [[ " $PHASES " == *" many "* ]]; then
	pair many "" tcp0 127.0.0.1 "" tcp0 -q "${SOAK_MANY_QPS:-300}" -t 3 \
		-M 256 -S "$SEED" -B
	judge "loopback: ${SOAK_MANY_QPS:-300} QPs brought up at once, 3 s"
fi

if [[ " $PHASES " != *" netns "* ]]; then
	finish
	exit
fi
if veth_pair "$NSA" "$IPA" "$NSB" "$IPB" &&
	out=$(ip netns exec "$NSA" "$RDMA_TCP" link add tcpA netdev vethA 2>&1) &&
	out=$(ip netns exec "$NSB" "$RDMA_TCP" link add tcpB netdev vethB 2>&1) &&
	poll 10 dev_ready "$NSA" tcpA "$IPA" && poll 10 dev_ready "$NSB" tcpB "$IPB"; then
	ok "namespaces joined by veth, tcpA and tcpB"
	pair netns "$NSA" tcpA "$IPA" "$NSB" tcpB "${ARGS[@]}" -T "$THREADS"
	judge "veth between namespaces: $QPS QPs in $THREADS threads for $SECS s"
else
	fail "namespaces joined by veth, tcpA and tcpB" "${out:-}"
fi

finish
