# shellcheck shell=bash
# test_psp.sh's namespaces and devices: sourced, never run.
#
#   net_up               namespaces A -- M -- B and C -- B (veth pairs; A's
#                        and B's routes to each other through M are not
#                        set: only the proxy joins them), once
#   dev_set NS DEV NETDEV ADDR [WORD...]   (re)registers DEV on NETDEV in
#                        namespace NS ("" = here) with the `link add`
#                        words, and waits until it is ACTIVE with GID[0]
#                        ::ffff:ADDR; false (and one failed check) if not
#   mode_words MODE      the `link add` words of a psp mode in the array
#                        MW: none for auth (the default is what is
#                        tested), (psp MODE) otherwise
#   as_nobody CMD...     CMD as user nobody, group nogroup, no other groups

NET_UP=0

net_add() {
	local ns
	for ns in "$NSA" "$NSM" "$NSB" "$NSC"; do
		ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
	done
	ip -n "$NSA" link add vA type veth peer name mA netns "$NSM" &&
		ip -n "$NSM" link add mB type veth peer name vB netns "$NSB" &&
		ip -n "$NSC" link add vC type veth peer name bC netns "$NSB" &&
		ip -n "$NSA" addr add "$IPA/24" dev vA &&
		ip -n "$NSM" addr add "$IPMA/24" dev mA &&
		ip -n "$NSM" addr add "$IPMB/24" dev mB &&
		ip -n "$NSB" addr add "$IPB/24" dev vB &&
		ip -n "$NSB" addr add "$IPBC/24" dev bC &&
		ip -n "$NSC" addr add "$IPC/24" dev vC &&
		ip -n "$NSA" link set vA up && ip -n "$NSM" link set mA up &&
		ip -n "$NSM" link set mB up && ip -n "$NSB" link set vB up &&
		ip -n "$NSB" link set bC up && ip -n "$NSC" link set vC up
}

net_up() {
	local out
	[ "$NET_UP" = 0 ] || return 0
	if out=$(net_add 2>&1); then
		ok "namespaces $NSA -- $NSM -- $NSB, $NSC -- $NSB"
		NET_UP=1
		return 0
	fi
	fail "namespaces $NSA -- $NSM -- $NSB, $NSC -- $NSB" "$out"
	NET_UP=2
	return 1
}

# device $2 in namespace $1 is ACTIVE with GID[0] ::ffff:$3
dev_ready() {
	local out
	sm_prefix
	out=$(in_ns "$1" "${SM_PREFIX[@]}" ibv_devinfo -v -d "$2" 2>&1) &&
		[[ $out =~ state:[[:space:]]+PORT_ACTIVE ]] &&
		[[ $out =~ GID\[[[:space:]]*0\]:[[:space:]]+::ffff:${3//./\\.}, ]]
}

dev_set() {
	local ns=$1 dev=$2 nd=$3 addr=$4 out
	shift 4
	in_ns "$ns" "$RDMA_TCP" link del "$dev" >/dev/null 2>&1
	if ! out=$(in_ns "$ns" "$RDMA_TCP" link add "$dev" netdev "$nd" "$@" 2>&1); then
		fail "link add $dev netdev $nd $*${ns:+ (in $ns)}" "$out"
		return 1
	fi
	if ! poll 10 dev_ready "$ns" "$dev" "$addr"; then
		fail "$dev ACTIVE with GID ::ffff:$addr within 10 s"
		return 1
	fi
}

mode_words() {
	MW=()
	[ "$1" = auth ] || MW=(psp "$1")
}

as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}
