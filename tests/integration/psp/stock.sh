# shellcheck shell=bash
# test_psp.sh phase "stock": stock programs (tests/lib/stock_matrix.sh)
# in the modes test_stock.sh does not run -- it runs its whole matrix in
# the default, auth. A subset in each of PSP_MODES but auth (encrypt) on
# loopback and across namespaces (C -- B), and a shorter one in `off` on
# loopback. Sourced, never run.

# one case a line, as test_stock.sh's STOCK_CASES; 1000000 bytes: frames
# of many chunks, the last one short
PSP_STOCK_CASES=(
	"ibv_rc_pingpong -s 4096 -n 200"
	"ib_write_bw -s 65536 -n 200"
	"ib_write_bw -s 1000000 -n 50"
	"ib_read_bw -s 1000000 -n 50"
	"ib_send_bw -s 65536 -n 200"
	"ib_atomic_bw -n 200"
	"ib_write_lat -n 100"
	"ib_read_lat -n 100"
	"ib_send_lat -n 100"
)
PSP_STOCK_OFF=(
	"ibv_rc_pingpong -s 4096 -n 200"
	"ib_write_bw -s 65536 -n 200"
	"ib_send_lat -n 100"
)

st_run() {
	local label=$1 sns=$2 sdev=$3 cns=$4 cdev=$5 ip=$6 c words
	shift 6
	for c in "$@"; do
		read -ra words <<<"$c"
		sm_run_case "$label" "$sns" "$sdev" "$cns" "$cdev" "$ip" "${words[@]}"
	done
}

phase_stock() {
	local m
	for m in $MODES off; do
		[ "$m" != auth ] || continue
		dev_set "" tcp0 lo 127.0.0.1 psp "$m" || continue
		if [ "$m" = off ]; then
			st_run "lo, psp off" "" tcp0 "" tcp0 127.0.0.1 "${PSP_STOCK_OFF[@]}"
		else
			st_run "lo, psp $m" "" tcp0 "" tcp0 127.0.0.1 "${PSP_STOCK_CASES[@]}"
		fi
		cr_rping "lo, psp $m" connects "" "" 127.0.0.1
		[ "$m" != off ] || continue
		net_up || continue
		dev_set "$NSC" tcpC vC "$IPC" psp "$m" || continue
		dev_set "$NSB" tcpB2 bC "$IPBC" psp "$m" || continue
		st_run "netns, psp $m" "$NSB" tcpB2 "$NSC" tcpC "$IPBC" "${PSP_STOCK_CASES[@]}"
		cr_rping "netns, psp $m" connects
	done
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
}
