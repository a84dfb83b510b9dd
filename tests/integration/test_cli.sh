#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Integration test of the rdma-tcp command-line tool. Run as root:
#
#	tests/integration/test_cli.sh build/kernel-glue/rdma-tcp
#
# Works in a temporary RDMA_TCP_ROOT and, when unshare(1) can, in a private
# network namespace, so the test netdev and its addresses never touch the
# host's network (RTCP_TEST_IN_NETNS=no: stay in the current namespace). /dev/infiniband is shared with the host: the test only
# looks at the nodes its own devices name. The security words (psp, alg,
# key, cert, group, link set/rotate) are checked against files and
# fingerprints computed here with coreutils and openssl(1). Prints one line per check and
# ends with "N passed, N failed"; exits nonzero on any failure.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"

rt_args "$@"
BIN=$RDMA_TCP

# Re-run inside a fresh network namespace, whose lo starts down.
# RTCP_TEST_IN_NETNS=no runs in the current one instead.
if [ -z "${RTCP_TEST_IN_NETNS:-}" ] && unshare --net true 2>/dev/null; then
	exec unshare --net env RTCP_TEST_IN_NETNS=1 bash "$0" "$@"
fi
if [ "${RTCP_TEST_IN_NETNS:-}" == 1 ]; then
	ip link set lo up
fi

TESTDEV=rtcpdummy0
TESTPEER=rtcpdummy0p
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
MAPPED_LO=0000:0000:0000:0000:0000:ffff:7f00:0001
MAPPED_T1=0000:0000:0000:0000:0000:ffff:7f01:0001
MAPPED_T77=0000:0000:0000:0000:0000:ffff:7f01:004d
ZERO_GID=0000:0000:0000:0000:0000:0000:0000:0000
V6_LO=0000:0000:0000:0000:0000:0000:0000:0001

WORK=$(mktemp -d /tmp/rtcp-cli-test.XXXXXX)
ROOT=$WORK/root
mkdir -p "$ROOT"
export RDMA_TCP_ROOT=$ROOT
IB=$ROOT/sys/class/infiniband
VERBS=$ROOT/sys/class/infiniband_verbs
OUT=$WORK/stdout
ERR=$WORK/stderr
# nobody must reach the binary and read ROOT
chmod 755 "$WORK" "$ROOT"
cp "$BIN" "$WORK/rdma-tcp-copy"
chmod 755 "$WORK/rdma-tcp-copy"

