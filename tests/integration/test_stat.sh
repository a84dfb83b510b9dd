#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rdma-tcp stat: per-QP verbs counters and the socket behind each QP; the
# device's hw_counters; the debug log.
#
#   tests/integration/test_stat.sh PATH/TO/rdma-tcp
#
# As root, on a private registry with tcp0 on lo (default security). An RC
# pair (stat_traffic.py, stock pyverbs) sends N messages and does W RDMA
# writes and R reads of S bytes and A atomics, then holds its QPs:
#  - `rdma-tcp stat` lists both QPs with an ESTAB TCP connection;
#  - `-j` parses as JSON; the counters equal what was sent (ops and bytes by
#    opcode, receive bytes on the other side, no error completions; the
#    target side's writes, reads and atomics done to B's region); each
#    QP's local address is the other's peer; TCP acked at least the payload;
#  - a device filter that matches nothing shows nothing;
#  - `rdma statistic show` (iproute2, through librdma-tcp-nl) counts the
#    live context at once, ports/1/hw_counters/ within the daemon's
#    second, and then they say the same; once the context
#    closes, or its process is killed, the daemon removes its file and no
#    counter goes back (the totals are exact: nothing else ran);
#  - ib_write_bw's known byte count lands in hw_counters' tgt_write_bytes;
#  - a waiting ibv_ud_pingpong's UD QP is listed with its UDP socket (the
#    port `ss` shows), and garbage datagrams sent to it are counted as
#    dropped (and logged with RDMA_TCP_DEBUG=frame);
#  - RDMA_TCP_DEBUG=conn,qp logs the connection and state changes with
#    pid/tid; without it stderr stays empty; RDMA_TCP_DEBUG=cm logs the
#    rdma_cm preload's messages (rping under `rdma-tcp run`).
#
# Prints one line per check and "N passed, N failed".

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
PY=/usr/bin/python3 # pyverbs exists only for Debian's python
need_tools "$PY"
lo_device tcp0
san_refresh

N=20 W=7 S=4096 R=3 A=5
STATDIR=$RDMA_TCP_ROOT/run/stat
WORK=$(mktemp -d /tmp/rtcp-stat.XXXXXX)
PID=
# _lo_device_cleanup exits with the status it finds: keep the script's
trap 'st=$?; kill -9 $PID 2>/dev/null; rm -rf "$WORK"; (exit $st)
_lo_device_cleanup' EXIT

# Starts the traffic with its stdin held open by a fifo ($WORK/hold).
start_traffic() {
	rm -f "$WORK/hold" "$WORK/out"
	mkfifo "$WORK/hold"
	# no timeout(1) around it: $PID must be the context's process; it
	# ends when the fifo's writer (this shell, fd 7) closes
	"${STOCK[@]}" "$PY" "$HERE/stat_traffic.py" "$N" "$W" "$S" "$R" "$A" \
		<"$WORK/hold" >"$WORK/out" 2>&1 &
	PID=$!
	exec 7>"$WORK/hold"
	poll 15 grep -q '^ready' "$WORK/out"
}

if ! start_traffic; then
	fail "traffic ran" "$(cat "$WORK/out")"
	finish
	exit
fi
ok "traffic ran"
read -r _ QA QB <"$WORK/out"

TEXT=$("$RDMA_TCP" stat 2>&1)
check_match "stat lists the sender with its connection" \
	"qpn $QA type RC pid $PID local 127\.0\.0\.1:[0-9]+ peer 127\.0\.0\.1:[0-9]+"$'\n'"    tcp ESTAB cc [a-z0-9]+ rtt" "$TEXT"
check_match "stat lists the receiver" "qpn $QB type RC pid $PID" "$TEXT"

JSON=$("$RDMA_TCP" stat tcp0 -j 2>&1)
check "stat -j cross-checks with what was sent" "$PY" - "$QA" "$QB" \
	"$N" "$W" "$S" "$R" "$A" "$JSON" <<'PYEOF'
