#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rdma_cm and completion channels with stock programs, unmodified:
# rping, rdma_server/rdma_client, ucmatose (rdmacm-utils), ibv_rc_pingpong -e
# (ibverbs-utils), perftest with -R (rdma_cm) and -e (completion events),
# all through librdmacm-ext (preloaded by `rdma-tcp env`).
#
#   tests/integration/test_rdmacm.sh PATH/TO/rdma-tcp
#
# As root. A private registry (RDMA_TCP_ROOT=$(mktemp -d)); every case runs
#  1. on loopback: tcp0 on lo, both ends here, the client to 127.0.0.1
#     (a few cases also over ::1);
#  2. across two network namespaces made for the test and joined by a veth
#     pair (10.78.0.1/24 in A with tcpA, 10.78.0.2/24 in B with tcpB,
#     each device registered from its namespace); servers in A, clients in
#     B.
# Each process runs under `timeout` (RDMACM_TIMEOUT, default 30 s); the
# client starts once the server listens (its rdma_cm port, or a TCP port
# for the out-of-band exchanges; testlib's listening); every pair gets its own
# port. A case passes when both exit codes and both outputs are as
# expected and no log has a sanitizer report. Also checked: a client
# connecting to a port nobody listens on exits non-zero within a few
# seconds, the preload is inert in a process that never uses RDMA and
# in a namespace without tcp devices, and a thread waiting in
# rdma_get_cm_event stays blocked while another destroys its channel
# (tests/tools/cm_destroy_race.c: rping's exit, 4096 times), and an
# rdma_connect whose SYN is dropped waits for its retransmission
# (tests/tools/cm_connect_held.c).
#
# Prints one line per check and "N passed, N failed"; exit 1 on any failure,
# 2 on a usage error. RDMACM_ONLY=REGEX runs only the matching cases,
# RDMACM_PHASES (default "lo netns") picks the phases, RDMACM_KEEP_LOGS=1
# keeps the logs of a failed run. Traffic stays on lo and in the test's
# namespaces.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2

RACE=$(built tests/tools/cm_destroy_race) || exit 2
HELD=$(built tests/tools/cm_connect_held) || exit 2
need_tools ip ss timeout rping rdma_server rdma_client ucmatose \
	ibv_rc_pingpong ibv_devinfo ib_write_bw ib_read_bw ib_send_bw \
	ib_send_lat ib_read_lat

TMO=${RDMACM_TIMEOUT:-30}
PHASES=${RDMACM_PHASES:-lo netns}
ONLY=${RDMACM_ONLY:-}
NSA=rtcp-cmA-$$
NSB=rtcp-cmB-$$
NSC=rtcp-cmC-$$
IPA=10.78.0.1
IPB=10.78.0.2
WORK=$(mktemp -d /tmp/rdma-tcp-rdmacm.XXXXXX)
RDMA_TCP_ROOT=$WORK/root
LOGS=$WORK/logs
mkdir -p "$RDMA_TCP_ROOT" "$LOGS"
export RDMA_TCP_ROOT
PORT=19700
CASE_NO=0
SERVER_PID=
T0=$(date +%s)

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	ns_del "$NSA" tcpA
	ns_del "$NSB" tcpB
	ns_exists "$NSC" && ip netns del "$NSC" 2>/dev/null
	if [ "$rc" -ne 0 ] && [ -n "${RDMACM_KEEP_LOGS:-}" ]; then
		echo "# logs kept in $LOGS"
		rm -rf "$RDMA_TCP_ROOT"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# a port free in both namespaces, in PICKED
pick_port() {
	while port_used "$1" "$PORT" || port_used "$2" "$PORT"; do
		PORT=$((PORT + 1))
	done
	PICKED=$PORT
	PORT=$((PORT + 1))
}

status_word() {
	case $1 in
	0) echo "exit 0" ;;
	124) echo "TIMED OUT after ${TMO}s" ;;
	*) echo "exit $1" ;;
	esac
}