cleanup() {
	local pidf name
	for pidf in "$ROOT"/run/*.pid; do
		[ -f "$pidf" ] || continue
		name=$(basename "$pidf" .pid)
		"$BIN" link del "$name" >/dev/null 2>&1
	done
	for name in "$IB"/tcp*; do
		[ -d "$name" ] && "$BIN" link del "$(basename "$name")" \
			>/dev/null 2>&1
	done
	for name in tcp4 tcp5 tcp6; do
		[ -d "$WORK/root2/sys/class/infiniband/$name" ] &&
			RDMA_TCP_ROOT=$WORK/root2 "$BIN" link del "$name" \
				>/dev/null 2>&1
	done
	for name in $(our_monitors); do
		kill "$name" 2>/dev/null
	done
	ip link del "$TESTDEV" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# run_rc COMMAND...: run with stdout/stderr in $OUT/$ERR; status in $RC
run_rc() {
	"$@" >"$OUT" 2>"$ERR"
	RC=$?
}

# expect_rc STATUS DESCRIPTION COMMAND...
expect_rc() {
	local want=$1 desc=$2
	shift 2
	run_rc "$@"
	if [ "$RC" -eq "$want" ]; then
		ok "$desc (exit $want)"
	else
		fail "$desc (exit $want)" "got exit $RC: $(head -c 300 "$ERR")"
	fi
}

# eq DESCRIPTION GOT WANT
eq() {
	if [ "$2" == "$3" ]; then
		ok "$1"
	else
		fail "$1" "got '$2', want '$3'"
	fi
}

# A process is gone when it does not exist or is a zombie (init here may
# reap late; a zombie holds no files and gets no events).
proc_alive() {
	local st
	st=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

proc_gone() {
	! proc_alive "$1"
}

attr() {
	cat "$IB/$1/$2" 2>/dev/null
}

# key_fp FILE: the SHA-256 (64 hex digits) of the 32 bytes a key
# file's 64 hex digits stand for (what `link show` must print)
key_fp() {
	local hex esc="" i
	hex=$(tr -d '\n' <"$1")
	for ((i = 0; i < ${#hex}; i += 2)); do
		esc+="\\x${hex:i:2}"
	done
	# shellcheck disable=SC2059 # the format is the bytes
	printf "$esc" | sha256sum | cut -c1-64
}

gid_table_has() {
	grep -qx "$2" "$IB/$1"/ports/1/gids/* 2>/dev/null
}

gid_table_lacks() {
	! gid_table_has "$@"
}

# Everything that names device $1 anywhere in ROOT or as a live monitor.
traces_of() {
	local name=$1 d
	[ -e "$IB/$name" ] && echo "dir $IB/$name"
	[ -e "$ROOT/run/$name.pid" ] && echo "pidfile"
	for d in "$VERBS"/uverbs*; do
		[ "$(cat "$d/ibdev" 2>/dev/null)" == "$name" ] && echo "uverbs $d"
	done
	for d in "$IB"/.stage* "$VERBS"/.stage*; do
		[ -e "$d" ] && echo "stage $d"
	done
}

# Live GID monitors of this test's ROOT (optionally: of device $1). Other
# rdma-tcp users on the host have monitors too; ours carry our
# RDMA_TCP_ROOT in their environment and the device in their command line
# (they are forks of `rdma-tcp link add NAME ...`).
our_monitors() {
	local p
	for p in $(pgrep -x rdma-tcp-gidmon); do
		proc_alive "$p" || continue
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			grep -qxF "RDMA_TCP_ROOT=$ROOT" || continue
		if [ $# -gt 0 ]; then
			tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null |
				grep -qxF "$1" || continue
		fi
		echo "$p"
	done
}

# true once no monitor of this test (of device $1) is left; evaluated at
# each poll, not once before it
no_monitors() { [ -z "$(our_monitors "$@")" ]; }

make_testdev() {
	# dummy where the module exists, else a veth pair (both ends up, or
	# it has no carrier and shows DOWN)
	if ip link add "$TESTDEV" type dummy 2>/dev/null; then
		:
	elif ip link add "$TESTDEV" type veth peer name "$TESTPEER" 2>/dev/null; then
		ip link set "$TESTPEER" up
	else
		return 1
	fi
	# no IPv6 link-local: keeps the table to the IPv4 address under test
	sysctl -qw "net.ipv6.conf.$TESTDEV.disable_ipv6=1" 2>/dev/null
	ip link set "$TESTDEV" up && ip addr add 127.1.0.1/32 dev "$TESTDEV"
}

echo "# rdma-tcp: $BIN"
echo "# RDMA_TCP_ROOT: $ROOT"

### malformed command lines: usage on stderr, exit 2
for args in "" "bogus" "--bogus" "link add" "link add tcp0" \
	"link add tcp0 netdev" "link add tcp0 netdev lo extra" \
	"link add tcp0 netdev lo netdev lo" "link add tcp0 netdev lo type rxe" \
	"link add tcp0 type" "link del" "link del tcp0 tcp1" "link frob" \
	"link show tcp0 extra" "link show -j" "env extra" "run" "run --" \
	"help extra" "link set" "link set tcp0" "link set tcp0 psp" \
	"link set tcp0 psp bogus" "link add tcp0 netdev lo alg aes192" \
	"link add tcp0 netdev lo psp auth psp off" \
	"link add tcp0 netdev lo cert /c" "link add tcp0 netdev lo cert /c ca /a" \
	"link add tcp0 netdev lo key /k cert /c certkey /k ca /a" \
	"link add tcp0 netdev lo psp off key /k" \
	"link add tcp0 netdev lo key /k group rdma" \
	"link rotate" "link rotate tcp0 tcp1"; do
	# shellcheck disable=SC2086 # word splitting wanted
	expect_rc 2 "malformed: rdma-tcp $args" "$BIN" $args
	if grep -q '^Usage:' "$ERR" && [ ! -s "$OUT" ]; then
		ok "malformed: rdma-tcp $args: usage on stderr only"
	else
		fail "malformed: rdma-tcp $args: usage on stderr only"
	fi
done

for args in help -h --help "link help"; do
	# shellcheck disable=SC2086
	expect_rc 0 "rdma-tcp $args" "$BIN" $args
	check "rdma-tcp $args prints usage on stdout" grep -q '^Usage:' "$OUT"
done
expect_rc 0 "rdma-tcp --version" "$BIN" --version
check "--version prints the version" \
	grep -qE '^rdma-tcp [0-9]+\.[0-9]+\.[0-9]+$' "$OUT"
expect_rc 0 "rdma-tcp -V" "$BIN" -V

### no devices yet
expect_rc 0 "link show with no devices" "$BIN" link show
check "link show with no devices prints nothing" test ! -s "$OUT"

### non-root
expect_rc 1 "link add as nobody" \
	"${NOBODY[@]}" "$WORK/rdma-tcp-copy" link add tcp0 netdev lo
check "link add as nobody says why" \
	grep -q "must be root to add devices" "$ERR"
eq "link add as nobody made nothing" "$(traces_of tcp0)" ""
expect_rc 1 "link del as nobody" \
	"${NOBODY[@]}" "$WORK/rdma-tcp-copy" link del tcp0
check "link del as nobody says why" grep -q "must be root" "$ERR"

### invalid input
for name in foo0 Tcp0 tcp/0 "tcp 0" "tcp0;x" \
	tcp0123456789012345678901234567890123456789012345678901234567890; do
	expect_rc 1 "bad device name '$name'" "$BIN" link add "$name" netdev lo
	eq "bad device name '$name' made nothing" "$(traces_of "$name")" ""
done
check "bad device name message" grep -q "invalid device name" "$ERR"
expect_rc 1 "unknown netdev" "$BIN" link add tcp0 netdev nosuchnetdev0
check "unknown netdev message names it" grep -q "nosuchnetdev0" "$ERR"
eq "unknown netdev made nothing" "$(traces_of tcp0)" ""
expect_rc 1 "invalid netdev name" "$BIN" link add tcp0 netdev "a/b"
expect_rc 1 "relative RDMA_TCP_ROOT" \
	env RDMA_TCP_ROOT=relative/root "$BIN" link add tcp0 netdev lo
check "relative RDMA_TCP_ROOT made nothing" test ! -e relative/root
expect_rc 1 "link del of an unknown device" "$BIN" link del tcp7
check "link del unknown says so" grep -q "no such device" "$ERR"
expect_rc 1 "link show of an unknown device" "$BIN" link show tcp7

### tcp0 on lo (with a hostile umask: the files must still be 0644)
# shellcheck disable=SC2016 # $0 is the inner shell's
run_rc bash -c 'umask 077; exec "$0" link add tcp0 netdev lo' "$BIN"
eq "link add tcp0 netdev lo: exit status" "$RC" 0
check "link add prints nothing on stdout" test ! -s "$OUT"
check "link add prints nothing on stderr" test ! -s "$ERR"

UV0=$(attr tcp0 tcp_uverbs)
check "tcp_uverbs is uverbsN" grep -qxE 'uverbs[0-9]+' "$IB/tcp0/tcp_uverbs"
eq "class abi_version" "$(cat "$VERBS/abi_version" 2>/dev/null)" 6
eq "$UV0/ibdev" "$(cat "$VERBS/$UV0/ibdev" 2>/dev/null)" tcp0
eq "$UV0/dev" "$(cat "$VERBS/$UV0/dev" 2>/dev/null)" 1:7
eq "$UV0/abi_version" "$(cat "$VERBS/$UV0/abi_version" 2>/dev/null)" 1
eq "/dev/infiniband/$UV0 is char 1:7 mode 666" \
	"$(stat -c '%F %t:%T %a' "/dev/infiniband/$UV0" 2>/dev/null)" \
	"character special file 1:7 666"
eq "node_type" "$(attr tcp0 node_type)" "1: CA"
check "node_guid format" grep -qxE '([0-9a-f]{4}:){3}[0-9a-f]{4}' \
	"$IB/tcp0/node_guid"
eq "sys_image_guid = node_guid" "$(attr tcp0 sys_image_guid)" \
	"$(attr tcp0 node_guid)"
check "fw_ver is a version" grep -qxE '[0-9]+\.[0-9]+\.[0-9]+' \
	"$IB/tcp0/fw_ver"
eq "hw_rev" "$(attr tcp0 hw_rev)" 0
eq "hca_type" "$(attr tcp0 hca_type)" tcp
eq "node_desc" "$(attr tcp0 node_desc)" "$(hostname) tcp0"
eq "parent" "$(attr tcp0 parent)" lo
eq "tcp_netns" "$(attr tcp0 tcp_netns)" "$(stat -L -c %i /proc/self/ns/net)"
eq "link_layer" "$(attr tcp0 ports/1/link_layer)" Ethernet
eq "pkeys/0" "$(attr tcp0 ports/1/pkeys/0)" 0xffff
eq "gids/0 is 127.0.0.1 mapped" "$(attr tcp0 ports/1/gids/0)" "$MAPPED_LO"
check "::1 is in the GID table" gid_table_has tcp0 "$V6_LO"
eq "gids/15 is zero" "$(attr tcp0 ports/1/gids/15)" "$ZERO_GID"
eq "16 GID entries" \
	"$(find "$IB/tcp0/ports/1/gids" -name '[0-9]*' | wc -l)" 16
eq "every gid type is RoCE v2" \
	"$(cat "$IB"/tcp0/ports/1/gid_attrs/types/* | sort -u)" "RoCE v2"
eq "ndevs/0" "$(attr tcp0 ports/1/gid_attrs/ndevs/0)" lo
check "ndevs/15 is an empty file" test -f "$IB/tcp0/ports/1/gid_attrs/ndevs/15" -a \
	! -s "$IB/tcp0/ports/1/gid_attrs/ndevs/15"
eq "files are 0644 despite umask 077" \
	"$(stat -c %a "$IB/tcp0/node_guid" "$IB/tcp0/ports/1/gids/0" \
		"$VERBS/$UV0/dev" | sort -u)" 644
eq "dirs are 0755 despite umask 077" \
	"$(stat -c %a "$IB/tcp0" "$IB/tcp0/ports/1/gids" "$VERBS/$UV0" | sort -u)" 755
PID0=$(cat "$ROOT/run/tcp0.pid" 2>/dev/null)
check "monitor of tcp0 is running" proc_alive "${PID0:-0}"
eq "monitor comm" "$(cat "/proc/${PID0:-0}/comm" 2>/dev/null)" rdma-tcp-gidmon
eq "the monitor finder finds it" "$(our_monitors tcp0)" "$PID0"
# double fork: a session of its own, but not its leader (no tty again)
SID0=$(ps -o sid= -p "${PID0:-0}" | tr -d ' ')
check "monitor is in a new session it does not lead" \
	test -n "$SID0" -a "$SID0" != "$(ps -o sid= -p $$ | tr -d ' ')" \
	-a "$SID0" != "${PID0:-0}"
eq "monitor has stdio on /dev/null" \
	"$(readlink "/proc/${PID0:-0}/fd/0" "/proc/${PID0:-0}/fd/1" \
		"/proc/${PID0:-0}/fd/2" | sort -u)" /dev/null

### security defaults: auth with the host key, made once, 0600
HOSTKEY=$ROOT/etc/host.key
check "link add made the host key" test -f "$HOSTKEY"
eq "host key is root's, mode 0600" "$(stat -c '%U:%G %a' "$HOSTKEY")" \
	"root:root 600"
check "host key is 64 hex digits and a newline" \
	test "$(grep -cxE '[0-9a-f]{64}' "$HOSTKEY")" = 1 -a \
	"$(stat -c %s "$HOSTKEY")" = 65
eq "tcp_psp names mode, alg and the host key" "$(attr tcp0 tcp_psp)" \
	"mode auth
alg aes128
key $HOSTKEY"
eq "tcp_psp_rotation starts at 0" "$(attr tcp0 tcp_psp_rotation)" 0
eq "tcp_psp and tcp_psp_rotation are 0644" \
	"$(stat -c %a "$IB/tcp0/tcp_psp" "$IB/tcp0/tcp_psp_rotation" | sort -u)" 644
HOSTFP=$(key_fp "$HOSTKEY")
PSP_DEF="psp auth aes128 key sha256:$HOSTFP"

### show
LINE0_DEV="link tcp0/1 state ACTIVE physical_state LINK_UP netdev lo"
LINE0="$LINE0_DEV $PSP_DEF"
for args in "link" "link show" "link list" "link show tcp0" "link show tcp0/1"; do
	# shellcheck disable=SC2086
	run_rc "$BIN" $args
	eq "rdma-tcp $args" "$RC $(cat "$OUT")" "0 $LINE0"
done
expect_rc 1 "link show tcp0/2" "$BIN" link show tcp0/2
# nobody may not read the host key: no fingerprint, and no refusal either
run_rc "${NOBODY[@]}" "$WORK/rdma-tcp-copy" link show
eq "link show as nobody" "$RC $(cat "$OUT")" \
	"0 $LINE0_DEV psp auth aes128 key (unreadable)"
if unshare --net true 2>/dev/null; then
	run_rc unshare --net "$BIN" link show
	eq "link show from another netns: absent" "$RC $(cat "$OUT")" \
		"0 link tcp0/1 state DOWN physical_state DISABLED netdev lo (absent) $PSP_DEF"
fi

### duplicate
expect_rc 1 "duplicate link add tcp0" "$BIN" link add tcp0 netdev lo
check "duplicate says it exists" grep -q "already exists" "$ERR"
eq "duplicate left tcp0 alone" \
	"$(cat "$ROOT/run/tcp0.pid") $(cat "$VERBS/$UV0/ibdev")" "$PID0 tcp0"
check "tcp0 monitor survived the duplicate" proc_alive "$PID0"

### a second device on a second netdev
if make_testdev; then
	HOSTKEY_ID=$(stat -c '%i %Y' "$HOSTKEY")
	expect_rc 0 "link add tcp1 type tcp netdev $TESTDEV" \
		"$BIN" link add tcp1 type tcp netdev "$TESTDEV"
	eq "tcp1 reuses the host key (same file, same key)" \
		"$(stat -c '%i %Y' "$HOSTKEY") $(key_fp "$HOSTKEY")" \
		"$HOSTKEY_ID $HOSTFP"
	eq "tcp1 names the host key" "$(sed -n 's/^key //p' "$IB/tcp1/tcp_psp")" \
		"$HOSTKEY"
	UV1=$(attr tcp1 tcp_uverbs)
	check "tcp1 has its own uverbs index" test -n "$UV1" -a "$UV1" != "$UV0"
	eq "$UV1/ibdev" "$(cat "$VERBS/$UV1/ibdev" 2>/dev/null)" tcp1
	check "tcp1 node_guid differs from tcp0's" \
		test "$(attr tcp1 node_guid)" != "$(attr tcp0 node_guid)"
	eq "tcp1 gids/0 is 127.1.0.1 mapped" "$(attr tcp1 ports/1/gids/0)" \
		"$MAPPED_T1"
	eq "tcp1 ndevs/0" "$(attr tcp1 ports/1/gid_attrs/ndevs/0)" "$TESTDEV"
	run_rc "$BIN" link show
	eq "link show lists both, in order" "$(cat "$OUT")" \
		"$LINE0
link tcp1/1 state ACTIVE physical_state LINK_UP netdev $TESTDEV $PSP_DEF"
	PID1=$(cat "$ROOT/run/tcp1.pid" 2>/dev/null)
	check "monitor of tcp1 is running" proc_alive "${PID1:-0}"

	ip addr add 127.1.0.77/32 dev "$TESTDEV"
	check "monitor adds a new address within 3 s" \
		poll 3 gid_table_has tcp1 "$MAPPED_T77"
	eq "gids/0 stays 127.1.0.1" "$(attr tcp1 ports/1/gids/0)" "$MAPPED_T1"
	ip addr del 127.1.0.77/32 dev "$TESTDEV"
	check "monitor drops a deleted address within 3 s" \
		poll 3 gid_table_lacks tcp1 "$MAPPED_T77"
	eq "tcp0 table untouched by tcp1's netdev" \
		"$(attr tcp0 ports/1/gids/0)" "$MAPPED_LO"

	ip link set "$TESTDEV" down
	run_rc "$BIN" link show tcp1
	eq "netdev down: state DOWN" "$(cat "$OUT")" \
		"link tcp1/1 state DOWN physical_state DISABLED netdev $TESTDEV $PSP_DEF"
	ip link set "$TESTDEV" up
	# a down link loses no IPv4 address; bring it back for the next step
	ip addr replace 127.1.0.1/32 dev "$TESTDEV"

	ip link del "$TESTDEV"
	check "netdev gone: GID table zeroed within 3 s" \
		poll 3 gid_table_lacks tcp1 "$MAPPED_T1"
	eq "netdev gone: gids/0 zero" "$(attr tcp1 ports/1/gids/0)" "$ZERO_GID"
	eq "netdev gone: ndevs/0 empty" \
		"$(stat -c %s "$IB/tcp1/ports/1/gid_attrs/ndevs/0")" 0
	run_rc "$BIN" link show tcp1
	eq "netdev gone: show says absent" "$(cat "$OUT")" \
		"link tcp1/1 state DOWN physical_state DISABLED netdev $TESTDEV (absent) $PSP_DEF"
	check "monitor keeps running without its netdev" proc_alive "$PID1"
	make_testdev
	check "netdev back: table filled again within 3 s" \
		poll 3 gid_table_has tcp1 "$MAPPED_T1"
else
	fail "cannot create a dummy or veth netdev for the two-device tests"
fi

### env and run
run_rc env -u RDMAV_DRIVERS -u LD_PRELOAD "$BIN" env
eq "env exit status" "$RC" 0
check "env sets SYSFS_PATH" grep -qx "export SYSFS_PATH=$ROOT/sys" "$OUT"
check "env sets RDMAV_DRIVERS without the suffix" \
	grep -qE '^export RDMAV_DRIVERS=/.*/libtcp$' "$OUT"
check "env sets RDMA_TCP_ROOT (not the default)" \
	grep -qx "export RDMA_TCP_ROOT=$ROOT" "$OUT"
if grep -q '^export LD_PRELOAD=' "$OUT"; then
	check "env LD_PRELOAD names an existing librdmacm-ext" \
		test -f "$(sed -n "s/^export LD_PRELOAD='\{0,1\}\([^:' ]*\).*/\1/p" "$OUT")"
