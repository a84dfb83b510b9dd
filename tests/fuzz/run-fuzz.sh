#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Builds the libFuzzer targets with clang and runs each in turn on its
# seed corpus:
#   frame  the frame codec and the receiver's framing (fuzz_frame.c on
#          providers/tcp/wire.c)
#   hello  the accepting side's handling of a hello (fuzz_hello.c on
#          providers/tcp/hello.c, which conn.c runs)
#   cm     the rdma_cm control protocol (fuzz_cm.c on
#          librdmacm-ext/cm_msg.c, which the CM thread runs)
#
#   tests/fuzz/run-fuzz.sh [BUILD_DIR] [-- LIBFUZZER_ARGS...]
#
# BUILD_DIR (default build-fuzz/ at the top of the tree) gets, per target
# T, the binary fuzz_T (clang -fsanitize=fuzzer,address,undefined) and a
# directory T/ with the working corpus (T/corpus: the seeds of
# tests/fuzz/corpus* plus what the fuzzer finds; the source tree is never
# written), the run's log (T/fuzz.log) and any crash artifacts
# (T/artifacts: crash-*, leak-*, timeout-*), each of which reproduces with
# `BUILD_DIR/fuzz_T FILE`. LIBFUZZER_ARGS go to every target (e.g.
# -runs=10000000).
#
# Environment: FUZZ_SECONDS (default 30, libFuzzer -max_total_time, per
# target), FUZZ_TARGETS (default "frame hello cm"), FUZZ_JOBS (default 1),
# CLANG (default: clang-14, else clang).
# Exit status: 0 if no run found anything, 1 if a run found a crash or an
# invariant violation (abort), 2 if a binary could not be built.

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$SRC/build-fuzz
if [ $# -gt 0 ] && [ "$1" != -- ]; then
	BUILD=$1
	shift
fi
[ "${1:-}" = -- ] && shift

CLANG=${CLANG:-$(command -v clang-14 || command -v clang || true)}
if [ -z "$CLANG" ]; then
	echo "run-fuzz.sh: clang not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
	exit 2
fi
SECONDS_=${FUZZ_SECONDS:-30}
TARGETS=${FUZZ_TARGETS:-frame hello cm}
JOBS=${FUZZ_JOBS:-1}
mkdir -p "$BUILD" || exit 2
BUILD=$(cd "$BUILD" && pwd)

# per target: sources, seed corpus, longest input
sources() {
	case $1 in
	frame) echo "$HERE/fuzz_frame.c $SRC/providers/tcp/wire.c" ;;
	hello) echo "$HERE/fuzz_hello.c $SRC/providers/tcp/hello.c $SRC/providers/tcp/wire.c" ;;
	cm) echo "$HERE/fuzz_cm.c $SRC/librdmacm-ext/cm_msg.c" ;;
	*) return 1 ;;
	esac
}
seeds() {
	case $1 in
	frame) echo "$HERE/corpus" ;;
	*) echo "$HERE/corpus-$1" ;;
	esac
}
max_len() {
	case $1 in
	frame) echo 8192 ;;
	*) echo 4096 ;;
	esac
}

build() {
	local t=$1 src
	src=$(sources "$t") || {
		echo "run-fuzz.sh: unknown target '$t'" >&2
		return 1
	}
	# -O1 -g: libFuzzer's recommendation; UBSan findings abort like ASan's
	# shellcheck disable=SC2086
	"$CLANG" -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE \
		-Wall -Wextra -Werror -Wno-unused-parameter \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-I"$SRC/include" -I"$HERE" -I"$SRC/providers/tcp" \
		-I"$SRC/librdmacm-ext" $src -o "$BUILD/fuzz_$t"
}

for t in $TARGETS; do
	if ! build "$t"; then
		echo "run-fuzz.sh: build of fuzz_$t failed" >&2
		exit 2
	fi
done
echo "built $(for t in $TARGETS; do printf 'fuzz_%s ' "$t"; done)with $("$CLANG" --version | head -1)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# -jobs forks workers that log to fuzz-N.log: only when asked for
PAR=()
if [ "$JOBS" -gt 1 ]; then
	PAR=(-jobs="$JOBS" -workers="$JOBS")
fi

# One target: prints its figures; returns 1 on a finding.
run() {
	local t=$1 dir=$BUILD/$1 rc start
	shift
	mkdir -p "$dir/corpus" "$dir/artifacts" || return 1
	# seeds into the working corpus (the fuzzer adds its finds beside them)
	cp -f "$(seeds "$t")"/* "$dir/corpus/" || return 1
	rm -f "$dir"/artifacts/* "$dir"/fuzz-*.log
	start=$(date +%s)
	(cd "$dir" && "$BUILD/fuzz_$t" -max_total_time="$SECONDS_" \
		-max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 "${PAR[@]}" \
		-artifact_prefix="$dir/artifacts/" "$@" "$dir/corpus") \
		>"$dir/fuzz.log" 2>&1
	rc=$?
	if [ "$JOBS" -gt 1 ]; then
		tail -n 5 "$dir"/fuzz-*.log
	fi
	if [ $rc -ne 0 ] || ls "$dir"/artifacts/* >/dev/null 2>&1; then
		tail -n 60 "$dir/fuzz.log" >&2
		echo "run-fuzz.sh: fuzz_$t FAILED (exit $rc); artifacts:" >&2
		ls -l "$dir"/artifacts/ >&2
		return 1
	fi
	# the final status line and stats: executions, speed, coverage
	printf 'fuzz_%s: ok, %s s: %s execs, %s exec/s, %s, corpus %s inputs\n' \
		"$t" "$(($(date +%s) - start))" \
		"$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -1)" \
		"$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/fuzz.log" | tail -1)" \
		"$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$dir/fuzz.log" | tail -1)" \
		"$(find "$dir/corpus" -type f | wc -l)"
}

failed=0
for t in $TARGETS; do
	run "$t" "$@" || failed=1
done
if [ $failed -ne 0 ]; then
	echo "run-fuzz.sh: FAILED" >&2
	exit 1
fi
echo "run-fuzz.sh: ok, $TARGETS: up to ${SECONDS_} s each"
