#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# UCX 1.13 and Open MPI 4.1 over tcp0 on loopback: ucx_perftest's UCT tests
# on rc_verbs, its UCP tests with rc_verbs and ud_verbs only (UCP wire-up
# runs over ud_verbs), and two MPI ranks with pml ucx on the same transports
# running tests/mpi's ping-pong and allreduce, which check their data, and
# io_demo with UCP endpoints created through rdma_cm.
# A few hundred iterations each. No shared memory transport is allowed, so
# everything between the two processes crosses tcp0.
#
# Then across two network namespaces joined by a veth pair (10.85.0.0/24),
# each with a registry of its own, as two hosts have (the second device
# shares the first registry's host key), and a device named tcp1 in both:
# ucx_perftest's UCT tests send the client's device name to the server, so
# they need the same name on both sides. UCT am_lat and put_bw, UCP
# tag_lat and tag_bw, and the MPI ping-pong and allreduce with one rank in
# each namespace: mpirun runs in the first and starts its daemons through
# tests/mpi/netns-agent, an rsh agent that takes host names for
# namespaces and gives each daemon its namespace's registry; Open MPI's
# own TCP traffic stays on the veth pair. Plain build only (the sanitizer
# pass covers the same code on loopback); about 10 s.
#
#   tests/integration/test_ucx.sh PATH/TO/rdma-tcp

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"
# shellcheck source=../lib/sanitize.sh
. "$HERE/../lib/sanitize.sh"

rt_args "$@"
need_tools ucx_perftest
san_setup "$RDMA_TCP"
lo_device tcp0
# UCX opens completion channels: it needs the preload of `rdma-tcp env`
# (in a sanitizer build that starts with the ASan runtime), given to the
# programs only, not to this shell's own tools
eval "$("$RDMA_TCP" env)"
UCXRUN=(env "LD_PRELOAD=$LD_PRELOAD")
unset LD_PRELOAD
if [ "$SAN_ACTIVE" = 1 ]; then
	UCXRUN+=("ASAN_OPTIONS=$SAN_ASAN_OPTIONS" "UBSAN_OPTIONS=$SAN_UBSAN_OPTIONS")
fi
ITERS=${UCX_TEST_ITERS:-300}
WORK=$(mktemp -d /tmp/test_ucx.XXXXXX) || exit 2
NSA=ucxA$$ NSB=ucxB$$ IPA=10.85.0.1 IPB=10.85.0.2
ROOTA=$RDMA_TCP_ROOT ROOTB=
# the namespaces' devices and the second registry
ns_cleanup() {
	if ns_exists "$NSA"; then
		ip netns exec "$NSA" env RDMA_TCP_ROOT="$ROOTA" "$RDMA_TCP" \
			link del tcp1 >/dev/null 2>&1
		ip netns del "$NSA"
	fi
	if ns_exists "$NSB"; then
		[ -n "$ROOTB" ] && ip netns exec "$NSB" env RDMA_TCP_ROOT="$ROOTB" \
			"$RDMA_TCP" link del tcp1 >/dev/null 2>&1
		ip netns del "$NSB"
	fi
	[ -n "$ROOTB" ] && rm -rf "$ROOTB"
}
status() { return "$1"; }
# _lo_device_cleanup exits with the status it finds: the script's, not
# that of the cleanup's last command
cleanup() {
	local rc=$?
	ns_cleanup
	rm -rf "$WORK"
	status "$rc"
	_lo_device_cleanup
}
trap cleanup EXIT


# perftest NAME ARGS...: server and client; the client's "Final:" line is
# the result (iterations must be ITERS), both must exit 0. By default both
# run here over 127.0.0.1; SRV_NS, SRV_ENV (NAME=value words) and the
# same CLI_* put them in namespaces, SRV_ADDR is the server's address.
SRV_NS='' SRV_ENV=() CLI_NS='' CLI_ENV=() SRV_ADDR=127.0.0.1
perftest() {
	local what=$1 port spid out rc src srv=$WORK/server.out
	shift
	port=$(free_port) || {
		fail "$what" "no free port"
		return
	}
	in_ns "$SRV_NS" timeout -k 5 30 "${UCXRUN[@]}" "${SRV_ENV[@]}" \
		ucx_perftest -p "$port" "$@" -n "$ITERS" >"$srv" 2>&1 &
	spid=$!
	if ! poll 10 listening "$SRV_NS" "$port"; then
		kill "$spid" 2>/dev/null
		wait "$spid"
		fail "$what" "server never listened on $port:"$'\n'"$(cat "$srv")"
		return
	fi
	out=$(in_ns "$CLI_NS" timeout -k 5 30 "${UCXRUN[@]}" "${CLI_ENV[@]}" \
		ucx_perftest "$SRV_ADDR" -p "$port" "$@" -n "$ITERS" 2>&1)
	rc=$?
	wait "$spid"
	src=$?
	if [ "$rc" -ne 0 ] || [ "$src" -ne 0 ]; then
		fail "$what" "client exit $rc, server $src:"$'\n'"$out"$'\n'"server:"$'\n'"$(cat "$srv")"
		return
	fi
	check_match "$what" "Final: +$ITERS +[0-9.]+ " "$out"
}