fi
run_rc env RDMA_TCP_PROVIDER=/opt/x/libtcp-rdmav34.so "$BIN" env
check "RDMA_TCP_PROVIDER overrides, suffix stripped" \
	grep -qx "export RDMAV_DRIVERS=/opt/x/libtcp" "$OUT"
run_rc env RDMA_TCP_PROVIDER=/opt/x/libtcp RDMAV_DRIVERS=/opt/y/libother \
	"$BIN" env
check "env keeps an existing RDMAV_DRIVERS behind ours" \
	grep -qx "export RDMAV_DRIVERS=/opt/x/libtcp:/opt/y/libother" "$OUT"
QROOT="$WORK/it's a \$root"
run_rc env RDMA_TCP_ROOT="$QROOT" "$BIN" env
# shellcheck disable=SC2016 # expanded by the inner shell
GOT=$(env -i PATH="$PATH" bash -c 'eval "$(cat "$0")"; printf %s "$SYSFS_PATH|$RDMA_TCP_ROOT"' "$OUT")
eq "env output survives eval with quotes and \$ in ROOT" "$GOT" \
	"$QROOT/sys|$QROOT"
run_rc env -u RDMA_TCP_ROOT "$BIN" env
# shellcheck disable=SC2016 # $0 is the inner shell's
check "default ROOT: no RDMA_TCP_ROOT export" \
	bash -c '! grep -q RDMA_TCP_ROOT "$0" && grep -qx "export SYSFS_PATH=/run/rdma-tcp/sys" "$0"' "$OUT"