import json, sys
qa, qb, n, w, s, r, at = (int(x) for x in sys.argv[1:8])
qps = {q['qpn']: q for q in json.loads(sys.argv[8])}
a, b = qps[qa]['counters'], qps[qb]['counters']
want_a = dict(send_ops=n, send_bytes=n * s, write_ops=w,
              write_bytes=w * s, read_ops=r, read_bytes=r * s,
              atomic_ops=at, recv_ops=0, err_wc=0, rejected=0,
              tgt_write_ops=0, tgt_read_ops=0, tgt_atomic_ops=0)
# the target side: what A did to B's region
want_b = dict(recv_ops=n, recv_bytes=n * s, send_ops=0, err_wc=0,
              rejected=0, ud_dropped=0, tgt_write_ops=w,
              tgt_write_bytes=w * s, tgt_read_ops=r, tgt_read_bytes=r * s,
              tgt_atomic_ops=at)
for c, want in ((a, want_a), (b, want_b)):
    for k, v in want.items():
        assert c[k] == v, (k, c[k], v)
ta, tb = qps[qa]['tcp'], qps[qb]['tcp']
assert ta['state'] == tb['state'] == 'ESTAB', (ta, tb)
assert qps[qa]['local'] == qps[qb]['peer'], qps
assert qps[qa]['peer'] == qps[qb]['local'], qps
assert ta['bytes_acked'] >= (n + w) * s, ta
assert tb['bytes_received'] >= (n + w) * s, tb
assert tb['bytes_acked'] >= r * s, tb
assert ta['cc'] and ta['cwnd'] > 0, ta
PYEOF
OUT=$("$RDMA_TCP" stat tcp9 -j 2>&1)
check_match "a device with no QPs shows none" '^\[\]$' "$OUT"

