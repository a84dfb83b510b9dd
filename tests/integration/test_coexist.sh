#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Coexistence with kernel RDMA devices, on a kernel that has none.
#
#   tests/integration/test_coexist.sh PATH/TO/rdma-tcp
#
# On a host with ib_core loaded, libibverbs 44 lists devices through RDMA
# netlink, not SYSFS_PATH, and for a device with a driver id (rxe, mlx5...)
# walks every provider's match table (try_drivers -> match_driver_id,
# libibverbs/init.c): a provider without one crashed every program. This
# kernel has no RDMA netlink, so tests/tools/fake_rdma_nl.so (LD_PRELOAD)
# answers libibverbs' NETLINK_RDMA socket as such a kernel would, with the
# devices named in FAKE_RDMA_NL_DEVICES. Their char device is tcp0's
# /dev/infiniband node (this kernel has no uverbs to name), and no kernel
# driver is behind them: they can be listed, never opened.
#
# As root. Private registry with tcp0 on lo. Checks, with stock
# ibv_devices / ibv_devinfo and our provider enabled (RDMAV_DRIVERS):
#  - without the preload: the sysfs path, tcp0 listed;
#  - a fake rxe0 (driver id RDMA_DRIVER_RXE): no crash, netlink was asked,
#    and Debian's rxe provider (loaded after ours) claims rxe0;
#  - nes0 and tcp9 with a driver id no provider of rdma-core 44 has: no
#    crash, neither claimed (tcp9 has our name prefix but is not ours);
#  - ibv_devinfo over all of them: not killed by a signal.
# That tcp0 is not listed beside them is a known limitation (README):
# reported as a note, not checked.
#
# No network traffic at all. Prints one line per check and "N passed,
# N failed"; exit status 1 on any failure, 2 on a usage error.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
san_setup "$RDMA_TCP" || exit 2
need_tools ibv_devices ibv_devinfo
SHIM=$(built tests/tools/fake_rdma_nl.so) || exit 2

# enum rdma_driver_id (rdma/ib_user_ioctl_verbs.h): RXE has a provider in
# rdma-core 44, NES was removed from it
DRIVER_RXE=14
DRIVER_NES=8

lo_device tcp0
UVERBS=$(cat "$RDMA_TCP_ROOT/sys/class/infiniband/tcp0/tcp_uverbs") || exit 2

# A stock tool with the fake netlink of devices $1 (empty: no preload).
# Output (stdout and stderr) in $OUT, status in $RC.
run_nl() {
	local devs=$1 pre=(env "LD_PRELOAD=$SHIM")
	shift
	if [ -n "$devs" ]; then
		# a sanitizer build's shim goes after the sanitizer runtimes
		if [ "$SAN_ACTIVE" = 1 ]; then
			LD_PRELOAD=$SHIM san_refresh
			pre=("${STOCK[@]}")
			san_refresh
		fi
		OUT=$(FAKE_RDMA_NL_DEVICES=$devs FAKE_RDMA_NL_TRACE=1 \
			IBV_SHOW_WARNINGS=1 "${pre[@]}" "$@" 2>&1)
	else
		OUT=$(IBV_SHOW_WARNINGS=1 stock "$@" 2>&1)
	fi
	RC=$?
	if san_report_in "$OUT"; then
		fail "$*: no sanitizer report" "$OUT"
	fi
}

# $1: what; passes if the tool exited by itself (no signal: 128+N)
check_no_signal() {
	if [ "$RC" -lt 128 ]; then
		ok "$1: no crash (exit $RC)"
	else
		fail "$1: no crash" "exit $RC"$'\n'"$OUT"
	fi
}

# 1. this kernel, as it is: no RDMA netlink, SYSFS_PATH lists tcp0
run_nl "" ibv_devices
check "ibv_devices, sysfs path: exit 0" test "$RC" = 0
check_match "ibv_devices, sysfs path: tcp0 listed" $'\n'"[[:space:]]*tcp0[[:space:]]" "$OUT"

# 2. a kernel rxe device beside our provider
run_nl "rxe0:$DRIVER_RXE:$UVERBS" ibv_devices
check_no_signal "ibv_devices, netlink rxe0"
check "ibv_devices, netlink rxe0: exit 0" test "$RC" = 0
check_match "ibv_devices, netlink rxe0: the device dump was asked for" \
	"fake_rdma_nl: answered RDMA_NLDEV_CMD_GET"$'\n' "$OUT"
check_match "ibv_devices, netlink rxe0: its char device was asked for" \
	"answered RDMA_NLDEV_CMD_GET_CHARDEV" "$OUT"
check_match "ibv_devices, netlink rxe0: claimed by the rxe provider" \
	$'\n'"[[:space:]]*rxe0[[:space:]]+0200000000000000" "$OUT"
if [[ $OUT =~ $'\n'[[:space:]]*tcp0[[:space:]] ]]; then
	echo "note - tcp0 listed beside the netlink devices"
else
	echo "note - tcp0 not listed beside the netlink devices (README: Kernels with RDMA netlink)"
fi

# 3. devices no provider claims, one named like ours
run_nl "nes0:$DRIVER_NES:$UVERBS,tcp9:$DRIVER_NES:$UVERBS" ibv_devices
check_no_signal "ibv_devices, netlink nes0 tcp9"
check "ibv_devices, netlink nes0 tcp9: exit 0" test "$RC" = 0
check_match "ibv_devices, netlink nes0 tcp9: nes0 unclaimed" \
	"no userspace device-specific driver found for nes0" "$OUT"
check_match "ibv_devices, netlink nes0 tcp9: tcp9 unclaimed (not in the registry)" \
	"no userspace device-specific driver found for tcp9" "$OUT"

# 4. ibv_devinfo opens each listed device; rxe0 has no kernel behind it, so
# opening it fails, cleanly
run_nl "rxe0:$DRIVER_RXE:$UVERBS,nes0:$DRIVER_NES:$UVERBS" ibv_devinfo
check_no_signal "ibv_devinfo, netlink rxe0 nes0"
check_match "ibv_devinfo, netlink rxe0 nes0: the device dump was asked for" \
	"answered RDMA_NLDEV_CMD_GET"$'\n' "$OUT"

finish