UCT=(-x rc_verbs -d tcp0:1)
for t in am_lat am_bw put_lat put_bw; do
	perftest "UCT $t over rc_verbs/tcp0:1" -t "$t" "${UCT[@]}"
done
# rc_verbs has no "get short" (an RDMA READ lands in registered memory)
for d in bcopy zcopy; do
	perftest "UCT get ($d) over rc_verbs/tcp0:1" -t get -D "$d" -s 4096 "${UCT[@]}"
done

export UCX_TLS=rc_verbs,ud_verbs,self UCX_NET_DEVICES=tcp0:1
for t in tag_lat tag_bw ucp_put_bw ucp_get; do
	perftest "UCP $t over $UCX_TLS" -t "$t"
done

# io_demo: UCP endpoints made by rdma_cm (the preload; UCX's rdmacm
# connection manager creates a UD QP on its id), reads and writes of
# 1-64 KiB whose data it checks (-q); the server serves until stopped
iodemo() {
	local what="io_demo, endpoints by rdma_cm (UCX_SOCKADDR_TLS_PRIORITY=rdmacm)"
	local port spid out rc srv=$WORK/iodemo.out
	local args=(-q -d 1024:65536 -p)
	port=$(free_port) || {
		fail "$what" "no free port"
		return
	}
	UCX_SOCKADDR_TLS_PRIORITY=rdmacm timeout -k 5 40 "${UCXRUN[@]}" \
		io_demo "${args[@]}" "$port" >"$srv" 2>&1 &
	spid=$!
	if ! poll 10 listening "" "$port"; then
		kill "$spid" 2>/dev/null
		wait "$spid"
		fail "$what" "server never listened on $port:"$'\n'"$(cat "$srv")"
		return
	fi
	out=$(UCX_SOCKADDR_TLS_PRIORITY=rdmacm timeout -k 5 30 "${UCXRUN[@]}" \
		io_demo 127.0.0.1 "${args[@]}" "$port" -i "$ITERS" -o read,write \
		-c 1 2>&1)
	rc=$?
	kill "$spid" 2>/dev/null
	wait "$spid"
	if [ "$rc" -ne 0 ]; then
		fail "$what" "client exit $rc:"$'\n'"$out"$'\n'"server:"$'\n'"$(cat "$srv")"
		return
	fi
	check_match "$what" "total min:$ITERS max:$ITERS total:$ITERS " "$out"
}
iodemo

# Open MPI: mpirun and the ranks get the preload (and in a sanitizer build
# the ASan options: leak detection off, Open MPI's own leaks are not ours)
if ! command -v mpicc >/dev/null || ! command -v mpirun >/dev/null; then
	fail "Open MPI present" "mpicc/mpirun not found (bash tests/lib/deps.sh)"
else
	MPIFLAGS=(-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O2)
	check "mpicc builds tests/mpi" sh -c \
		"mpicc ${MPIFLAGS[*]} -o $WORK/pingpong $HERE/../mpi/pingpong.c &&
		 mpicc ${MPIFLAGS[*]} -o $WORK/allreduce $HERE/../mpi/allreduce.c"
	# rtc_hwloc_vmhole none: Open MPI 4.1's daemons otherwise map the
	# hwloc topology into shared memory at an address they guess free,
	# and an orted once crashed writing it there (SIGSEGV in
	# hwloc_shmem_topology_write, before any rank ran); the ranks then
	# read the topology themselves
	MPIRUN=(timeout -k 5 60 "${UCXRUN[@]}" mpirun --allow-run-as-root --oversubscribe -np 2
		--mca rtc_hwloc_vmhole none --mca pml ucx -x LD_PRELOAD -x UCX_TLS -x UCX_NET_DEVICES -x SYSFS_PATH
		-x RDMAV_DRIVERS -x RDMA_TCP_ROOT)
	[ "$SAN_ACTIVE" = 1 ] && MPIRUN+=(-x ASAN_OPTIONS -x UBSAN_OPTIONS)
	out=$("${MPIRUN[@]}" "$WORK/pingpong" -n "$ITERS" -s 262144 2>&1)
	check_match "MPI ping-pong, pml ucx on tcp0 (1 B .. 256 KiB)" \
		"pingpong: OK \(0 mismatches\)" "$out"
	out=$("${MPIRUN[@]}" "$WORK/allreduce" -n 20 -c 65536 2>&1)
	check_match "MPI allreduce, pml ucx on tcp0" \
		"allreduce: OK \(2 ranks, 20 x 65536 longs, 0 mismatches\)" "$out"