# ---- hw_counters: the device's daemon sums every second ---------------
HW=$RDMA_TCP_ROOT/sys/class/infiniband/tcp0/ports/1/hw_counters
# hw NAME: one counter's file (empty if missing)
hw() { cat "$HW/$1" 2>/dev/null; }
# hw_all: every counter as "name value" lines, sorted
hw_all() { (cd "$HW" 2>/dev/null && grep -H . -- * | tr : ' '); }
# hw_is NAME VALUE: the counter holds VALUE
hw_is() { [ "$(hw "$1")" = "$2" ]; }
# not_below OLD NEW: no counter in NEW ("name value" lines) is below OLD's
not_below() {
	awk 'NR == FNR { old[$1] = $2; next }
	     ($1 in old) && $2 + 0 < old[$1] + 0 { print; bad = 1 }
	     END { exit bad }' <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}
files() { ls -A "$STATDIR" 2>/dev/null; }
no_files() { [ -z "$(files)" ]; }

# the netlink preload alone (built without sanitizers: any program takes it)
NLPRE=$(built kernel-glue/librdma-tcp-nl.so) || NLPRE=
nl_stat() { LD_PRELOAD=$NLPRE rdma -j statistic show link tcp0/1 2>&1; }
if command -v rdma >/dev/null && [ -n "$NLPRE" ]; then
	# at once, whether or not the daemon has rewritten the files yet
	OUT=$(nl_stat)
	check_match "rdma statistic show counts the live context now" \
		"\"recv_ops\":$N,.*\"tgt_write_bytes\":$((W * S))," "$OUT"
fi
if poll 5 hw_is recv_ops "$N"; then
	ok "hw_counters count the live context"
else
	fail "hw_counters count the live context" "$(hw_all)"
fi
LIVE=$(hw_all)
check_match "hw_counters: rdma_sends (rxe's name) = SENDs" \
	"rdma_sends $N"$'\n' "$LIVE"$'\n'
if command -v rdma >/dev/null && [ -n "$NLPRE" ]; then
	OUT=$(nl_stat)
	check "rdma statistic show says what hw_counters say" "$PY" - \
		"$OUT" "$LIVE" <<'PYEOF'
import json, sys
nl = json.loads(sys.argv[1])[0]
files = dict(l.split() for l in sys.argv[2].splitlines())
assert nl['ifname'] == 'tcp0' and nl['port'] == 1, nl
for k, v in files.items():
    assert nl[k] == int(v), (k, nl[k], v)
PYEOF
else
	fail "rdma statistic show says what hw_counters say" \
		"no rdma tool, or no ${NLPRE:-librdma-tcp-nl.so}"
fi

exec 7>&-
wait "$PID"
check_match "the traffic exited cleanly" "^0$" "$?"
if san_report_in "$(cat "$WORK/out")"; then
	fail "no sanitizer report" "$(cat "$WORK/out")"
fi
if poll 5 no_files; then
	ok "a closed context's file is taken in and removed"
else
	fail "a closed context's file is taken in and removed" "$(files)"
fi
OUT=$(hw_all)
check "no counter went back when the context closed" not_below "$LIVE" "$OUT"
check_match "the closed context's totals stay" \
	"recv_ops $N"$'\n'".*tgt_write_bytes $((W * S))"$'\n' "$OUT"$'\n'

start_traffic || fail "second traffic ran" "$(cat "$WORK/out")"
if poll 5 hw_is recv_ops $((2 * N)); then
	ok "hw_counters add the second context to the first's totals"
else
	fail "hw_counters add the second context to the first's totals" \
		"$(hw_all)"
fi
LIVE=$(hw_all)
{
	kill -9 "$PID"
	wait "$PID"
} 2>/dev/null # no "Killed" job notice
exec 7>&-
OUT=$("$RDMA_TCP" stat -j 2>&1)
check_match "stat skips the dead process's QPs" '^\[\]$' "$OUT"
if poll 5 no_files; then
	ok "the daemon took in and removed the killed process's file"
else
	fail "the daemon took in and removed the killed process's file" "$(files)"
fi
# the daemon writes the files just after it removed the last one
poll 5 hw_is recv_ops $((2 * N))
OUT=$(hw_all)
check "no counter went back when the process was killed" not_below \
	"$LIVE" "$OUT"
check_match "the killed process's totals stay" \
	"recv_ops $((2 * N))"$'\n'".*tgt_write_bytes $((2 * W * S))"$'\n' \
	"$OUT"$'\n'

# ---- ib_write_bw: a known byte count, and the debug log ----------------
# perftest's out-of-band port: testlib's free_port, below the ephemeral
# range (QP listeners and connections take ports there: 35481 was once a
# QP's)
PORT=$(free_port) || exit 2
IT=50 SZ=65536
BEFORE=$(hw tgt_write_bytes)
RDMA_TCP_DEBUG=conn,qp timeout 30 "${STOCK[@]}" ib_write_bw -d tcp0 -x 1 \
	-p "$PORT" -n "$IT" -s "$SZ" >"$WORK/srv.out" 2>"$WORK/srv.err" &
SRV=$!
poll 10 listening "" "$PORT"
timeout 30 "${STOCK[@]}" ib_write_bw -d tcp0 -x 1 -p "$PORT" -n "$IT" \
	-s "$SZ" 127.0.0.1 >"$WORK/cli.out" 2>"$WORK/cli.err"
CRC=$?
wait "$SRV"
check_match "ib_write_bw ran" "^0 0$" "$? $CRC"
WANT=$((BEFORE + IT * SZ))
if poll 5 hw_is tgt_write_bytes "$WANT"; then
	ok "hw_counters: tgt_write_bytes grew by ib_write_bw's bytes"
else
	fail "hw_counters: tgt_write_bytes grew by ib_write_bw's bytes" \
		"want $WANT"$'\n'"$(hw_all)"
fi
ERR=$(cat "$WORK/srv.err")
check_match "RDMA_TCP_DEBUG=conn,qp: the connection, with pid/tid" \
	"rdma-tcp\[[0-9]+/[0-9]+\] tcp0 qp [0-9]+: connection up \((connected|accepted), peer qp [0-9]+, local [^ ]+:[0-9]+ peer [^ ]+:[0-9]+\)" \
	"$ERR"
check_match "RDMA_TCP_DEBUG=conn,qp: the state changes" \
	"qp [0-9]+: INIT -> RTR \(ibv_modify_qp\)" "$ERR"
check_match "no RDMA_TCP_DEBUG: stderr stays empty" '^$' \
	"$(cat "$WORK/cli.err")"

# ---- a UD QP's UDP socket ----------------------------------------------
PORT=$(free_port) || exit 2 # ib_write_bw's may linger in TIME_WAIT
RDMA_TCP_DEBUG=frame timeout 30 "${STOCK[@]}" ibv_ud_pingpong -d tcp0 -g 1 \
	-p "$PORT" -n 5 >"$WORK/uds.out" 2>"$WORK/uds.err" &
SRV=$!
ud_listed() { "$RDMA_TCP" stat -j | grep -q '"type":"UD"'; }
poll 10 ud_listed
OUT=$("$RDMA_TCP" stat -j 2>&1)
UDPORT=$("$PY" - "$OUT" <<'PYEOF'
import json, sys
(q,) = json.loads(sys.argv[1])  # the waiting server's, alone
assert q['type'] == 'UD' and q['peer'] == '-', q
port = int(q['local'].rsplit(':', 1)[1])
assert port == q['qpn'] >> 8, q  # a UD QP's port is its number's
assert q['udp']['rcvbuf'] > 0 and q['udp']['drops'] == 0, q
print(port)
PYEOF
)
if [ -n "$UDPORT" ] && ss -Huan "sport = :$UDPORT" | grep -q .; then
	ok "stat -j lists the UD QP with the UDP socket ss shows"
else
	fail "stat -j lists the UD QP with the UDP socket ss shows" "$OUT"
fi
"$PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3):
    s.sendto(b"not a datagram of ours", ("127.0.0.1", int(sys.argv[1])))' \
	"${UDPORT:-9}"
dropped3() { "$RDMA_TCP" stat -j | grep -q '"ud_dropped":3'; }
if poll 5 dropped3; then
	ok "garbage datagrams counted as dropped"
else
	fail "garbage datagrams counted as dropped" "$("$RDMA_TCP" stat -j)"
fi
check_match "RDMA_TCP_DEBUG=frame logs the drops" \
	"tcp0 qp [0-9]+: datagram dropped: " "$(cat "$WORK/uds.err")"
timeout 30 "${STOCK[@]}" ibv_ud_pingpong -d tcp0 -g 1 -p "$PORT" -n 5 \
	127.0.0.1 >"$WORK/udc.out" 2>&1
CRC=$?
wait "$SRV"
check_match "ibv_ud_pingpong ran" "^0 0$" "$? $CRC"

# ---- the rdma_cm preload's log: RDMA_TCP_DEBUG=cm ------------------------
# rping to a port nobody serves (1): it fails, logging on the way or not
RDMA_TCP_DEBUG=cm timeout 30 "$RDMA_TCP" run -- rping -c -a 127.0.0.1 -p 1 \
	-C 1 >"$WORK/cm_on" 2>&1 &
CM=$!
timeout 30 "$RDMA_TCP" run -- rping -c -a 127.0.0.1 -p 1 -C 1 \
	>"$WORK/cm_off" 2>&1
wait "$CM"
check_match "RDMA_TCP_DEBUG=cm: the preload logs its CM messages" \
	"librdmacm-ext\[[0-9]+/[0-9]+\] [0-9]+: fd -?[0-9]+: send message 1 " \
	"$(cat "$WORK/cm_on")"
check_nomatch "without it, the preload logs nothing" "librdmacm-ext\[" \
	"$(cat "$WORK/cm_off")"

finish
