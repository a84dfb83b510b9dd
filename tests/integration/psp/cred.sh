# shellcheck shell=bash
# test_psp.sh phases "local" (who may use a device) and "cred" (what
# credentials connect). Sourced, never run.
#
# cred runs psp_peer pairs between namespaces C (tcpC on vC, the writer,
# connecting) and B (tcpB2 on bC, the target, accepting) with each end's
# own credentials: a mismatch must end in no connection -- the connecting
# QP fails cleanly (ERR, QP_FATAL, every WR flushed) within seconds, the
# accepting one is left untouched (docs/design.md: a failed handshake
# touches no QP) and still waits, healthy, when told to report (once the
# writer has failed and the handshake is gone on its side too) -- and each
# mismatch has a matching control that connects.

CR_ITERS=4

# cr_pair: the pair once; exit codes in CR_RT (target), CR_RW (writer)
cr_pair() {
	local pt pw
	CASE=$((CASE + 1))
	CR_DIR=$WORK/cred-$CASE
	mkdir -p "$CR_DIR"
	in_ns "$NSB" timeout -k 5 60 "$PEER" -d tcpB2 -o "$CR_DIR/t" \
		-i "$CR_DIR/w" -n "${CR_N:-$CR_ITERS}" -t "${CR_T:-30}" \
		${CR_S:+-s "$CR_S"} ${CR_STOP:+-S "$CR_DIR/stop" -K} \
		>"$CR_DIR/t.log" 2>&1 &
	pt=$!
	in_ns "$NSC" timeout -k 5 60 "$PEER" -d tcpC -o "$CR_DIR/w" \
		-i "$CR_DIR/t" -w -n "${CR_N:-$CR_ITERS}" -t "${CR_T:-30}" \
		${CR_S:+-s "$CR_S"} ${CR_R:+-R "$CR_R"} \
		${CR_STOP:+-S "$CR_DIR/stop"} >"$CR_DIR/w.log" 2>&1 &
	pw=$!
	PIDS=("$pt" "$pw")
	CR_PT=$pt CR_PW=$pw
	[ -n "${CR_BG:-}" ] && return 0
	cr_wait
}

cr_wait() {
	wait "$CR_PT"
	CR_RT=$?
	wait "$CR_PW"
	CR_RW=$?
	PIDS=()
}

cr_logs() {
	printf -- '--- target (exit %s)\n%s\n--- writer (exit %s)\n%s\n' \
		"$CR_RT" "$(cat "$CR_DIR/t.log")" "$CR_RW" "$(cat "$CR_DIR/w.log")"
}

# the writer's seconds from start to its result (its log's mtime)
cr_wsecs() {
	echo $(($(stat -c %Y "$CR_DIR/w.log") - $1))
}

# the target's QP has no TCP connection (its number, in the file it
# published, is its listener's port << 8 | slot): the writer's failed
# handshake is over on its side too
cr_target_alone() {
	local qpn port
	read -r qpn _ <"$CR_DIR/t" || return 1
	port=$((qpn >> 8))
	! in_ns "$NSB" ss -Htn state established "( sport = :$port )" |
		grep -q .
}

# refused: once the writer has failed and the target's side of the
# handshake is gone, the target reports (SIGUSR1, psp_peer): untouched
cr_refused_pair() {
	CR_BG=1 cr_pair
	wait "$CR_PW"
	CR_RW=$?
	if alive "$CR_PT"; then
		poll 5 cr_target_alone
		# (psp_peer itself: timeout and ip netns exec die of it)
		pkill -USR1 -f -- "^$PEER -d tcpB2 -o $CR_DIR/t " 2>/dev/null
	fi
	wait "$CR_PT"
	CR_RT=$?
	PIDS=()
}

# cr_expect WHAT connects|refused
cr_expect() {
	local what=$1 want=$2 t0 secs ws
	t0=$(date +%s)
	if [ "$want" = refused ]; then cr_refused_pair; else cr_pair; fi
	secs=$(($(date +%s) - t0))
	ws=$(cr_wsecs "$t0")
	if [ "$want" = connects ] && [ "$CR_RT" = 0 ] && [ "$CR_RW" = 0 ]; then
		ok "$what: connects, $CR_ITERS iterations verified (${secs} s)"
	elif [ "$want" = refused ] && [ "$CR_RW" = 1 ] && [ "$CR_RT" = 3 ] &&
		[ "$ws" -lt 3 ]; then
		ok "$what: no connection; the connecting QP fails cleanly in ${ws} s, the accepting one waits untouched"
	else
		fail "$what: want $want (${secs} s; writer done after ${ws} s)" "$(cr_logs)"
	fi
}

# cr_devs "C WORDS" "B WORDS": both ends re-registered
cr_devs() {
	# shellcheck disable=SC2086
	dev_set "$NSC" tcpC vC "$IPC" $1 && dev_set "$NSB" tcpB2 bC "$IPBC" $2
}

newkey() {
	(umask 077 && openssl rand -hex 32 >"$1")
}

