#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Congestion control and traffic class of QP sockets (docs/design.md,
# "Congestion control and traffic class"):
#
# 1. the registry: `link add ... cc NAME` and `link set NAME cc NAME`
#    refuse a name the kernel does not have (exit status 1, the kernel's
#    list in the message, the device unchanged); `link show` shows the
#    name; `cc default` clears it.
# 2. qp_net, one process with tcp0 open (cubic): the traffic class of the
#    QP's address vector as its sockets' TOS, `link set tcp0 cc bbr` for
#    connections made afterwards, tcpdv_modify_qp_cc per QP (live and
#    before RTR), refusals -- each checked by getsockopt and by `ss -tin
#    --tos` (sock_diag), and by `rdma-tcp stat -j`.
# 3. qp_net as user nobody on tcp1 (psp off: nobody may not read the host
#    key), whose congestion control is one nobody may not use (available,
#    not in tcp_allowed_congestion_control; skipped if there is none):
#    connections use the default, stderr says so once, the per-QP call is
#    EPERM.
#
#   tests/integration/test_qp_net.sh PATH/TO/rdma-tcp
#
# Runs in a network namespace of its own (unshare; RTCP_TEST_IN_NETNS=no:
# the current one) whose default congestion control is reno, so that the
# device's and the QP's names differ from the default. Needs reno, cubic
# and bbr in tcp_available_congestion_control (bbr: `modprobe tcp_bbr`).
# Prints "N passed, N failed"; exit status 1 on any failure.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
QP_NET=$(built tests/tools/qp_net) || exit 2
need_tools ss setpriv unshare
AVAIL=/proc/sys/net/ipv4/tcp_available_congestion_control
for cc in reno cubic bbr; do
	grep -qw "$cc" "$AVAIL" || modprobe "tcp_$cc" 2>/dev/null
	if ! grep -qw "$cc" "$AVAIL"; then
		echo "$0: congestion control $cc not available ($(cat "$AVAIL"))" >&2
		exit 2
	fi
done
if [ -z "${RTCP_TEST_IN_NETNS:-}" ] && unshare --net true 2>/dev/null; then
	exec unshare --net env RTCP_TEST_IN_NETNS=1 bash "$0" "$@"
fi
if [ "${RTCP_TEST_IN_NETNS:-}" == 1 ]; then
	ip link set lo up
	# this namespace's own default (net.ipv4 per namespace)
	echo reno >/proc/sys/net/ipv4/tcp_congestion_control || exit 2
fi
DEFAULT=$(cat /proc/sys/net/ipv4/tcp_congestion_control)
lo_device tcp0 cc cubic
own_san_options

# 1. the registry
show() { "$RDMA_TCP" link show tcp0; }
check_match "link add ... cc cubic: link show says cc cubic" ' cc cubic$' "$(show)"
out=$("$RDMA_TCP" link add tcp1 netdev lo cc nosuchcc 2>&1)
rc=$?
check_match "link add ... cc nosuchcc fails ($rc)" '^1$' "$rc"
check_match "... naming the kernel's list" \
	"congestion control \"nosuchcc\" is not available \\(the kernel has: .*cubic" "$out"
check_nomatch "... and makes no device" 'tcp1' "$("$RDMA_TCP" link show)"
out=$("$RDMA_TCP" link set tcp0 cc nosuchcc 2>&1)
rc=$?
check_match "link set tcp0 cc nosuchcc fails ($rc)" '^1$' "$rc"
check_match "... the device keeps cubic" ' cc cubic$' "$(show)"
check "link set tcp0 cc default" "$RDMA_TCP" link set tcp0 cc default
check_nomatch "... link show names no cc" ' cc ' "$(show)"
check "link set tcp0 cc cubic" "$RDMA_TCP" link set tcp0 cc cubic
check_match "... link show says cc cubic" ' cc cubic$' "$(show)"

# 2. the sockets
if run_c_suite 60 "$QP_NET" tcp0 "$RDMA_TCP link set tcp0 cc bbr" \
	"$RDMA_TCP stat tcp0 -j"; then
	ok "qp_net: device and QP congestion control, traffic class as TOS"
else
	fail "qp_net: device and QP congestion control, traffic class as TOS"
fi
check_match "link show says cc bbr" ' cc bbr$' "$(show)"

# 3. a user who may not use the device's congestion control
ALLOWED=/proc/sys/net/ipv4/tcp_allowed_congestion_control
DENIED=
for cc in $(cat "$AVAIL"); do
	grep -qw "$cc" "$ALLOWED" || { DENIED=$cc; break; }
done
# an allowed one other than the default if there is one (reno always is)
OTHER=reno
for cc in $(cat "$ALLOWED"); do
	[ "$cc" = "$DEFAULT" ] || { OTHER=$cc; break; }
done
if [ -z "$DENIED" ]; then
	ok "# SKIP unprivileged: every available cc is allowed ($(cat "$ALLOWED"))"
else
	chmod 755 "$RDMA_TCP_ROOT"
	check "link add tcp1 ... psp off cc $DENIED" \
		"$RDMA_TCP" link add tcp1 netdev lo psp off cc "$DENIED"
	ERRF=$RDMA_TCP_ROOT/unpriv.err
	if run_c_suite 60 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$QP_NET" tcp1 --unprivileged "$DENIED" "$OTHER" 2>"$ERRF"; then
		ok "qp_net as nobody: $DENIED refused, the default used"
	else
		fail "qp_net as nobody: $DENIED refused, the default used" "$(cat "$ERRF")"
	fi
	n=$(grep -c "congestion control \"$DENIED\" refused by the kernel" "$ERRF")
	check_match "... said once on stderr ($n)" '^1$' "$n"
	"$RDMA_TCP" link del tcp1 >/dev/null 2>&1
fi
finish