run_rc "$BIN" run -- env
check "run -- env shows SYSFS_PATH" grep -qx "SYSFS_PATH=$ROOT/sys" "$OUT"
check "run -- env shows RDMAV_DRIVERS" grep -q "^RDMAV_DRIVERS=/" "$OUT"
run_rc "$BIN" run env
check "run env (no --) works" grep -qx "SYSFS_PATH=$ROOT/sys" "$OUT"
run_rc "$BIN" run -- sh -c 'exit 7'
eq "run passes the exit status through" "$RC" 7
expect_rc 127 "run of a missing command" "$BIN" run -- /nonexistent/cmd

### security: link set, link rotate, key files, certificates
# Every `link show` output of this section, to prove no key hex ever shows
SHOWN=$WORK/shown
: >"$SHOWN"
show() {
	run_rc "$@"
	cat "$OUT" >>"$SHOWN"
}
psp_of() { sed "s|^$LINE0_DEV ||" "$OUT"; }

show "$BIN" link set tcp0 psp off
eq "link set tcp0 psp off" "$RC $(cat "$ERR")" "0 "
show "$BIN" link show tcp0
eq "psp off shows UNAUTHENTICATED" "$(psp_of)" "psp off (UNAUTHENTICATED)"
check "tcp_psp says mode off" grep -qx "mode off" "$IB/tcp0/tcp_psp"
show "$BIN" link set tcp0 psp auth
show "$BIN" link show tcp0
eq "back to auth: the host key again" "$(psp_of)" "$PSP_DEF"

