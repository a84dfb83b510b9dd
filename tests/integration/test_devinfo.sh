#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Stock ibv_devices / ibv_devinfo against tcp devices.
#
#   tests/integration/test_devinfo.sh PATH/TO/rdma-tcp
#
# As root. Uses a private registry (RDMA_TCP_ROOT=$(mktemp -d)):
#  - tcp0 on lo, in this network namespace: listed with its node GUID, port
#    ACTIVE, Ethernet, MTU 4096, device limits, GIDs ::ffff:127.0.0.1 and ::1
#    as RoCE v2;
#  - tcp1 on d0 (dummy, or a veth pair when the kernel has no dummy driver)
#    inside a network namespace made for the test: MTU 1024 from 1500, GID
#    ::ffff:192.0.2.1, PORT_DOWN when d0 goes down, new and removed addresses
#    reflected in the GID table within 3 s, and each namespace sees only its
#    own device;
#  - after `link del` of both, no tcp device is listed.
# Addresses are only on lo and inside the test namespace (192.0.2.0/24 is
# TEST-NET-1); no packet leaves the host.
#
# Prints one line per check and "N passed, N failed"; exit status 1 on any
# failure, 2 on a usage error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2

need_tools ibv_devices ibv_devinfo ip

NS=rtcp-test-$$
RDMA_TCP_ROOT=$(mktemp -d /tmp/rdma-tcp-test.XXXXXX)
export RDMA_TCP_ROOT

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	ns_del "$NS" tcp1
	"$RDMA_TCP" link del tcp1 >/dev/null 2>&1
	rm -rf "$RDMA_TCP_ROOT"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a stock verbs tool (with the sanitizer runtime preloaded for a
# sanitizer build) and fails the check "$what ran" if it reports a sanitizer
# error. Output (stdout and stderr) in $OUT, status in $RC.
run_stock() {
	local what=$1
	shift
	OUT=$(stock "$@" 2>&1)
	RC=$?
	if san_report_in "$OUT"; then
		fail "$what: no sanitizer report" "$OUT"
	fi
	return $RC
}
run_stock_ns() {
	local what=$1
	shift
	san_refresh
	OUT=$(ip netns exec "$NS" "${STOCK[@]}" "$@" 2>&1)
	RC=$?
	if san_report_in "$OUT"; then
		fail "$what: no sanitizer report" "$OUT"
	fi
	return $RC
}

# The value of "field: value" in ibv_devinfo output $2 (first match)
field() {
	printf '%s\n' "$2" | awk -v f="$1" '
		{ sub(/^[ \t]+/, "") }
		index($0, f ":") == 1 { sub(/^[^:]*:[ \t]*/, ""); print; exit }'
}

# GIDs listed by ibv_devinfo -v, one "ADDR, TYPE" per line
gids_of() {
	printf '%s\n' "$1" | sed -n 's/^[ \t]*GID\[ *[0-9]*\]:[ \t]*//p'
}

# ibv_devices device names (the lines under the header)
devices_listed() {
	printf '%s\n' "$1" | awk 'NR > 2 && NF >= 1 { print $1 }'
}

NL=$'\n'

########################################################################
echo "# tcp0 on lo (registry $RDMA_TCP_ROOT)"

if out=$("$RDMA_TCP" link add tcp0 netdev lo 2>&1); then
	ok "link add tcp0 netdev lo"
else
	fail "link add tcp0 netdev lo" "$out"
	finish
	exit 1
fi
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
gone() { ! alive "$1"; }
monitor_pid() { cat "$RDMA_TCP_ROOT/run/$1.pid" 2>/dev/null; }
MON0=$(monitor_pid tcp0)
check "tcp0 GID monitor running (pid ${MON0:-none})" alive "$MON0"

if ! env_out=$("$RDMA_TCP" env); then
	fail "rdma-tcp env"
	finish
	exit 1
fi
eval "$env_out"
# The rdma_cm preload is not needed by these tools, and in the sanitizer
# build it must not precede the ASan runtime of our own instrumented tools.
unset LD_PRELOAD
check_match "env sets SYSFS_PATH inside the registry" \
	"^$RDMA_TCP_ROOT/" "${SYSFS_PATH:-}"
check_match "env sets RDMAV_DRIVERS to the provider" "/libtcp" \
	"${RDMAV_DRIVERS:-}"

DEVDIR=$SYSFS_PATH/class/infiniband/tcp0
reg_guid=$(tr -d ':\n' <"$DEVDIR/node_guid" 2>/dev/null)
check_match "registry node_guid is 16 hex digits, not zero" \
	'^[0-9a-f]{16}$' "$reg_guid"
[ "$reg_guid" != 0000000000000000 ] || fail "node GUID is zero"

run_stock ibv_devices ibv_devices
check "ibv_devices exits 0" test "$RC" -eq 0
check_match "ibv_devices lists tcp0 with its node GUID" \
	"(^|$NL)[[:space:]]*tcp0[[:space:]]+$reg_guid($|$NL)" "$OUT"
check_nomatch "ibv_devices: no driver warning" \
	"[Ww]arning|couldn't|Failed" "$OUT"

run_stock "ibv_devinfo tcp0" ibv_devinfo -v -d tcp0
DEVINFO=$OUT
check "ibv_devinfo -v -d tcp0 exits 0" test "$RC" -eq 0
check_match "hca_id tcp0" "hca_id:[[:space:]]+tcp0" "$DEVINFO"
check_match "transport InfiniBand" "transport:[[:space:]]+InfiniBand" "$DEVINFO"
check_match "node_guid shown as in the registry" \
	"node_guid:[[:space:]]+$(sed 's/\(....\)\(....\)\(....\)\(....\)/\1:\2:\3:\4/' <<<"$reg_guid")" \
	"$DEVINFO"
check_match "vendor_id 0xffffff (rxe's no-OUI value, never 0)" \
	"vendor_id:[[:space:]]+0xffffff" "$DEVINFO"
check_match "vendor_part_id 31856 (0x7c70)" \
	"vendor_part_id:[[:space:]]+31856" "$DEVINFO"
check_match "phys_port_cnt 1" "phys_port_cnt:[[:space:]]+1($|[^0-9])" "$DEVINFO"
check_match "port 1 PORT_ACTIVE" "state:[[:space:]]+PORT_ACTIVE" "$DEVINFO"
check_match "link_layer Ethernet" "link_layer:[[:space:]]+Ethernet" "$DEVINFO"
check_match "active_mtu 4096 for lo" "active_mtu:[[:space:]]+4096" "$DEVINFO"
check_match "max_mtu 4096" "max_mtu:[[:space:]]+4096" "$DEVINFO"
for f in max_qp max_qp_wr max_sge max_cq max_cqe max_mr max_pd max_mr_size \
	max_qp_rd_atom max_qp_init_rd_atom max_res_rd_atom max_srq max_ah \
	max_pkeys gid_tbl_len; do
	v=$(field "$f" "$DEVINFO")
	# max_mr_size is printed in hex
	if [[ $v =~ ^(0x[0-9a-fA-F]+|[0-9]+)$ ]] && [ $((v)) -ne 0 ]; then
		ok "$f = $v (non-zero)"
	else
		fail "$f non-zero" "got '$v'"
	fi
done
v=$(field max_qp_rd_atom "$DEVINFO")
if [[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 8 ]; then
	ok "max_qp_rd_atom $v >= 8"
else
	fail "max_qp_rd_atom >= 8" "got '$v'"
fi
check_match "atomic_cap ATOMIC_HCA" "atomic_cap:[[:space:]]+ATOMIC_HCA" "$DEVINFO"

GIDS=$(gids_of "$DEVINFO")
check_match "GID[0] is ::ffff:127.0.0.1, RoCE v2" \
	"GID\[ *0\]:[[:space:]]+::ffff:127\.0\.0\.1, RoCE v2" "$DEVINFO"
while read -r a; do
	[ -n "$a" ] || continue
	check_match "GID for lo's $a, RoCE v2" \
		"(^|$NL)${a//./\\.}, RoCE v2($|$NL)" "$GIDS"
done < <(ip -o -4 addr show dev lo | awk '{ split($4, p, "/"); print "::ffff:" p[1] }'
	ip -o -6 addr show dev lo | awk '{ split($4, p, "/"); print p[1] }')
if ip -o -6 addr show dev lo | grep -q ' ::1/'; then
	check_match "GID for ::1 (RoCE v2)" "(^|$NL)::1, RoCE v2($|$NL)" "$GIDS"
else
	echo "# lo has no ::1 (IPv6 off): ::1 GID not checked"
fi
n_gids=$(printf '%s\n' "$GIDS" | grep -c . || true)
n_addrs=$(ip -o addr show dev lo | grep -c ' inet6\? ' || true)
check "GID table has one entry per lo address ($n_addrs)" \
	test "$n_gids" -eq "$n_addrs"

run_stock "ibv_devinfo unknown" ibv_devinfo -d tcp-no-such
check "ibv_devinfo -d tcp-no-such fails" test "$RC" -ne 0

########################################################################
echo "# tcp1 on d0 in network namespace $NS"

mk_ns() {
	ip netns add "$NS" &&
		ip -n "$NS" link set lo up || return 1
	if ip -n "$NS" link add d0 type dummy 2>/dev/null; then
		D0_KIND=dummy
	else
		# no dummy driver (some VM kernels): a veth pair, both ends
		# inside the namespace, gives the same thing plus a carrier
		ip -n "$NS" link add d0 type veth peer name d0p &&
			ip -n "$NS" link set d0p up || return 1
		D0_KIND=veth
	fi
	ip -n "$NS" link set d0 mtu 1500 &&
		ip -n "$NS" addr add 192.0.2.1/24 dev d0 &&
		ip -n "$NS" link set d0 up
}
if mk_ns; then
	ok "namespace $NS with d0 ($D0_KIND) 192.0.2.1/24 mtu 1500"
else
	fail "namespace $NS with d0"
	finish
	exit 1
fi

if out=$(ip netns exec "$NS" "$RDMA_TCP" link add tcp1 netdev d0 2>&1); then
	ok "link add tcp1 netdev d0 (in $NS)"
else
	fail "link add tcp1 netdev d0 (in $NS)" "$out"
fi
MON1=$(monitor_pid tcp1)
check "tcp1 GID monitor running (pid ${MON1:-none})" alive "$MON1"
show=$("$RDMA_TCP" link show 2>&1)
check_match "link show lists tcp0" "tcp0" "$show"
check_match "link show lists tcp1" "tcp1" "$show"

devinfo_ns() { run_stock_ns "ibv_devinfo tcp1" ibv_devinfo -v -d tcp1; }

devinfo_ns
NSINFO=$OUT
check "ibv_devinfo -d tcp1 in $NS exits 0" test "$RC" -eq 0
check_match "tcp1 PORT_ACTIVE" "state:[[:space:]]+PORT_ACTIVE" "$NSINFO"
check_match "tcp1 active_mtu 1024 (netdev mtu 1500)" \
	"active_mtu:[[:space:]]+1024" "$NSINFO"
check_match "tcp1 link_layer Ethernet" "link_layer:[[:space:]]+Ethernet" "$NSINFO"
check_match "tcp1 GID[0] ::ffff:192.0.2.1, RoCE v2" \
	"GID\[ *0\]:[[:space:]]+::ffff:192\.0\.2\.1, RoCE v2" "$NSINFO"
check_nomatch "tcp1 has no GID of lo" "::ffff:127\.0\.0\.1|(^|[[:space:]])::1," \
	"$(gids_of "$NSINFO")"

# MTU follows the netdev
ip -n "$NS" link set d0 mtu 9000 2>/dev/null || true
if [ "$(ip netns exec "$NS" cat /sys/class/net/d0/mtu)" = 9000 ]; then
	devinfo_ns
	check_match "tcp1 active_mtu 4096 after mtu 9000" \
		"active_mtu:[[:space:]]+4096" "$OUT"
	ip -n "$NS" link set d0 mtu 1500
fi

# Port state follows the netdev, and the change is an async event
ASYNC_WAIT=${RDMA_TCP%/kernel-glue/rdma-tcp}/tests/tools/async_wait
AW_LOG=$(mktemp)
AW_PID=
if [ -x "$ASYNC_WAIT" ]; then
	ip netns exec "$NS" "$ASYNC_WAIT" tcp1 15 "port error" "port active" \
		"GID table change" >"$AW_LOG" 2>&1 &
	AW_PID=$!
	aw_ready() { grep -q '^ready' "$AW_LOG"; }
	poll 5 aw_ready || fail "async_wait started" "$(cat "$AW_LOG")"
fi
ip -n "$NS" link set d0 down
port_is() {
	devinfo_ns
	[[ $OUT =~ state:[[:space:]]+$1 ]]
}
if poll 3 port_is PORT_DOWN; then
	ok "d0 down -> tcp1 PORT_DOWN"
else
	fail "d0 down -> tcp1 PORT_DOWN" "$OUT"
fi
ip -n "$NS" link set d0 up
if poll 3 port_is PORT_ACTIVE; then
	ok "d0 up again -> PORT_ACTIVE"
else
	fail "d0 up again -> PORT_ACTIVE" "$OUT"
fi
if [ "$D0_KIND" = veth ]; then
	ip -n "$NS" link set d0p down
	if poll 3 port_is PORT_DOWN; then
		ok "carrier lost (veth peer down) -> PORT_DOWN"
	else
		fail "carrier lost (veth peer down) -> PORT_DOWN" "$OUT"
	fi
	ip -n "$NS" link set d0p up
	poll 3 port_is PORT_ACTIVE || fail "carrier back -> PORT_ACTIVE" "$OUT"
fi

if [ -n "$AW_PID" ]; then
	# any address change on d0 raises IBV_EVENT_GID_CHANGE
	ip -n "$NS" addr add 192.0.2.99/24 dev d0
	if wait "$AW_PID"; then
		ok "async events: PORT_ERR, PORT_ACTIVE, GID_CHANGE delivered"
	else
		fail "async events: PORT_ERR, PORT_ACTIVE, GID_CHANGE delivered" \
			"$(cat "$AW_LOG")"
	fi
	ip -n "$NS" addr del 192.0.2.99/24 dev d0
fi
rm -f "$AW_LOG"

# The GID table follows the addresses (the monitor rewrites it)
gid_present() {
	devinfo_ns
	[[ $(gids_of "$OUT") == *"$1, RoCE v2"* ]]
}
gid_absent() { ! gid_present "$1"; }

ip -n "$NS" addr add 192.0.2.7/24 dev d0
if poll 3 gid_present ::ffff:192.0.2.7; then
	ok "added 192.0.2.7 appears as a GID within 3 s"
else
	fail "added 192.0.2.7 appears as a GID within 3 s" "$OUT"
fi
if ip -n "$NS" addr add 2001:db8::7/64 dev d0 nodad 2>/dev/null; then
	if poll 3 gid_present 2001:db8::7; then
		ok "added 2001:db8::7 appears as a GID within 3 s"
	else
		fail "added 2001:db8::7 appears as a GID within 3 s" "$OUT"
	fi
else
	echo "# IPv6 unavailable in $NS: IPv6 GID not checked"
fi
ip -n "$NS" addr del 192.0.2.7/24 dev d0
if poll 3 gid_absent ::ffff:192.0.2.7; then
	ok "removed 192.0.2.7 leaves the GID table within 3 s"
else
	fail "removed 192.0.2.7 leaves the GID table within 3 s" "$OUT"
fi
check_match "192.0.2.1 still GID[0]" \
	"GID\[ *0\]:[[:space:]]+::ffff:192\.0\.2\.1, RoCE v2" "$OUT"

# Each namespace sees its own devices only
run_stock "ibv_devices root" ibv_devices
check_match "root namespace lists tcp0" "(^|$NL)tcp0($|$NL)" \
	"$(devices_listed "$OUT")"
check_nomatch "root namespace does not list tcp1" "(^|$NL)tcp1($|$NL)" \
	"$(devices_listed "$OUT")"
run_stock_ns "ibv_devices ns" ibv_devices
check_match "$NS lists tcp1" "(^|$NL)tcp1($|$NL)" "$(devices_listed "$OUT")"
check_nomatch "$NS does not list tcp0" "(^|$NL)tcp0($|$NL)" \
	"$(devices_listed "$OUT")"
run_stock "ibv_devinfo tcp1 from root" ibv_devinfo -d tcp1
check "ibv_devinfo -d tcp1 fails in the root namespace" test "$RC" -ne 0
# tcp0 still fine while tcp1 exists
run_stock "ibv_devinfo tcp0 again" ibv_devinfo -d tcp0
check_match "tcp0 unaffected by tcp1" "state:[[:space:]]+PORT_ACTIVE" "$OUT"

########################################################################
echo "# link del"

cdev_of() {
	local u
	u=$(cat "$SYSFS_PATH/class/infiniband/$1/tcp_uverbs" 2>/dev/null) &&
		printf '/dev/infiniband/%s' "$u"
}
cdev0=$(cdev_of tcp0)
cdev1=$(cdev_of tcp1)
check "tcp0 device node $cdev0 is a character device" test -c "$cdev0"
check "tcp1 device node $cdev1 is a character device" test -c "$cdev1"

if out=$(ip netns exec "$NS" "$RDMA_TCP" link del tcp1 2>&1); then
	ok "link del tcp1"
else
	fail "link del tcp1" "$out"
fi
if out=$("$RDMA_TCP" link del tcp0 2>&1); then
	ok "link del tcp0"
else
	fail "link del tcp0" "$out"
fi
run_stock "ibv_devices after del" ibv_devices
check "ibv_devices exits 0 with no device" test "$RC" -eq 0
check_nomatch "ibv_devices lists no tcp device" "(^|$NL)tcp" \
	"$(devices_listed "$OUT")"
run_stock_ns "ibv_devices ns after del" ibv_devices
check_nomatch "$NS lists no tcp device" "(^|$NL)tcp" "$(devices_listed "$OUT")"
check "tcp0 registry directory gone" test ! -e "$SYSFS_PATH/class/infiniband/tcp0"
check "tcp1 registry directory gone" test ! -e "$SYSFS_PATH/class/infiniband/tcp1"
check "no uverbs entries left" test -z \
	"$(ls "$SYSFS_PATH/class/infiniband_verbs" | grep '^uverbs' || true)"
[ -z "$cdev0" ] || check "$cdev0 removed" test ! -e "$cdev0"
[ -z "$cdev1" ] || check "$cdev1 removed" test ! -e "$cdev1"
check "tcp0 GID monitor stopped" poll 3 gone "$MON0"
check "tcp1 GID monitor stopped" poll 3 gone "$MON1"
show=$("$RDMA_TCP" link show 2>&1)
check_nomatch "link show lists nothing" "tcp[01]" "$show"

finish