# cr_rping WHAT connects|refused [SNS CNS IP]: rping, server in SNS
# (default B) on IP (default B's address towards C), client in CNS
# (default C), 5 pings
cr_rping() {
	local what=$1 want=$2 sns=${3-$NSB} cns=${4-$NSC} ip=${5-$IPBC}
	local port=19890 spid crc src out
	sm_prefix
	while port_used "$sns" $port; do port=$((port + 1)); done
	CASE=$((CASE + 1))
	local slog=$WORK/rping-$CASE-server.log clog=$WORK/rping-$CASE-client.log
	local tmo=30
	[ "$want" = connects ] || tmo=12
	in_ns "$sns" timeout -k 5 $tmo "${SM_PREFIX[@]}" rping -s -a "$ip" \
		-p $port -C 5 >"$slog" 2>&1 </dev/null &
	spid=$!
	PIDS=("$spid")
	if ! poll 15 listening "$sns" $port; then
		fail "$what: rping server listening" "$(cat "$slog")"
		return
	fi
	in_ns "$cns" timeout -k 5 $tmo "${SM_PREFIX[@]}" rping -c -a "$ip" \
		-p $port -C 5 -v -V >"$clog" 2>&1 </dev/null
	crc=$?
	# a refused client leaves the server waiting for the next one
	[ "$want" = refused ] && kill "$spid" 2>/dev/null
	wait "$spid"
	src=$?
	PIDS=()
	out=$(printf -- '--- server (exit %s)\n%s\n--- client (exit %s)\n%s' \
		"$src" "$(tail -n 15 "$slog")" "$crc" "$(tail -n 15 "$clog")")
	if [ "$want" = connects ]; then
		if [ "$crc" = 0 ] && [ "$src" = 0 ] && grep -q 'rdma-ping-4:' "$clog"; then
			ok "$what: rping connects, 5 pings verified"
		else
			fail "$what: rping connects" "$out"
		fi
	elif [ "$crc" != 0 ] && [ "$crc" != 124 ] && [ "$crc" != 137 ] &&
		grep -Eq 'REJECTED|CONNECT_ERROR|UNREACHABLE' "$clog" &&
		! grep -q 'rdma-ping-' "$clog" && ! san_report_in "$out"; then
		ok "$what: rping refused (client exit $crc: $(grep -Eo 'RDMA_CM_EVENT_[A-Z_]+' "$clog" | head -n 1)), no hang"
	else
		fail "$what: rping refused (REJECTED/CONNECT_ERROR), no hang" "$out"
	fi
}

# the target's (B's) QP's key generation, as psp_peer -K last printed it
cr_key_gen() {
	sed -n 's/^key_gen \([0-9]*\)$/\1/p' "$CR_DIR/t.log" | tail -n 1
}

# the target's QP has rekeyed past generation $1
cr_rekeyed() {
	local g
	g=$(cr_key_gen)
	[ -n "$g" ] && [ "$g" -gt "$1" ]
}

# rotate B's device key and wait until the target's QP has rekeyed: two
# rotations before a rekey would retire the key the pair still uses
cr_rotate_once() {
	local g out
	g=$(cr_key_gen)
	out=$(in_ns "$NSB" "$RDMA_TCP" link rotate tcpB2 2>&1) || {
		echo "link rotate: $out"
		return 1
	}
	poll 20 cr_rekeyed "$g" || {
		echo "no rekey past generation $g within 20 s"
		return 1
	}
}

# the rotation test: a pair running (until told to stop, -S) while B's
# device key rotates twice, each rotation waited for (-K)
cr_rotate() {
	local what="link rotate tcpB2 twice while a pair runs" r g0 g2
	CR_N=1000000 CR_S=4096 CR_T=50 CR_BG=1 CR_STOP=1 cr_pair
	if ! poll 30 grep -q '^running' "$CR_DIR/w.log" ||
		! poll 10 grep -q '^key_gen' "$CR_DIR/t.log"; then
		touch "$CR_DIR/stop"
		cr_wait
		fail "$what: the pair runs" "$(cr_logs)"
		return
	fi
	g0=$(cr_key_gen)
	r=$(cr_rotate_once && cr_rotate_once) || r="FAILED: $r"
	g2=$(cr_key_gen)
	touch "$CR_DIR/stop"
	cr_wait
	if [[ $r != *FAILED* ]] && [ "$CR_RT" = 0 ] && [ "$CR_RW" = 0 ] &&
		[ "$g2" = $((g0 + 2)) ]; then
		ok "$what: every message verified across both rekeys ($(sed -n 's/^iterations //p' "$CR_DIR/w.log") iterations, key generation $g0 -> $g2)"
	else
		fail "$what: every message verified across both rekeys" \
			"$r"$'\n'"$(cr_logs)"
	fi
	cr_expect "a new pair after two rotations" connects
}

