# shellcheck shell=bash
# Running pairs of stock verbs programs (server + client), sourced, never
# run. Needs tests/lib/testlib.sh (ok/fail, in_ns, listening, port_used,
# alive) and tests/lib/sanitize.sh (san_setup already done: sm_prefix uses
# it to put the sanitizer runtime first in an ASan build).
#
#   sm_run_case LABEL SRV_NS SRV_DEV CLI_NS CLI_DEV SRV_IP PROG ARGS...
#       Starts PROG as a server (in network namespace SRV_NS, "" = the
#       current one) on device SRV_DEV, waits until it listens on its
#       port (testlib's listening: TCP, or rdma_cm's; deadline
#       SM_LISTEN_WAIT s), then runs PROG as a
#       client (in CLI_NS on CLI_DEV) against SRV_IP. Both sides get ARGS
#       plus the device (-d), the GID index (-g for ibv_*_pingpong, -x for
#       perftest, SM_GID_INDEX) and a fresh TCP port (-p); each side runs
#       under `timeout SM_TIMEOUT`. Records one ok/fail: both exit statuses
#       0, the client's result (perftest: a row of numbers under '#bytes',
#       with -a rows from 2 to 8388608 bytes; pingpong: the 'iters in' line
#       on both sides), no sanitizer report in either log. On failure the
#       detail names the side(s) that failed and shows the last
#       SM_TAIL lines of both logs.
#       A failed case runs again, up to SM_RETRY times (default 1); a pass
#       on retry is an ok line that says so and shows the first failure,
#       and counts in SM_RETRIED.
#   sm_cleanup
#       Kills a server or client still running (for an EXIT trap).
#
#   sm_prefix
#       Sets the array SM_PREFIX: what goes before a stock program so it
#       loads SM_PRELOAD (the LD_PRELOAD of `rdma-tcp env`) and, in a
#       sanitizer build, the sanitizer runtime first (sanitize.sh).
#
# Keep LD_PRELOAD out of the script's own environment (SM_PRELOAD instead):
# in a sanitizer build the preload library is instrumented and would make
# every helper (ip, ss, rdma-tcp) abort because ASan's runtime is not first.
#
# Settings (set before calling): SM_LOGDIR (required, a directory for the
# logs), SM_PRELOAD (""), SM_TIMEOUT (60), SM_LISTEN_WAIT (20),
# SM_GID_INDEX (0),
# SM_PORT (next TCP port to try, default 19300; ports in use in either
# namespace are skipped), SM_TAIL (30).
# After each case: SM_LAST_SECS (wall time of the pair), SM_LAST_OK (1/0).

SM_TIMEOUT=${SM_TIMEOUT:-60}
SM_LISTEN_WAIT=${SM_LISTEN_WAIT:-20}
SM_GID_INDEX=${SM_GID_INDEX:-0}
SM_PORT=${SM_PORT:-19300}
SM_TAIL=${SM_TAIL:-30}
SM_RETRY=${SM_RETRY:-1}
SM_RETRIED=0
SM_DETAIL=
SM_ERR_RE="error|fail|couldn|unable|exceeded|timed? ?out|abort|sanitizer|runtime error|segmentation|assert"
SM_PRELOAD=${SM_PRELOAD:-}
SM_PREFIX=()
SM_SERVER_PID=
SM_CLIENT_PID=
SM_CASE_NO=0
SM_LAST_SECS=0
SM_LAST_OK=0

# Next free port in both namespaces, in SM_PICKED; advances SM_PORT
sm_pick_port() {
	local tries=0
	while port_used "$1" "$SM_PORT" || port_used "$2" "$SM_PORT"; do
		SM_PORT=$((SM_PORT + 1))
		tries=$((tries + 1))
		[ $tries -lt 1000 ] || return 1
	done
	SM_PICKED=$SM_PORT
	SM_PORT=$((SM_PORT + 1))
}

sm_prefix() {
	if [ "${SAN_ACTIVE:-0}" = 1 ]; then
		# san_refresh puts the runtimes before this LD_PRELOAD
		LD_PRELOAD=$SM_PRELOAD san_refresh
		SM_PREFIX=("${STOCK[@]}")
	elif [ -n "$SM_PRELOAD" ]; then
		SM_PREFIX=(env "LD_PRELOAD=$SM_PRELOAD")
	else
		SM_PREFIX=()
	fi
}