fi

# ---- across two namespaces (plain build only) ----
# tcp1 in NS (registry ROOT) is up: its port active, GID 0 ADDR's
ns_dev_ready() {
	local out
	out=$(ip netns exec "$1" env SYSFS_PATH="$2/sys" RDMA_TCP_ROOT="$2" \
		ibv_devinfo -v -d tcp1 2>&1) &&
		[[ $out =~ state:[[:space:]]+PORT_ACTIVE ]] &&
		[[ $out =~ GID\[[[:space:]]*0\]:[[:space:]]+::ffff:${3//./\\.}, ]]
}
setup_ns() {
	local out
	out=$(veth_pair "$NSA" "$IPA" "$NSB" "$IPB" 2>&1) || {
		fail "namespaces $NSA, $NSB joined by a veth pair" "$out"
		return 1
	}
	ROOTB=$(mktemp -d /tmp/rdma-tcp-test.XXXXXX) || return 1
	out=$(ip netns exec "$NSA" env RDMA_TCP_ROOT="$ROOTA" "$RDMA_TCP" \
		link add tcp1 netdev vethA 2>&1 &&
		ip netns exec "$NSB" env RDMA_TCP_ROOT="$ROOTB" "$RDMA_TCP" \
			link add tcp1 netdev vethB key "$ROOTA/etc/host.key" 2>&1) &&
		poll 10 ns_dev_ready "$NSA" "$ROOTA" "$IPA" &&
		poll 10 ns_dev_ready "$NSB" "$ROOTB" "$IPB" || {
		fail "tcp1 in $NSA and in $NSB (registries of their own), ports active" "$out"
		return 1
	}
	ok "tcp1 in $NSA ($IPA) and in $NSB ($IPB), a registry each, joined by a veth pair"
}
if [ "$SAN_ACTIVE" = 1 ]; then
	echo "# namespaces: plain build only"
elif setup_ns; then
	SRV_NS=$NSA SRV_ENV=(SYSFS_PATH="$ROOTA/sys" RDMA_TCP_ROOT="$ROOTA")
	CLI_NS=$NSB CLI_ENV=(SYSFS_PATH="$ROOTB/sys" RDMA_TCP_ROOT="$ROOTB")
	SRV_ADDR=$IPA
	unset UCX_TLS UCX_NET_DEVICES
	for t in am_lat put_bw; do
		perftest "UCT $t over rc_verbs/tcp1:1 across namespaces" -t "$t" \
			-x rc_verbs -d tcp1:1
	done
	export UCX_TLS=rc_verbs,ud_verbs,self UCX_NET_DEVICES=tcp1:1
	for t in tag_lat tag_bw; do
		perftest "UCP $t over $UCX_TLS across namespaces" -t "$t"
	done
	if [ -x "$WORK/pingpong" ] && [ -x "$WORK/allreduce" ]; then
		# the "hosts": the daemon in each namespace gets its registry
		mkdir -p "$WORK/nsenv"
		printf 'RDMA_TCP_ROOT=%s\nSYSFS_PATH=%s/sys\n' "$ROOTA" "$ROOTA" \
			>"$WORK/nsenv/$NSA"
		printf 'RDMA_TCP_ROOT=%s\nSYSFS_PATH=%s/sys\n' "$ROOTB" "$ROOTB" \
			>"$WORK/nsenv/$NSB"
		printf '%s slots=1\n%s slots=1\n' "$NSA" "$NSB" >"$WORK/hosts"
		MPIRUN=(ip netns exec "$NSA" timeout -k 5 60 "${UCXRUN[@]}"
			NETNS_AGENT_ENV="$WORK/nsenv" mpirun --allow-run-as-root -np 2
			--hostfile "$WORK/hosts" --mca rtc_hwloc_vmhole none
			--mca plm_rsh_agent "$HERE/../mpi/netns-agent"
			--mca oob_tcp_if_include 10.85.0.0/24
			--mca btl_tcp_if_include 10.85.0.0/24 --mca pml ucx
			-x LD_PRELOAD -x RDMAV_DRIVERS -x UCX_TLS -x UCX_NET_DEVICES)
		out=$("${MPIRUN[@]}" "$WORK/pingpong" -n 50 -s 65536 2>&1)
		check_match "MPI ping-pong across namespaces, pml ucx on tcp1 (1 B .. 64 KiB)" \
			"pingpong: OK \(0 mismatches\)" "$out"
		out=$("${MPIRUN[@]}" "$WORK/allreduce" -n 10 -c 65536 2>&1)
		check_match "MPI allreduce across namespaces, pml ucx on tcp1" \
			"allreduce: OK \(2 ranks, 10 x 65536 longs, 0 mismatches\)" "$out"
	fi
fi
finish