phase_cred() {
	local k="$WORK/keys" m
	net_up || return
	mkdir -p "$k"
	if ! newkey "$k/k1" || ! newkey "$k/k2"; then
		fail "openssl rand -hex 32: key files"
		return
	fi
	if cr_devs "key $k/k1" "key $k/k1"; then
		cr_expect "same key file on both ends" connects
		cr_rping "same key file" connects
	fi
	if cr_devs "key $k/k1" "key $k/k2"; then
		cr_expect "different key files" refused
		# the handshake fails before the application moves its QP to
		# RTS: ibv_modify_qp must still succeed (docs/design.md), the
		# failure come as QP_FATAL and flushed WRs
		CR_R=300 cr_expect "different key files, the writer 300 ms from RTR to RTS" refused
		cr_rping "different key files" refused
	fi
	# whatever PSP_MODES says: a mismatch needs no second run per mode
	if cr_devs "key $k/k1" "psp encrypt key $k/k1"; then
		cr_expect "mode mismatch: auth against encrypt" refused
	fi
	if cr_devs "key $k/k1" "psp off"; then
		cr_expect "mode mismatch: auth against off" refused
	fi
	if cr_devs "key $k/k1" "key $k/k1"; then
		local out
		if out=$(in_ns "$NSB" "$RDMA_TCP" link set tcpB2 key "$k/k2" 2>&1); then
			cr_expect "after link set tcpB2 key k2, against k1" refused
		else
			fail "link set tcpB2 key k2" "$out"
		fi
		if out=$(in_ns "$NSB" "$RDMA_TCP" link set tcpB2 key "$k/k1" 2>&1); then
			cr_expect "after link set tcpB2 key k1 again" connects
		else
			fail "link set tcpB2 key k1" "$out"
		fi
		cr_rotate
	fi
	cr_certs
}

cr_certs() {
	local c=$WORK/certs out
	if ! out=$(mkcerts "$c" 2>&1); then
		fail "mkcerts (openssl)" "$out"
		return
	fi
	if cr_devs "cert $c/a.pem certkey $c/a.key ca $c/ca.pem" \
		"cert $c/b.pem certkey $c/b.key ca $c/ca.pem"; then
		cr_expect "certificates signed by the common CA" connects
	fi
	if cr_devs "cert $c/a.pem certkey $c/a.key ca $c/ca.pem" \
		"cert $c/rogue.pem certkey $c/rogue.key ca $c/ca.pem"; then
		cr_expect "B's certificate not signed by the CA" refused
	fi
	if cr_devs "cert $c/a.pem certkey $c/a.key ca $c/ca.pem" \
		"cert $c/expired.pem certkey $c/expired.key ca $c/ca.pem"; then
		cr_expect "B's certificate expired" refused
	fi
	if cr_devs "cert $c/a.pem certkey $c/a.key ca $c/ca.pem" "key $WORK/keys/k1"; then
		cr_expect "certificate against key file" refused
	fi
}

# who may open a device: the key's readers only
phase_local() {
	local k=$WORK/lkeys out rc
	mkdir -p "$k"
	dev_set "" tcp0 lo 127.0.0.1 || return
	atk_open_nobody
	check "root opens tcp0 (host key)" "$ATTACK" open tcp0
	local hk=$RDMA_TCP_ROOT/etc/host.key
	if [ -f "$hk" ] && [ "$(stat -c %a "$hk")" = 600 ]; then
		ok "host key $hk made, mode 0600"
	else
		fail "host key $hk made, mode 0600" "$(ls -l "$RDMA_TCP_ROOT/etc" 2>&1)"
	fi
	newkey "$k/g"
	chgrp nogroup "$k/g" && chmod 640 "$k/g"
	chmod 755 "$k"
	if dev_set "" tcp0 lo 127.0.0.1 key "$k/g"; then
		out=$(as_nobody "$ATTACK" open tcp0 2>&1)
		check_match "nobody (group nogroup) opens tcp0 with a key file 0640 root:nogroup" '^opened' "$out"
		chmod 644 "$k/g"
		out=$(as_nobody "$ATTACK" open tcp0 2>&1)
		rc=$?
		check_match "key file made world-readable: refused (EACCES, says why)" \
			'errno 13.*|every user' "$out"$'\n'"exit $rc"
		out=$("$ATTACK" open tcp0 2>&1)
		check_match "... for root too" 'errno 13' "$out"
		check_match "... and the message names the file and the mode" "$k/g.*(every user|0644)" "$out"
		rm -f "$k/g"
		out=$("$ATTACK" open tcp0 2>&1)
		rc=$?
		if [ $rc != 0 ] && [[ $out == *"$k/g"* ]]; then
			ok "key file removed: open fails and names the file (exit $rc)"
		else
			fail "key file removed: open fails and names the file" "exit $rc: $out"
		fi
	fi
	newkey "$k/w"
	chmod 644 "$k/w"
	out=$("$RDMA_TCP" link add tcp9 netdev lo key "$k/w" 2>&1)
	rc=$?
	"$RDMA_TCP" link del tcp9 >/dev/null 2>&1
	if [ $rc != 0 ] && [[ $out == *"$k/w"* ]]; then
		ok "link add with a world-readable key file refused, with the reason"
	else
		fail "link add with a world-readable key file refused, with the reason" "exit $rc: $out"
	fi
	"$RDMA_TCP" link del tcp0 >/dev/null 2>&1
}
