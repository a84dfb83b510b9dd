# shellcheck shell=bash
# Shared helpers of the shell test scripts: sourced, never run.
#
#   ok "what"            record a passed check
#   fail "what" [detail] record a failed check (detail printed indented)
#   check "what" CMD...  run CMD; pass if it exits 0
#   check_match "what" REGEX TEXT      pass if TEXT matches the ERE REGEX
#   check_nomatch "what" REGEX TEXT    pass if it does not
#   poll SECONDS CMD...  retry CMD every 0.1 s until it succeeds or time is up
#   finish               print "N passed, N failed", return 1 on any failure
#
# The scripts' common preamble:
#
#   rt_args "$@"         the one argument, the build's rdma-tcp: usage and
#                        root checked, RDMA_TCP set to its absolute path
#   VAR=$(built REL) || exit 2   the build's file REL (e.g.
#                        tests/tools/faults), or a message if it is not built
#   need_tools TOOL...   exit 2 unless every TOOL is on PATH
#   lo_device NAME [WORD...]  a private registry (RDMA_TCP_ROOT) with NAME
#                        on lo (`link add NAME netdev lo WORD...`) and its
#                        environment applied (no rdma_cm preload), all
#                        removed at exit
#   "${RAW_PSP[@]}"      the `link add` words of a device that a test
#                        speaks the wire to itself (see RAW_PSP below)
#   run_c_suite SECS PROG ARG...  a C test program printing "ok"/"FAIL"
#                        lines and "N passed, N failed": its own verdict,
#                        or one failure if it hangs or dies
#   ns_exists NS         true if network namespace NS exists
#   ns_del NS [DEV...]   delete the devices registered in NS, then NS
#   veth_pair NSA IPA NSB IPB   namespaces NSA and NSB joined by a veth
#                        pair (vethA IPA/24 in NSA, vethB IPB/24 in NSB)
#   in_ns NS CMD...      CMD in network namespace NS ("" = here)
#   listening NS PORT    true if something listens on TCP PORT in NS, or
#                        an rdma_cm listener of the preload on rdma_cm PORT
#   port_used NS PORT    true if TCP PORT is in any use (listening,
#                        TIME_WAIT...) in NS, or rdma_cm port PORT
#   alive PID            true if PID is set and the process exists
#
# Every check prints one line, "ok - ..." or "FAIL - ...", so a log shows
# what was asserted, not only what broke.
#
# It sources sanitize.sh too (san_setup, stock, san_report_in ...).

# shellcheck source=sanitize.sh
. "$(dirname "${BASH_SOURCE[0]}")/sanitize.sh"

T_PASSED=0
T_FAILED=0

# Tests that play a peer themselves (hand-made hellos, frames, CM
# messages, with no TLS handshake: malformed/, res_attack's half-hellos)
# test the unauthenticated frame parser. The default mode (`auth`) drops
# such a peer before its first frame, so their devices are registered in
# the mode they document, `psp off`, and say so. Tests with stock or
# verbs programs on both ends keep the default. RDMA_TCP_TEST_PSP
# overrides the mode (e.g. to watch those tests fail against `auth`).
RAW_PSP=(psp "${RDMA_TCP_TEST_PSP:-off}")

ok() {
	T_PASSED=$((T_PASSED + 1))
	printf 'ok - %s\n' "$1"
}