sm_cleanup() {
	local pid
	for pid in "$SM_CLIENT_PID" "$SM_SERVER_PID"; do
		alive "$pid" || continue
		# timeout(1) passes the signal on to its process group
		kill "$pid" 2>/dev/null
		sleep 0.2
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	SM_CLIENT_PID=
	SM_SERVER_PID=
}

# Status words for a side's exit code
sm_status() {
	case $1 in
	0) echo "exit 0" ;;
	124) echo "TIMED OUT after ${SM_TIMEOUT}s (exit 124)" ;;
	137) echo "killed (exit 137)" ;;
	*) if [ "$1" -gt 128 ]; then
		echo "exit $1 (signal $(($1 - 128)))"
	else
		echo "exit $1"
	fi ;;
	esac
}

# Does perftest client log $1 hold a result table? With $2 = all (-a),
# it must run from 2 to 8388608 bytes.
sm_perftest_table() {
	awk -v all="$2" '
		/#bytes/ { hdr = 1; next }
		hdr && $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9.]+$/ {
			rows++; if ($1 == 2) lo = 1; if ($1 == 8388608) hi = 1
		}
		END { exit !(rows > 0 && (all != "all" || (lo && hi))) }' "$1"
}

sm_pingpong_result() {
	grep -Eq '^[0-9]+ iters in [0-9.]+ seconds = [0-9.]+ usec/iter' "$1"
}