# a key file of the caller's, by mode
K1=$WORK/k1.key
K2=$WORK/k2.key
openssl rand -hex 32 >"$K1"
openssl rand -hex 32 >"$K2"
PSP_BEFORE=$(attr tcp0 tcp_psp)
for mode in 644 604 660 620; do
	chmod "$mode" "$K1"
	expect_rc 1 "key file mode $mode refused" "$BIN" link set tcp0 key "$K1"
	case $mode in
	6?0) why="writable by its group" ;;
	*) why="accessible to every user" ;;
	esac
	check "key file mode $mode: the message says why and how to fix it" \
		grep -q "key file $K1 is $why (mode 0$mode): refused; chmod 600" "$ERR"
done
eq "refused keys left tcp_psp alone" "$(attr tcp0 tcp_psp)" "$PSP_BEFORE"
chmod 644 "$K1"
expect_rc 1 "link add with a 0644 key" "$BIN" link add tcp4 netdev lo key "$K1"
eq "link add with a 0644 key made nothing" "$(traces_of tcp4)" ""
chmod 600 "$K1"
show "$BIN" link set tcp0 key "$K1"
eq "link set tcp0 key K1 (0600)" "$RC $(cat "$ERR")" "0 "
show "$BIN" link show tcp0
FP1=$(key_fp "$K1")
eq "link show: K1's fingerprint" "$(psp_of)" "psp auth aes128 key sha256:$FP1"
check "K1's fingerprint differs from the host key's" test "$FP1" != "$HOSTFP"
eq "tcp_psp names K1" "$(sed -n 's/^key //p' "$IB/tcp0/tcp_psp")" "$K1"
chmod 640 "$K2"
show "$BIN" link set tcp0 psp encrypt alg aes256 key "$K2"
show "$BIN" link show tcp0
eq "encrypt, aes256, K2 (0640)" "$(psp_of)" \
	"psp encrypt aes256 key sha256:$(key_fp "$K2")"