fail() {
	T_FAILED=$((T_FAILED + 1))
	printf 'FAIL - %s\n' "$1"
	if [ $# -gt 1 ] && [ -n "$2" ]; then
		printf '%s\n' "$2" | sed 's/^/    | /'
	fi
}

check() {
	local what=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$what"
	else
		fail "$what" "exit $?: $*"$'\n'"$out"
	fi
}

check_match() {
	if [[ $3 =~ $2 ]]; then
		ok "$1"
	else
		fail "$1" "expected /$2/ in:"$'\n'"$3"
	fi
}

check_nomatch() {
	if [[ $3 =~ $2 ]]; then
		fail "$1" "unexpected /$2/ (matched '${BASH_REMATCH[0]}') in:"$'\n'"$3"
	else
		ok "$1"
	fi
}

poll() {
	local secs=$1 end
	shift
	end=$(($(date +%s%N) + secs * 1000000000))
	while :; do
		"$@" && return 0
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

finish() {
	printf '%d passed, %d failed\n' "$T_PASSED" "$T_FAILED"
	[ "$T_FAILED" -eq 0 ]
}

require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$0: must run as root" >&2
		exit 2
	fi
}

rt_args() {
	if [ $# -ne 1 ] || [ ! -x "$1" ]; then
		echo "usage: $0 PATH/TO/rdma-tcp" >&2
		exit 2
	fi
	require_root
	RDMA_TCP=$(readlink -f "$1")
}

built() {
	local f=${RDMA_TCP%/kernel-glue/rdma-tcp}/$1
	if [ ! -x "$f" ]; then
		echo "$0: $f not built" >&2
		return 1
	fi
	printf '%s\n' "$f"
}

need_tools() {
	local tool
	for tool; do
		if ! command -v "$tool" >/dev/null; then
			echo "$0: $tool not found (bash tests/lib/deps.sh installs it)" >&2
			exit 2
		fi
	done
}

# Our own instrumented programs keep leak detection on (stock programs get
# sanitize.sh's options instead).
own_san_options() {
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
}

_lo_device_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	"$RDMA_TCP" link del "$LO_DEVICE" >/dev/null 2>&1
	rm -rf "$RDMA_TCP_ROOT"
	exit "$rc"
}

lo_device() {
	local out
	LO_DEVICE=$1
	shift
	RDMA_TCP_ROOT=$(mktemp -d /tmp/rdma-tcp-test.XXXXXX) || exit 2
	export RDMA_TCP_ROOT
	trap _lo_device_cleanup EXIT
	trap 'exit 130' INT TERM
	if ! out=$("$RDMA_TCP" link add "$LO_DEVICE" netdev lo "$@" 2>&1); then
		echo "$0: link add $LO_DEVICE netdev lo $*: $out" >&2
		exit 2
	fi
	out=$("$RDMA_TCP" env) || exit 2
	eval "$out"
	unset LD_PRELOAD # no rdma_cm here; the programs are built like the provider
}

run_c_suite() {
	local secs=$1 prog=$2 out rc last
	shift 2
	out=$(mktemp)
	timeout -k 5 "$secs" "$prog" "$@" | tee "$out"
	rc=${PIPESTATUS[0]}
	last=$(tail -n 1 "$out")
	rm -f "$out"
	if [ "$rc" -le 1 ] && [[ $last =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]]; then
		return "$rc"
	fi
	case $rc in
	124 | 137) echo "FAIL - ${prog##*/} hung (killed by timeout)" ;;
	*) echo "FAIL - ${prog##*/} died (exit status $rc, a sanitizer report or a crash)" ;;
	esac
	echo "0 passed, 1 failed"
	return 1
}

ns_exists() { ip netns list 2>/dev/null | grep -qw "$1"; }

ns_del() {
	local ns=$1 dev
	shift
	ns_exists "$ns" || return 0
	for dev; do
		ip netns exec "$ns" "$RDMA_TCP" link del "$dev" >/dev/null 2>&1
	done
	ip netns del "$ns" 2>/dev/null
}

veth_pair() {
	local nsa=$1 ipa=$2 nsb=$3 ipb=$4
	ip netns add "$nsa" && ip netns add "$nsb" &&
		ip -n "$nsa" link set lo up && ip -n "$nsb" link set lo up &&
		ip -n "$nsa" link add vethA type veth peer name vethB netns "$nsb" &&
		ip -n "$nsa" addr add "$ipa/24" dev vethA &&
		ip -n "$nsb" addr add "$ipb/24" dev vethB &&
		ip -n "$nsa" link set vethA up && ip -n "$nsb" link set vethB up
}

in_ns() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@"
	else
		"$@"
	fi
}

# listening NS PORT: a TCP listener on PORT, or an rdma_cm listener of the
# preload (rdma_cm ports are virtual: its mailbox, an abstract unix name
# "rdma-tcp-cm/PS/PORT/listen", librdmacm-ext/cm_port.c)
listening() {
	in_ns "$1" ss -Hltn "sport = :$2" 2>/dev/null | grep -q . ||
		cm_listening "$@"
}
cm_listening() {
	in_ns "$1" grep -q "@rdma-tcp-cm/[0-9]*/$2/listen\$" /proc/net/unix
}

port_used() {
	in_ns "$1" ss -Htan "( sport = :$2 or dport = :$2 )" 2>/dev/null |
		grep -q . ||
		in_ns "$1" grep -q "@rdma-tcp-cm/[0-9]*/$2\(/listen\)\?\$" \
			/proc/net/unix
}

# A TCP port free here, below the ephemeral range (QP listeners and
# connections take ports inside it); 1 if 20 tries found none
free_port() {
	local p
	for p in $(shuf -i 20000-29999 -n 20); do
		port_used "" "$p" || {
			echo "$p"
			return 0
		}
	done
	return 1
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
