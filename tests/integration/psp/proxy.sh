# shellcheck shell=bash
# test_psp.sh phase "proxy": a man in the middle (tests/tools/
# tamper_proxy.py in namespace M) between psp_peer's writer in A and its
# target in B. Sourced, never run.
#
# A's QP has M's A-side address as its destination GID, B's QP M's B-side
# address: A (10.81.1.1 < 10.81.1.2) connects to the proxy, the proxy
# connects to B from 10.81.2.1 (< 10.81.2.2: B accepts, and checks that
# source). The writer does PX_ITERS iterations of a 64 KiB WRITE (8
# chunks) and a SEND; the fault hits the third WRITE.

PX_ITERS=6
# the faults every secured mode must survive; `off` runs the control and
# the payload flips (they land: documented)
PX_FAULTS_SECURED="none hdr pay0 payN tag trunc drop replay reorder inject"
PX_FAULTS_OFF="none pay0 payN"
PX_TIMEOUT=60

# px_run MODE FAULT: one run, the logs in $PX_DIR, exit codes in PX_RA,
# PX_RB, PX_RP
px_run() {
	local mode=$1 fault=$2 pa pb pp
	CASE=$((CASE + 1))
	PX_DIR=$WORK/proxy-$CASE-$mode-$fault
	mkdir -p "$PX_DIR"
	in_ns "$NSB" timeout -k 5 "$PX_TIMEOUT" "$PEER" -d tcpB -o "$PX_DIR/b" \
		-i "$PX_DIR/a" -g "$IPMB" -n "$PX_ITERS" -t 20 \
		>"$PX_DIR/b.log" 2>&1 &
	pb=$!
	in_ns "$NSM" timeout -k 5 "$PX_TIMEOUT" "$PYTHON" "$PROXY" \
		--listen "$IPMA" --connect "$IPB" --src "$IPMB" \
		--peer-file "$PX_DIR/b" --out-file "$PX_DIR/b.via" --psp "$mode" \
		--fault "$fault" --at 2 --min-len 16384 --deadline 45 \
		>"$PX_DIR/proxy.log" 2>&1 &
	pp=$!
	in_ns "$NSA" timeout -k 5 "$PX_TIMEOUT" "$PEER" -d tcpA -o "$PX_DIR/a" \
		-i "$PX_DIR/b.via" -g "$IPMA" -w -n "$PX_ITERS" -t 20 \
		>"$PX_DIR/a.log" 2>&1 &
	pa=$!
	PIDS=("$pa" "$pb" "$pp")
	wait "$pa"
	PX_RA=$?
	wait "$pb"
	PX_RB=$?
	wait "$pp"
	PX_RP=$?
	PIDS=()
}

px_logs() {
	local f
	for f in proxy a b; do
		printf -- '--- %s (exit %s)\n' "$f" \
			"$(case $f in proxy) echo "$PX_RP" ;; a) echo "$PX_RA" ;; b) echo "$PX_RB" ;; esac)"
		cat "$PX_DIR/$f.log"
	done
}

# px_expect WHAT RA RB: both ends' exit codes (psp_peer: 0 clean, 1 failed
# cleanly, 2 forged, 3 waiting untouched, 5 hang) and the proxy's word that the fault happened
px_expect() {
	local what=$1 ra=$2 rb=$3 fault=$4
	if [ "$PX_RA" = "$ra" ] && [ "$PX_RB" = "$rb" ] && [ "$PX_RP" = 0 ] &&
		grep -q "^fault $fault applied" "$PX_DIR/proxy.log"; then
		ok "$what"
	else
		fail "$what" "want writer exit $ra, target exit $rb, the fault applied"$'\n'"$(px_logs)"
	fi
}

px_case() {
	local mode=$1 fault=$2 t0
	t0=$(date +%s)
	px_run "$mode" "$fault"
	local secs=$(($(date +%s) - t0))
	if [ "$fault" = none ]; then
		px_expect "proxy $mode, no fault: $PX_ITERS iterations verified on both ends (${secs} s)" 0 0 none
		[ "$mode" = off ] || px_rejected "$mode" none
	elif [ "$mode" = off ]; then
		# documented: without authentication a flipped bit is data
		px_expect "proxy off, $fault: the flipped bit is delivered as good data (target: forged; unauthenticated mode) (${secs} s)" 1 2 "$fault"
	else
		px_expect "proxy $mode, $fault: both QPs fail cleanly (ERR, fatal event, WRs flushed), no forged byte completes, no hang (${secs} s)" 1 1 "$fault"
		px_rejected "$mode" "$fault"
	fi
}

# The target's count of frames that failed verification (psp_peer's
# "rejected", tcpdv_query_qp_security): every fault but a truncation
# (an end of stream, not a bad frame) is caught by a tag
px_rejected() {
	local n
	n=$(sed -n 's/^rejected \([0-9]*\)$/\1/p' "$PX_DIR/b.log")
	if [ "$2" = trunc ] || [ "$2" = none ]; then
		check_match "proxy $1, $2: no frame counted as rejected" '^0$' "$n"
	elif [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ]; then
		ok "proxy $1, $2: the target counts $n rejected frame(s)"
	else
		fail "proxy $1, $2: the target counts the rejected frame" "rejected: '${n}'"$'\n'"$(px_logs)"
	fi
}

phase_proxy() {
	local mode faults f
	net_up || return
	for mode in off $MODES; do
		mode_words "$mode"
		dev_set "$NSA" tcpA vA "$IPA" "${MW[@]}" || continue
		mode_words "$mode"
		dev_set "$NSB" tcpB vB "$IPB" "${MW[@]}" || continue
		faults=$PX_FAULTS_SECURED
		[ "$mode" != off ] || faults=$PX_FAULTS_OFF
		for f in $faults; do
			px_case "$mode" "$f"
		done
	done
}