show "$BIN" link set tcp0 psp auth
show "$BIN" link show tcp0
eq "link set psp keeps the key and alg" "$(psp_of)" \
	"psp auth aes256 key sha256:$(key_fp "$K2")"

printf '%s\n' "not a key" >"$WORK/bad.key"
chmod 600 "$WORK/bad.key"
expect_rc 1 "a malformed key file" "$BIN" link set tcp0 key "$WORK/bad.key"
check "...says what a key file holds" grep -q "64 hex digits" "$ERR"
expect_rc 1 "a missing key file" "$BIN" link set tcp0 key "$WORK/none.key"
check "...names it" grep -q "$WORK/none.key" "$ERR"
expect_rc 1 "link set as nobody" \
	"${NOBODY[@]}" "$WORK/rdma-tcp-copy" link set tcp0 psp off
check "link set as nobody says why" grep -q "must be root" "$ERR"
expect_rc 1 "link set of an unknown device" "$BIN" link set tcp7 psp off

### link rotate: the count the contexts poll
for n in 1 2; do
	show "$BIN" link rotate tcp0
	eq "link rotate tcp0 ($n)" "$RC $(attr tcp0 tcp_psp_rotation)" "0 $n"
done
eq "tcp_psp_rotation stays 0644" "$(stat -c %a "$IB/tcp0/tcp_psp_rotation")" 644
expect_rc 1 "link rotate as nobody" \
	"${NOBODY[@]}" "$WORK/rdma-tcp-copy" link rotate tcp0
expect_rc 1 "link rotate of an unknown device" "$BIN" link rotate tcp7
eq "the failed rotations counted nothing" "$(attr tcp0 tcp_psp_rotation)" 2

