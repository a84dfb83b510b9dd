# shellcheck shell=bash
# test_psp.sh phase "attack": a third party without the key
# (tests/tools/psp_attack.c, run as nobody) against a psp_peer pair that
# is coming up: on loopback (tcp0 on lo, all in this namespace) and across
# namespaces (the pair's ends on tcpC in C and tcpB2 in B, the attacker in
# C with the real peer's address). Sourced, never run.
#
# The pair waits at INIT until the attacker's first attempt is made
# (psp_peer -G): the attacker's hello or handshake is always first. It
# then keeps attacking for ATK_SECS while the pair runs.

ATK_SECS=2
# 4 KiB round trips: the pair runs while the attacker keeps trying
ATK_ITERS=2000

# atk_run TNS TDEV PNS PDEV ADDR KIND: target (acceptor side) in TNS on
# TDEV, peer in PNS on PDEV, the attacker in PNS against ADDR; exit codes
# in ATK_RT, ATK_RP, ATK_RA, logs in $ATK_DIR
atk_run() {
	local tns=$1 tdev=$2 pns=$3 pdev=$4 addr=$5 kind=$6 pt pp pa
	CASE=$((CASE + 1))
	ATK_DIR=$WORK/attack-$CASE-$kind
	mkdir -p "$ATK_DIR/gate"
	chmod 755 "$ATK_DIR"
	chmod 777 "$ATK_DIR/gate"
	in_ns "$tns" timeout -k 5 60 "$PEER" -d "$tdev" -o "$ATK_DIR/t" \
		-i "$ATK_DIR/p" -n "$ATK_ITERS" -s 4096 -t 30 -G "$ATK_DIR/gate" \
		>"$ATK_DIR/t.log" 2>&1 &
	pt=$!
	in_ns "$pns" timeout -k 5 60 "$PEER" -d "$pdev" -o "$ATK_DIR/p" \
		-i "$ATK_DIR/t" -w -n "$ATK_ITERS" -s 4096 -t 30 \
		-G "$ATK_DIR/gate" >"$ATK_DIR/p.log" 2>&1 &
	pp=$!
	in_ns "$pns" timeout -k 5 60 setpriv --reuid=nobody --regid=nogroup \
		--clear-groups -- "$ATTACK" "$kind" "$addr" "$ATK_DIR/t" \
		"$ATK_DIR/p" "$ATK_SECS" "$ATK_DIR/gate" >"$ATK_DIR/attack.log" 2>&1 &
	pa=$!
	PIDS=("$pt" "$pp" "$pa")
	wait "$pt"
	ATK_RT=$?
	wait "$pp"
	ATK_RP=$?
	wait "$pa"
	ATK_RA=$?
	PIDS=()
}

atk_logs() {
	printf -- '--- attacker (exit %s)\n%s\n' "$ATK_RA" "$(cat "$ATK_DIR/attack.log")"
	printf -- '--- target (exit %s)\n%s\n' "$ATK_RT" "$(cat "$ATK_DIR/t.log")"
	printf -- '--- peer (exit %s)\n%s\n' "$ATK_RP" "$(cat "$ATK_DIR/p.log")"
}

# the attacker's summary line: "attempts N dropped N refused N held N
# tls_completed N"
atk_count() {
	sed -n "s/.*$1 \([0-9]*\).*/\1/p" "$ATK_DIR/attack.log" | tail -n 1
}

atk_case() {
	local where=$1 mode=$2 kind=$3
	shift 3
	atk_run "$@" "$kind"
	local what="attack $where, $mode, $kind as nobody"
	local att held tlsd drop
	att=$(atk_count attempts) held=$(atk_count held)
	tlsd=$(atk_count tls_completed) drop=$(atk_count dropped)
	if [ "$mode" = off ]; then
		# documented: unauthenticated, the first hello takes the QP
		# the attacked end is the accepting one: on loopback the larger
		# QPN, which may be either
		if { [ "$ATK_RT" = 2 ] && grep -q '^canary BROKEN' "$ATK_DIR/t.log"; } ||
			{ [ "$ATK_RP" = 2 ] && grep -q '^canary BROKEN' "$ATK_DIR/p.log"; }; then
			ok "$what: the attacker's WRITE and SEND land (canary overwritten, forged receive: unauthenticated mode)"
		else
			fail "$what: the attacker's WRITE and SEND land (documents the unauthenticated mode)" "$(atk_logs)"
		fi
		return
	fi
	# dropped before it reaches a QP: no frame counted against either
	local rej
	rej=$(grep -h '^rejected ' "$ATK_DIR/t.log" "$ATK_DIR/p.log" | tr '\n' ' ')
	if [ "$ATK_RT" = 0 ] && [ "$ATK_RP" = 0 ] && [ "$ATK_RA" = 0 ] &&
		[ "$rej" = "rejected 0 rejected 0 " ] &&
		[ "${drop:-0}" -gt 0 ] && [ "${held:-1}" = 0 ] && [ "${tlsd:-1}" = 0 ]; then
		ok "$what: $drop attempts dropped by the victim (of $att; the rest found the pair gone), none held; the pair's $ATK_ITERS iterations verified, no extra receive, canaries intact, no rejected frame on its QPs"
	else
		fail "$what: every attempt refused, the pair unaffected" "$(atk_logs)"
	fi
}

# ibv_open_device as nobody: the host key is root's (0600)
atk_open_nobody() {
	local out rc
	out=$(as_nobody "$ATTACK" open tcp0 2>&1)
	rc=$?
	if [ $rc = 1 ] && [[ $out == *"errno 13"* ]] && [[ $out == *key* ]]; then
		ok "nobody cannot open tcp0 (EACCES, says why: the key)"
	else
		fail "nobody cannot open tcp0: EACCES with a message naming the key" "exit $rc: $out"
	fi
}

phase_attack() {
	local mode kinds k
	for mode in off $MODES; do
		mode_words "$mode"
		dev_set "" tcp0 lo 127.0.0.1 "${MW[@]}" || continue
		kinds="race tls"
		[ "$mode" != off ] || kinds=race
		[ "$mode" = off ] || atk_open_nobody
		for k in $kinds; do
			atk_case loopback "$mode" "$k" "" tcp0 "" tcp0 127.0.0.1
		done
	done
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
	net_up || return
	for mode in off $MODES; do
		mode_words "$mode"
		dev_set "$NSB" tcpB2 bC "$IPBC" "${MW[@]}" || continue
		mode_words "$mode"
		dev_set "$NSC" tcpC vC "$IPC" "${MW[@]}" || continue
		kinds="race tls"
		[ "$mode" != off ] || kinds=race
		for k in $kinds; do
			atk_case "from namespace $NSC" "$mode" "$k" \
				"$NSB" tcpB2 "$NSC" tcpC "$IPBC"
		done
	done
}
