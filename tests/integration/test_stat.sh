#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# rdma-tcp stat: per-QP verbs counters and the TCP connection behind each QP.
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
#  - a closed context removes its file; a SIGKILLed one leaves it, and
#    `rdma-tcp stat` skips and removes it.
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
trap 'kill -9 $PID 2>/dev/null; rm -rf "$WORK"; _lo_device_cleanup' EXIT

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

exec 7>&-
wait "$PID"
check_match "the traffic exited cleanly" "^0$" "$?"
if san_report_in "$(cat "$WORK/out")"; then
	fail "no sanitizer report" "$(cat "$WORK/out")"
fi
files() { ls -A "$STATDIR" 2>/dev/null; }
OUT=$(files)
check_match "a closed context's file is gone" '^$' "$OUT"

start_traffic || fail "second traffic ran" "$(cat "$WORK/out")"
{
	kill -9 "$PID"
	wait "$PID"
} 2>/dev/null # no "Killed" job notice
exec 7>&-
OUT=$(files)
check_match "a killed process leaves its file" "^$PID-[0-9]+$" "$OUT"
OUT=$("$RDMA_TCP" stat -j 2>&1)
check_match "stat skips the dead process's QPs" '^\[\]$' "$OUT"
OUT=$(files)
check_match "stat removed the dead process's file" '^$' "$OUT"

finish