### certificates: a CA and a certificate it signed
CA_KEY=$WORK/ca.key CA=$WORK/ca.pem CKEY=$WORK/c.key CERT=$WORK/c.pem
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$CA_KEY" -out "$CA" -subj /CN=rtcp-test-ca -days 1 \
	2>/dev/null &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$CKEY" -out "$WORK/c.csr" -subj /CN=rtcp-test \
		2>/dev/null &&
	openssl x509 -req -in "$WORK/c.csr" -CA "$CA" -CAkey "$CA_KEY" \
		-CAcreateserial -out "$CERT" -days 1 2>/dev/null; then
	chmod 600 "$CKEY"
	show "$BIN" link set tcp0 cert "$CERT" certkey "$CKEY" ca "$CA"
	eq "link set tcp0 cert ..." "$RC $(cat "$ERR")" "0 "
	show "$BIN" link show tcp0
	CFP=$(openssl x509 -in "$CERT" -noout -fingerprint -sha256 |
		sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
	eq "link show: the certificate's fingerprint" "$(psp_of)" \
		"psp auth aes256 cert sha256:$CFP"
	eq "tcp_psp names the triple" \
		"$(grep -E '^(cert|certkey|ca|key) ' "$IB/tcp0/tcp_psp")" \
		"cert $CERT
certkey $CKEY
ca $CA"
	expect_rc 1 "a certificate with another's key" \
		"$BIN" link set tcp0 cert "$CERT" certkey "$CA_KEY" ca "$CA"
	check "...says the key is not the certificate's" \
		grep -q "is not the private key of" "$ERR"
	chmod 644 "$CKEY"
	expect_rc 1 "a certificate key of mode 0644" \
		"$BIN" link set tcp0 cert "$CERT" certkey "$CKEY" ca "$CA"
	check "...is refused with the reason" \
		grep -q "certificate key $CKEY is accessible to every user" "$ERR"
	expect_rc 1 "a key file as the certificate" \
		"$BIN" link set tcp0 cert "$K1" certkey "$CA_KEY" ca "$CA"
	check "...says it is not one" grep -q "not a PEM certificate" "$ERR"
else
	fail "openssl cannot make a test CA and certificate"
fi

### group: the host key readable by one group, and by nobody else
show "$BIN" link set tcp0 key "$K1"
expect_rc 1 "group with a key file of the caller's" \
	"$BIN" link set tcp0 group 4242
check "...says group is for the host key" grep -q "host key only" "$ERR"
show "$BIN" link set tcp0 key "$HOSTKEY"
show "$BIN" link set tcp0 alg aes128 group 4242
eq "link set tcp0 group 4242 (the host key's)" "$RC $(cat "$ERR")" "0 "
eq "host key: group 4242, mode 0640, same key" \
	"$(stat -c '%U:%g %a' "$HOSTKEY") $(key_fp "$HOSTKEY")" \
	"root:4242 640 $HOSTFP"
show setpriv --reuid=65534 --regid=65534 --groups=4242 \
	"$WORK/rdma-tcp-copy" link show tcp0
eq "a member of the group sees the fingerprint" "$(psp_of)" "$PSP_DEF"
show "${NOBODY[@]}" "$WORK/rdma-tcp-copy" link show tcp0
eq "others do not" "$(psp_of)" "psp auth aes128 key (unreadable)"

### a fresh registry: psp off makes no key; concurrent adds agree on one
ROOT2=$WORK/root2
mkdir -p "$ROOT2"
expect_rc 0 "link add tcp4 netdev lo psp off" \
	env RDMA_TCP_ROOT="$ROOT2" "$BIN" link add tcp4 netdev lo psp off
check "psp off made no host key" test ! -e "$ROOT2/etc/host.key"
eq "psp off: tcp_psp" "$(cat "$ROOT2/sys/class/infiniband/tcp4/tcp_psp")" \
	"mode off
alg aes128"
show env RDMA_TCP_ROOT="$ROOT2" "$BIN" link show tcp4
eq "psp off from link add: UNAUTHENTICATED" "$(sed 's/.* psp /psp /' "$OUT")" \
	"psp off (UNAUTHENTICATED)"
RDMA_TCP_ROOT=$ROOT2 "$BIN" link add tcp5 netdev lo >"$WORK/a5" 2>&1 &
A5=$!
RDMA_TCP_ROOT=$ROOT2 "$BIN" link add tcp6 netdev lo >"$WORK/a6" 2>&1
RC6=$?
wait "$A5"
eq "two concurrent link adds succeed" "$? $RC6" "0 0"
show env RDMA_TCP_ROOT="$ROOT2" "$BIN" link show
FP2=$(key_fp "$ROOT2/etc/host.key")
eq "...and show one host key" "$(sed -n 's/^link tcp[56]\/1 .* psp //p' "$OUT")" \
	"auth aes128 key sha256:$FP2
auth aes128 key sha256:$FP2"
eq "...with no temporary left" "$(ls -A "$ROOT2/etc")" host.key
check "a new registry has a new host key" test "$FP2" != "$HOSTFP"
# a device made before tcp_psp existed, whose host key is gone: the
# defaults, and link set makes the key again
rm -f "$ROOT2/sys/class/infiniband/tcp5/tcp_psp" "$ROOT2/etc/host.key"
show env RDMA_TCP_ROOT="$ROOT2" "$BIN" link show tcp5
eq "no tcp_psp, no host key: auth, key missing" \
	"$(sed 's/.* psp /psp /' "$OUT")" "psp auth aes128 key (missing)"
show env RDMA_TCP_ROOT="$ROOT2" "$BIN" link set tcp5 psp auth
eq "link set tcp5 psp auth" "$RC $(cat "$ERR")" "0 "
check "...made the host key again" test -f "$ROOT2/etc/host.key"
FP2=$(key_fp "$ROOT2/etc/host.key")
show env RDMA_TCP_ROOT="$ROOT2" "$BIN" link show tcp5
eq "...and shows its fingerprint" "$(sed 's/.* psp /psp /' "$OUT")" \
	"psp auth aes128 key sha256:$FP2"
for name in tcp4 tcp5 tcp6; do
	RDMA_TCP_ROOT=$ROOT2 "$BIN" link del $name >/dev/null 2>&1 ||
		fail "link del $name in the second registry"
done

# no output of any link show above holds key material
for k in "$HOSTKEY" "$K1" "$K2" "$ROOT2/etc/host.key"; do
	hex=$(cat "$k")
	check "link show never printed the key of $(basename "$k")" \
		test "$(grep -ciF "$hex" "$SHOWN")" = 0
	check "the registry files never hold the key of $(basename "$k")" \
		test -z "$(grep -rlF "$hex" "$ROOT/sys" "$ROOT2/sys")"
done
check "the show outputs were collected" test -s "$SHOWN"

### a failed add leaves nothing behind (the pidfile cannot be written)
NODES=$(ls /dev/infiniband 2>/dev/null)
VERBS_BEFORE=$(ls -a "$VERBS")
mkdir -p "$ROOT/run/tcp2.pid/blocker"
expect_rc 1 "add that fails at the last step" "$BIN" link add tcp2 netdev lo
rmdir "$ROOT/run/tcp2.pid/blocker" "$ROOT/run/tcp2.pid"
eq "failed add: nothing of tcp2 remains" "$(traces_of tcp2)" ""
eq "failed add: class/infiniband_verbs unchanged" "$(ls -a "$VERBS")" \
	"$VERBS_BEFORE"
eq "failed add: /dev/infiniband unchanged" \
	"$(ls /dev/infiniband 2>/dev/null)" "$NODES"
check "failed add: its monitor is gone" poll 2 no_monitors tcp2

### the monitor exits by itself when its device directory goes
expect_rc 0 "link add tcp3 netdev lo" "$BIN" link add tcp3 netdev lo
PID3=$(cat "$ROOT/run/tcp3.pid" 2>/dev/null)
UV3=$(attr tcp3 tcp_uverbs)
rm -rf "${IB:?}/tcp3"
check "monitor exits within 3 s of rm -rf of its directory" \
	poll 3 proc_gone "${PID3:-0}"
check "...and removes its pidfile" test ! -e "$ROOT/run/tcp3.pid"
expect_rc 0 "link del cleans up what rm -rf left" "$BIN" link del tcp3
check "...the uverbs dir" test ! -e "$VERBS/$UV3"
check "...the device node" test ! -e "/dev/infiniband/$UV3"

### link restore (rdma-tcp-links.conf(5))
LC=$WORK/links.conf
printf '%s\n' 'tcp5 netdev lo' 'tcp6 netdev lo psp nope' 'tcp7 "lo"' \
	'foo netdev lo' 'tcp5 netdev lo' 'tcp8 netdev lo key' 'tcp9' >"$LC"
expect_rc 2 "restore of a malformed file" "$BIN" link restore "$LC"
eq "every bad line named FILE:LINE, in order, and nothing added" \
	"$(sed 's/^rdma-tcp: //; s/: .*//' "$ERR" | tr '\n' ' ')$(ls "$IB" 2>/dev/null | grep -c '^tcp[5-9]')" \
	"$LC:2 $LC:3 $LC:4 $LC:5 $LC:6 $LC:7 $LC 0"
check "...the duplicate names its first line" \
	grep -q "^rdma-tcp: $LC:5: device tcp5 already on line 1$" "$ERR"
printf '# "devices"\n\ntcp5 netdev lo   # the \\"host\\" key\n\ttcp6 netdev lo psp encrypt\n' >"$LC"
for i in $(seq 300); do echo "# comment $i"; done >>"$LC"
expect_rc 0 "restore --check of a good file" "$BIN" link restore --check "$LC"
check "...adds nothing" test ! -e "$IB/tcp5"
expect_rc 1 "restore as nobody" "${NOBODY[@]}" "$WORK/rdma-tcp-copy" link restore "$LC"
expect_rc 0 "restore" "$BIN" link restore "$LC"
eq "...reports each device added" "$(cat "$OUT")" \
	"$LC:3: tcp5 added"$'\n'"$LC:4: tcp6 added"
check_match "...tcp6 in its mode" 'psp encrypt' "$("$BIN" link show tcp6)"
printf 'tcp5 netdev lo psp encrypt#x\n' >"$WORK/hash.conf"
expect_rc 2 "a '#' inside a word starts no comment" \
	"$BIN" link restore --check "$WORK/hash.conf"
expect_rc 0 "restore again" "$BIN" link restore "$LC"
eq "...leaves both as they are" "$(cat "$OUT")" \
	"$LC:3: tcp5 exists, left as it is"$'\n'"$LC:4: tcp6 exists, left as it is"
printf 'tcp7 netdev nosuchnetdev0\ntcp8 netdev lo\n' >"$LC"
expect_rc 1 "restore with a device that cannot be added" "$BIN" link restore "$LC"
check "...still adds the next one" test -d "$IB/tcp8"
check "...and names the line that failed" grep -q "$LC:1: tcp7 not added" "$ERR"
expect_rc 1 "restore of a missing file" "$BIN" link restore "$WORK/none.conf"
expect_rc 2 "restore with an unknown option" "$BIN" link restore -x "$LC"
for name in tcp5 tcp6 tcp8; do
	expect_rc 0 "link del $name (restored)" "$BIN" link del $name
done

### link del
for name in tcp1 tcp0; do
	[ -d "$IB/$name" ] || continue
	uv=$(attr $name tcp_uverbs)
	pid=$(cat "$ROOT/run/$name.pid" 2>/dev/null)
	expect_rc 0 "link del $name" "$BIN" link del $name
	check "link del $name prints nothing" test ! -s "$OUT" -a ! -s "$ERR"
	check "$name: device dir gone" test ! -e "$IB/$name"
	check "$name: $uv gone" test ! -e "$VERBS/$uv"
	check "$name: /dev/infiniband/$uv gone" test ! -e "/dev/infiniband/$uv"
	check "$name: pidfile gone" test ! -e "$ROOT/run/$name.pid"
	check "$name: monitor gone" proc_gone "${pid:-0}"
	eq "$name: no traces" "$(traces_of $name)" ""
done
check "no monitor of this test is left" poll 2 no_monitors
expect_rc 1 "link del tcp0 again" "$BIN" link del tcp0
run_rc "$BIN" link show
eq "no devices left" "$RC $(cat "$OUT")" "0 "
check "class abi_version stays" test -f "$VERBS/abi_version"

finish
