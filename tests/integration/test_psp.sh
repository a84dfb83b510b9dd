#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# PSP security (issue 15), as an attacker and a broken network see it:
#
# 1. local: the host key and who may use a device -- a user outside the
#    key's owner and group cannot open it (EACCES), a world-readable or
#    missing key is refused with a clear message.
# 2. attack: a third party without the key (tests/tools/psp_attack.c,
#    run as `nobody`, from the same host and from another namespace)
#    connects to a waiting QP's port with a plain hello and hand-made
#    frames, races the real peer's hello, and tries TLS 1.3 with another
#    key. Every attempt is refused: the victim pair (tests/tools/psp_peer.c)
#    completes all its traffic, checked byte by byte, no receive it did not
#    expect, canaries of its regions unchanged. With `psp off` the plain
#    hello takes the QP over (documented: unauthenticated).
# 3. proxy: a man in the middle between two namespaces
#    (tests/tools/tamper_proxy.py: A -- M -- B) flips bits in a header, in
#    the first and a later payload chunk, in a tag, truncates, drops,
#    replays, reorders frames and injects bytes. Secured modes: both QPs
#    fail cleanly (ERR, fatal or access-error event, every WR completed or
#    flushed), no forged byte completes, nothing hangs. `off`: a flipped
#    payload bit is delivered as good data (documented).
# 4. credentials: wrong key, mode mismatch, a key changed by `link set`
#    against the old one, a certificate not signed by the CA, an expired
#    certificate: no connection, both QPs fail cleanly within a deadline;
#    rping (rdma_cm) fails on both ends, never hangs.
# 5. stock: ibv_rc_pingpong, the perftest programs and rping in `encrypt`
#    and `off`, on loopback and across namespaces (test_stock.sh runs the
#    whole matrix in the default mode, auth).
#
#   tests/integration/test_psp.sh PATH/TO/rdma-tcp
#
# As root. Private registries; namespaces rtcp-p{A,M,B,C}-PID with
# 10.81.1.0/24 (A -- M), 10.81.2.0/24 (M -- B), 10.81.3.0/24 (C -- B),
# all removed at exit, whatever happens. PSP_PHASES (default
# "local attack proxy cred stock"; "local attack proxy" in a sanitizer
# build) picks
# phases; PSP_MODES (default "auth encrypt"; "auth" in a sanitizer build)
# the secured modes phases 2-5 run in. PSP_KEEP_LOGS=1 keeps the logs of
# a failed run. Prints one line per check and "N passed, N failed".

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
# shellcheck source=../lib/testlib.sh
. "$HERE/../lib/testlib.sh"
# shellcheck source=../lib/stock_matrix.sh
. "$HERE/../lib/stock_matrix.sh"
# shellcheck source=../lib/psp_certs.sh
. "$HERE/../lib/psp_certs.sh"

rt_args "$@"
PEER=$(built tests/tools/psp_peer) || exit 2
ATTACK=$(built tests/tools/psp_attack) || exit 2
PROXY=$SRC/tests/tools/tamper_proxy.py
PYTHON=/usr/bin/python3
san_setup "$RDMA_TCP" || exit 2
own_san_options
need_tools ip ss timeout setpriv openssl ibv_rc_pingpong ib_write_bw rping

# The sanitizer build runs the secured modes' code once (auth), under
# attack and tampering, and neither the credential cases (the handshake's
# outcomes: test_hs and the plain build) nor stock programs (test_stock.sh
# runs them in auth): the suite's time budget
if [ "$SAN_ACTIVE" = 1 ]; then
	PHASES=${PSP_PHASES-local attack proxy}
	MODES=${PSP_MODES-auth}
else
	PHASES=${PSP_PHASES-local attack proxy cred stock}
	MODES=${PSP_MODES-auth encrypt}
fi
NSA=rtcp-pA-$$ NSM=rtcp-pM-$$ NSB=rtcp-pB-$$ NSC=rtcp-pC-$$
IPA=10.81.1.1 IPMA=10.81.1.2 IPMB=10.81.2.1 IPB=10.81.2.2
IPC=10.81.3.1 IPBC=10.81.3.2
WORK=$(mktemp -d /tmp/rdma-tcp-psp.XXXXXX)
chmod 755 "$WORK" # the attacker runs as nobody and reads the info files
RDMA_TCP_ROOT=$WORK/root
mkdir -p "$RDMA_TCP_ROOT"
export RDMA_TCP_ROOT
SM_LOGDIR=$WORK/stock
mkdir -p "$SM_LOGDIR"
PIDS=()
CASE=0

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	sm_cleanup
	for pid in "${PIDS[@]}"; do
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	wait 2>/dev/null
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	ns_del "$NSA" tcpA
	ns_del "$NSB" tcpB tcpB2
	ns_del "$NSC" tcpC
	ns_del "$NSM"
	if [ "$rc" -ne 0 ] && [ -n "${PSP_KEEP_LOGS:-}" ]; then
		echo "# logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if out=$("$RDMA_TCP" env 2>&1); then
	eval "$out"
	# stock programs get the preload through sm_prefix; ours need none
	SM_PRELOAD=${LD_PRELOAD:-}
	unset LD_PRELOAD
else
	fail "rdma-tcp env" "$out"
	finish
	exit 1
fi

# shellcheck source=psp/devices.sh
. "$HERE/psp/devices.sh"
# shellcheck source=psp/proxy.sh
. "$HERE/psp/proxy.sh"
# shellcheck source=psp/attack.sh
. "$HERE/psp/attack.sh"
# shellcheck source=psp/cred.sh
. "$HERE/psp/cred.sh"
# shellcheck source=psp/stock.sh
. "$HERE/psp/stock.sh"

T0=$(date +%s)
for phase in $PHASES; do
	t=$(date +%s)
	echo "# ---- phase $phase"
	"phase_$phase"
	echo "# phase $phase: $(($(date +%s) - t)) s"
done
echo "# all phases: $(($(date +%s) - T0)) s"
finish