# pair LABEL SNS CNS SRV_RE CLI_RE -- SERVER CMD... -- CLIENT CMD...
#   %PORT% in either command is replaced by a fresh port. The server runs
#   in SNS, the client in CNS once the server listens; both must exit 0,
#   the server log must match the ERE SRV_RE ("-": not checked) and the
#   client log CLI_RE.
pair() {
	local label=$1 sns=$2 cns=$3 sre=$4 cre=$5
	shift 5
	[ "$1" = -- ] && shift
	local scmd=() ccmd=() in_cli=0 a
	for a in "$@"; do
		if [ "$a" = -- ]; then
			in_cli=1
			continue
		fi
		if [ $in_cli = 0 ]; then scmd+=("$a"); else ccmd+=("$a"); fi
	done
	local what="$label: ${scmd[0]} ${scmd[*]:1} | ${ccmd[*]:1}"
	if [ -n "$ONLY" ] && ! [[ $what =~ $ONLY ]]; then
		return 0
	fi
	pick_port "$sns" "$cns"
	local port=$PICKED
	scmd=("${scmd[@]//%PORT%/$port}")
	ccmd=("${ccmd[@]//%PORT%/$port}")
	what="$label: ${scmd[*]} | ${ccmd[*]}"
	CASE_NO=$((CASE_NO + 1))
	local slog clog t0 src crc why=""
	slog=$LOGS/$(printf '%03d' $CASE_NO)-${scmd[0]}-server.log
	clog=${slog%-server.log}-client.log
	t0=$(date +%s%N)
	in_ns "$sns" timeout -k 5 "$TMO" "${RUN[@]}" "${scmd[@]}" \
		>"$slog" 2>&1 </dev/null &
	SERVER_PID=$!
	local end=$(($(date +%s) + 15))
	while ! listening "$sns" "$port"; do
		if ! alive "$SERVER_PID"; then
			why="server exited before listening on $port"
			break
		fi
		if [ "$(date +%s)" -ge $end ]; then
			why="server not listening on $port after 15 s"
			break
		fi
		sleep 0.05
	done
	if [ -z "$why" ]; then
		in_ns "$cns" timeout -k 5 "$TMO" "${RUN[@]}" "${ccmd[@]}" \
			>"$clog" 2>&1 </dev/null
		crc=$?
	else
		crc=-1
		: >"$clog"
	fi
	if [ "$crc" -ne 0 ]; then
		# a failed client may leave the server waiting
		for _ in $(seq 50); do
			alive "$SERVER_PID" || break
			sleep 0.1
		done
		alive "$SERVER_PID" && kill "$SERVER_PID" 2>/dev/null
	fi
	wait "$SERVER_PID"
	src=$?
	SERVER_PID=
	local secs
	secs=$(awk -v n=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", n / 1e9 }')
	local problems=()
	[ -z "$why" ] || problems+=("$why")
	[ "$src" -eq 0 ] || problems+=("server: $(status_word "$src")")
	[ "$crc" -le 0 ] || problems+=("client: $(status_word "$crc")")
	[ "$sre" = - ] || grep -Eq -- "$sre" "$slog" ||
		problems+=("server log lacks /$sre/")
	[ "$crc" -ne 0 ] || grep -Eq -- "$cre" "$clog" ||
		problems+=("client log lacks /$cre/")
	san_report_in "$(cat "$slog")" && problems+=("sanitizer report (server)")
	san_report_in "$(cat "$clog")" && problems+=("sanitizer report (client)")
	if [ ${#problems[@]} -eq 0 ]; then
		ok "$what ($secs s)"
		return 0
	fi
	# stdout reaches a log file only at exit, after what went to stderr:
	# the lines other than rping's "ping data" come first, then the end
	fail "$what ($secs s)" "$(printf '%s\n' "${problems[@]}")
--- server (${sns:-here}), other than ping data:
$(grep -v '^ping data: ' "$slog" | head -n 12)
--- server, last lines:
$(tail -n 12 "$slog")
--- client (${cns:-here}), other than ping data:
$(grep -v '^ping data: ' "$clog" | head -n 12)
--- client, last lines:
$(tail -n 12 "$clog")"
}

# refused LABEL NS -- CLIENT CMD...: no listener on %PORT%; the client
# must fail (non-zero) within 10 s and say why.
refused() {
	local label=$1 ns=$2
	shift 3
	local what="$label: ${*} (no listener)"
	if [ -n "$ONLY" ] && ! [[ $what =~ $ONLY ]]; then
		return 0
	fi
	pick_port "$ns" "$ns"
	local cmd=("${@//%PORT%/$PICKED}") out rc t0 secs
	what="$label: ${cmd[*]} (no listener)"
	t0=$(date +%s%N)
	out=$(in_ns "$ns" timeout -k 5 10 "${RUN[@]}" "${cmd[@]}" 2>&1 </dev/null)
	rc=$?
	secs=$(awk -v n=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", n / 1e9 }')
	# a clean failure: an exit code, not a signal (rping exits with -1)
	if [ $rc -ne 0 ] && { [ $rc -lt 124 ] || [ $rc -eq 255 ]; } &&
		[[ $out =~ REJECTED|UNREACHABLE|ADDR_ERROR|refused ]] &&
		! san_report_in "$out"; then
		ok "$what: exit $rc in $secs s"
	else
		fail "$what: exit $rc in $secs s" "$out"
	fi
}

PERF_RE='^ *[0-9]+ +[0-9]+ +[0-9.]+'

# every stock-program case, server in SNS on SDEV, client in CNS on CDEV
# reaching the server at IP
run_cases() {
	local L=$1 sns=$2 sdev=$3 cns=$4 cdev=$5 ip=$6 S
	for S in 64 4096 65535; do
		pair "$L" "$sns" "$cns" - "rdma-ping-999:" -- \
			rping -s -a "$ip" -p %PORT% -S $S -- \
			rping -c -a "$ip" -p %PORT% -C 1000 -S $S -v -V
	done
	pair "$L" "$sns" "$cns" "rdma_server: end 0" "rdma_client: end 0" -- \
		rdma_server -s "$ip" -p %PORT% -- \
		rdma_client -s "$ip" -p %PORT%
	pair "$L" "$sns" "$cns" "return status 0" "return status 0" -- \
		ucmatose -b "$ip" -p %PORT% -c 10 -- \
		ucmatose -s "$ip" -p %PORT% -c 10
	pair "$L" "$sns" "$cns" "iters in" "iters in" -- \
		ibv_rc_pingpong -d "$sdev" -g 0 -e -p %PORT% -n 1000 -- \
		ibv_rc_pingpong -d "$cdev" -g 0 -e -p %PORT% -n 1000 "$ip"
	local t
	for t in ib_write_bw ib_read_bw ib_send_bw ib_send_lat; do
		pair "$L" "$sns" "$cns" '#bytes' "$PERF_RE" -- \
			$t -d "$sdev" -R -p %PORT% -n 200 -- \
			$t -d "$cdev" -R -p %PORT% -n 200 "$ip"
	done
	# completion channels; perftest refuses -e for WRITE ("Events
	# feature not available on WRITE verb"), so READ stands in
	for t in "ib_send_bw -e" "ib_read_bw -e" "ib_read_lat -e" \
		"ib_send_lat -e" "ib_send_bw -e -R"; do
		# (latency servers print no table)
		# shellcheck disable=SC2086
		pair "$L" "$sns" "$cns" "$([[ $t == *lat* ]] && echo - || echo '#bytes')" "$PERF_RE" -- \
			$t -d "$sdev" -x 0 -p %PORT% -n 200 -- \
			$t -d "$cdev" -x 0 -p %PORT% -n 200 "$ip"
	done
	refused "$L" "$cns" -- rping -c -a "$ip" -p %PORT% -C 1
	refused "$L" "$cns" -- rdma_client -s "$ip" -p %PORT%
}

# device $2 in namespace $1 is ACTIVE with GID[0] ::ffff:$3
dev_ready() {
	local out
	out=$(in_ns "$1" "${RUN[@]}" ibv_devinfo -v -d "$2" 2>&1) &&
		[[ $out =~ PORT_ACTIVE ]] &&
		[[ $out =~ GID\[[[:space:]]*0\]:[[:space:]]+::ffff:${3//./\\.}, ]]
}

if out=$("$RDMA_TCP" env 2>&1); then
	eval "$out"
else
	fail "rdma-tcp env" "$out"
	finish
	exit 1
fi
if [[ ${LD_PRELOAD:-} == *librdmacm-ext.so* ]]; then
	ok "rdma-tcp env preloads librdmacm-ext"
else
	fail "rdma-tcp env preloads librdmacm-ext" "LD_PRELOAD=${LD_PRELOAD:-}"
	finish
	exit 1
fi
EXT=$(tr ' :' '\n' <<<"$LD_PRELOAD" | grep librdmacm-ext.so | head -n 1)
# The preload goes to the stock programs only (RUN, after the sanitizer
# runtimes in an ASan build), not to this script's own tools: our
# instrumented rdma-tcp must load the ASan runtime first.
PRE=$LD_PRELOAD
unset LD_PRELOAD
if [ "$SAN_ACTIVE" = 1 ]; then
	# the sanitizer pass runs the loopback phase (the suite's time
	# budget); the namespace phase runs the same code in the plain pass
	[ -z "${RDMACM_PHASES:-}" ] && PHASES=lo
	LD_PRELOAD=$PRE san_refresh
	RUN=("${STOCK[@]}")
else
	RUN=(env "LD_PRELOAD=$PRE")
fi

# The preload costs nothing where RDMA is not used: no libibverbs, no
# thread, and it needs only libc.
needed=$(LC_ALL=C readelf -d "$EXT" | awk '/NEEDED/ { print $NF }' | tr -d '[]' |
	grep -Ev '^libc\.so' |
	tr '\n' ' ')
if [ -z "$needed" ]; then
	ok "librdmacm-ext needs libc only (DT_NEEDED)"
else
	fail "librdmacm-ext needs libc only (DT_NEEDED)" "$needed"
fi
# the program says when its start-up (the preload's constructor) is over
coproc NORDMA { exec env LD_PRELOAD="$PRE" sh -c 'echo ready; read -r _'; }
pid=$NORDMA_PID
if read -r -t 10 line <&"${NORDMA[0]}" && [ "$line" = ready ] &&
	! grep -q libibverbs "/proc/$pid/maps" && [ "$(ls "/proc/$pid/task" | wc -l)" = 1 ]; then
	ok "a program without RDMA: no libibverbs mapped, no extra thread"
else
	fail "a program without RDMA: no libibverbs mapped, no extra thread"
fi
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null

########################################################################
if [[ " $PHASES " == *" lo "* ]]; then
	echo "# loopback: tcp0 on lo (registry $RDMA_TCP_ROOT)"
	if out=$("$RDMA_TCP" link add tcp0 netdev lo 2>&1) &&
		poll 5 dev_ready "" tcp0 127.0.0.1; then
		ok "tcp0 on lo, PORT_ACTIVE"
		t=$(date +%s)
		run_cases lo "" tcp0 "" tcp0 127.0.0.1
		pair lo6 "" "" - "rdma-ping-99:" -- \
			rping -s -a ::1 -p %PORT% -- \
			rping -c -a ::1 -p %PORT% -C 100 -v -V
		pair lo6 "" "" "return status 0" "return status 0" -- \
			ucmatose -b :: -p %PORT% -c 4 -- \
			ucmatose -s ::1 -p %PORT% -c 4
		pair lo "" "" "return status 0" "return status 0" -- \
			ucmatose -b 127.0.0.1 -p %PORT% -c 4 -m -- \
			ucmatose -s 127.0.0.1 -p %PORT% -c 4 -m
		pair lo "" "" - "rdma-ping-99:" -- \
			rping -s -q -a 127.0.0.1 -p %PORT% -- \
			rping -c -q -a 127.0.0.1 -p %PORT% -C 100 -v -V
		# rping's exit, over and over: its CM thread waits in
		# rdma_get_cm_event as its main thread destroys the channel
		# (once in CI rping exited 255: the call had returned EBADF)
		check "a thread in rdma_get_cm_event stays blocked when another destroys the channel (4096 rounds)" \
			timeout 30 "${RUN[@]}" "$RACE"
		# a control connection's SYN dropped by a full backlog: the
		# connect waits for TCP's retransmission (once in CI, a UD id's
		# SIDR failed at once with UNREACHABLE -EAGAIN instead)
		check "an rdma_connect whose SYN meets a full backlog waits for its retransmission" \
			timeout 30 "${RUN[@]}" "$HELD" 127.0.0.1 4791
		echo "# loopback phase: $(($(date +%s) - t)) s"
		"$RDMA_TCP" link del tcp0 >/dev/null 2>&1 || fail "link del tcp0"
	else
		fail "tcp0 on lo, PORT_ACTIVE" "$out"
	fi
fi

########################################################################
if [[ " $PHASES " == *" netns "* ]]; then
	echo "# namespaces: $NSA (tcpA, $IPA) <-> $NSB (tcpB, $IPB)"
	if out=$(veth_pair "$NSA" "$IPA" "$NSB" "$IPB" 2>&1) &&
		out=$(ip netns exec "$NSA" "$RDMA_TCP" link add tcpA netdev vethA 2>&1) &&
		out=$(ip netns exec "$NSB" "$RDMA_TCP" link add tcpB netdev vethB 2>&1) &&
		poll 10 dev_ready "$NSA" tcpA "$IPA" &&
		poll 10 dev_ready "$NSB" tcpB "$IPB"; then
		ok "namespaces joined by veth, tcpA and tcpB ACTIVE"
		t=$(date +%s)
		run_cases netns "$NSA" tcpA "$NSB" tcpB "$IPA"
		# an address of no tcp device: the client's ADDR_ERROR
		refused netns "$NSB" -- rping -c -a 10.79.0.1 -p %PORT% -C 1
		echo "# namespace phase: $(($(date +%s) - t)) s"
	else
		fail "namespaces joined by veth, tcpA and tcpB ACTIVE" "$out"
	fi
	# a namespace without tcp devices: every call goes to the system
	# librdmacm, which has no kernel rdma_cm here
	if ip netns add "$NSC" && ip -n "$NSC" link set lo up; then
		out=$(ip netns exec "$NSC" timeout 10 "${RUN[@]}" rping -s -a 127.0.0.1 -p 19699 2>&1)
		rc=$?
		if [ $rc -ne 0 ] && [ $rc -ne 124 ] && ! san_report_in "$out"; then
			ok "no tcp device: calls forwarded to the system librdmacm (exit $rc)"
		else
			fail "no tcp device: calls forwarded to the system librdmacm" "exit $rc: $out"
		fi
	fi
fi

echo "# $(($(date +%s) - T0)) s in all"
finish