# One attempt of a case: returns 0/1, the failure text in SM_DETAIL.
sm_attempt() {
	local label=$1 sns=$2 sdev=$3 cns=$4 cdev=$5 ip=$6 prog=$7
	shift 7
	local args=("$@") gid kind port slog clog t0 crc src why="" a all=""
	case $prog in
	ibv_*pingpong) gid=(-g "$SM_GID_INDEX") kind=pingpong ;;
	*) gid=(-x "$SM_GID_INDEX") kind=perftest ;;
	esac
	for a in "${args[@]}"; do
		[ "$a" = -a ] && all=all
	done
	SM_CASE_NO=$((SM_CASE_NO + 1))
	SM_LAST_OK=0
	SM_LAST_SECS=0
	SM_DETAIL=
	if ! sm_pick_port "$sns" "$cns"; then
		SM_DETAIL="no free TCP port from $SM_PORT"
		return 1
	fi
	port=$SM_PICKED
	slog=$SM_LOGDIR/$(printf '%03d' "$SM_CASE_NO")-$prog-server.log
	clog=${slog%-server.log}-client.log
	local scmd=("$prog" -d "$sdev" "${gid[@]}" -p "$port" "${args[@]}")
	local ccmd=("$prog" -d "$cdev" "${gid[@]}" -p "$port" "${args[@]}" "$ip")

	local spre=() cpre=()
	[ -z "$sns" ] || spre=(ip netns exec "$sns")
	[ -z "$cns" ] || cpre=(ip netns exec "$cns")
	sm_prefix
	t0=$(date +%s%N)
	printf '# %s%s\n' "${sns:+ip netns exec $sns }" "${scmd[*]}" >"$slog"
	# a simple command, so $! is timeout(1) itself (ip netns exec execs)
	"${spre[@]}" timeout -k 5 "$SM_TIMEOUT" "${SM_PREFIX[@]}" "${scmd[@]}" \
		>>"$slog" 2>&1 </dev/null &
	SM_SERVER_PID=$!

	# the client may start once the server listens on its port
	local end=$(($(date +%s%N) + SM_LISTEN_WAIT * 1000000000))
	while ! listening "$sns" "$port"; do
		if ! alive "$SM_SERVER_PID"; then
			why="server exited before listening on port $port"
			break
		fi
		if [ "$(date +%s%N)" -ge "$end" ]; then
			why="server not listening on port $port after ${SM_LISTEN_WAIT}s"
			break
		fi
		sleep 0.05
	done

	if [ -z "$why" ]; then
		printf '# %s%s\n' "${cns:+ip netns exec $cns }" "${ccmd[*]}" >"$clog"
		# in the background too, so sm_cleanup can stop it on a signal
		"${cpre[@]}" timeout -k 5 "$SM_TIMEOUT" "${SM_PREFIX[@]}" "${ccmd[@]}" \
			>>"$clog" 2>&1 </dev/null &
		SM_CLIENT_PID=$!
		wait "$SM_CLIENT_PID"
		crc=$?
		SM_CLIENT_PID=
	else
		crc=-1
		: >"$clog"
	fi

	# a failed client may leave the server waiting: give it 5 s
	if [ "$crc" -ne 0 ]; then

		for _ in $(seq 50); do
			alive "$SM_SERVER_PID" || break
			sleep 0.1
		done
		if alive "$SM_SERVER_PID"; then
			why="${why:+$why; }server still running 5 s after the client failed (killed)"
			kill "$SM_SERVER_PID" 2>/dev/null
		fi
	fi
	wait "$SM_SERVER_PID"
	src=$?
	SM_SERVER_PID=
	SM_LAST_SECS=$(awk -v n=$(($(date +%s%N) - t0)) 'BEGIN { printf "%.1f", n / 1e9 }')

	local problems=()
	[ -z "$why" ] || problems+=("$why")
	[ "$src" -eq 0 ] || problems+=("SERVER failed: $(sm_status "$src")")
	if [ "$crc" -ne 0 ] && [ "$crc" -ne -1 ]; then
		problems+=("CLIENT failed: $(sm_status "$crc")")
	fi
	if [ "$crc" -eq 0 ]; then
		if [ $kind = perftest ]; then
			sm_perftest_table "$clog" "$all" ||
				problems+=("client printed no result table under '#bytes'${all:+ covering 2..8388608 bytes}")
		else
			sm_pingpong_result "$clog" ||
				problems+=("client printed no 'N iters in S seconds' line")
			[ "$src" -ne 0 ] || sm_pingpong_result "$slog" ||
				problems+=("server printed no 'N iters in S seconds' line")
		fi
	fi
	san_report_in "$(cat "$slog")" && problems+=("sanitizer report in the SERVER log")
	san_report_in "$(cat "$clog")" && problems+=("sanitizer report in the CLIENT log")

	if [ ${#problems[@]} -eq 0 ]; then
		SM_LAST_OK=1
		return 0
	fi
	local d
	d=$(printf '%s\n' "${problems[@]}")
	d+=$'\n'"server: ${sns:+ip netns exec $sns }${scmd[*]}"
	d+=$'\n'"client: ${cns:+ip netns exec $cns }${ccmd[*]}"
	# stderr lines (errors) land before buffered stdout: show them too
	local f errs
	for f in "$slog" "$clog"; do
		errs=$(grep -Ei "$SM_ERR_RE" "$f" | head -n 10)
		[ -z "$errs" ] || d+=$'\n'"--- error lines of $(basename "$f"):"$'\n'$errs
	done
	d+=$'\n'"--- server log, last $SM_TAIL lines ($slog):"
	d+=$'\n'$(tail -n "$SM_TAIL" "$slog")
	d+=$'\n'"--- client log, last $SM_TAIL lines ($clog):"
	d+=$'\n'$(tail -n "$SM_TAIL" "$clog")
	SM_DETAIL=$d
	return 1
}

# A case, retried SM_RETRY times (default 1) when it fails. Stock programs
# exchange their out-of-band data with bare read()/write() and exit on any
# hiccup, and this shared 2-core machine stalls processes for seconds at
# times; a second failure is a failure. A pass on retry is reported as
# such, with the first attempt's detail, so it stays visible in the log.
sm_run_case() {
	local what="$1: $7" a first="" try=0
	for a in "${@:8}"; do
		what+=" $a"
	done
	while :; do
		if sm_attempt "$@"; then
			if [ -z "$first" ]; then
				ok "$what (${SM_LAST_SECS} s)"
			else
				ok "$what (${SM_LAST_SECS} s; PASSED ON RETRY $try, first attempt failed:)"
				printf '%s\n' "$first" | sed 's/^/    # /'
				SM_RETRIED=$((SM_RETRIED + 1))
			fi
			return 0
		fi
		[ -n "$first" ] || first=$SM_DETAIL
		try=$((try + 1))
		[ "$try" -le "$SM_RETRY" ] || break
	done
	fail "$what (${SM_LAST_SECS} s)" "$SM_DETAIL"
	return 1
}
