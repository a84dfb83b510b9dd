#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Builds the libFuzzer frame-codec target with clang and runs it briefly on
# the seed corpus.
#
#   tests/fuzz/run-fuzz.sh [BUILD_DIR] [-- LIBFUZZER_ARGS...]
#
# BUILD_DIR (default build-fuzz/ at the top of the tree) gets the binary
# fuzz_frame (clang -fsanitize=fuzzer,address,undefined), a working corpus
# (corpus/: the seeds of tests/fuzz/corpus plus what the fuzzer finds; the
# source tree is never written) and any crash artifacts (crash-*, leak-*,
# timeout-*), each of which reproduces with `BUILD_DIR/fuzz_frame FILE`.
#
# Environment: FUZZ_SECONDS (default 30, libFuzzer -max_total_time),
# FUZZ_JOBS (default 1), CLANG (default: clang-14, else clang).
# Exit status: 0 if the run found nothing, 1 if it found a crash or an
# invariant violation (abort), 2 if the binary could not be built.

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
JOBS=${FUZZ_JOBS:-1}

mkdir -p "$BUILD/corpus" "$BUILD/artifacts" || exit 2
BIN=$BUILD/fuzz_frame
# -O1 -g: libFuzzer's recommendation; UBSan findings abort like ASan's
if ! "$CLANG" -g -O1 -fno-omit-frame-pointer -D_GNU_SOURCE \
	-Wall -Wextra -Werror -Wno-unused-parameter \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I"$SRC/include" -I"$HERE" \
	"$HERE/fuzz_frame.c" "$SRC/providers/tcp/wire.c" -o "$BIN"; then
	echo "run-fuzz.sh: build failed" >&2
	exit 2
fi
echo "built $BIN with $("$CLANG" --version | head -1)"

# Seeds into the working corpus (the fuzzer adds its finds beside them)
cp -f "$HERE"/corpus/* "$BUILD/corpus/" || exit 2

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# -jobs forks workers that log to fuzz-N.log: only when asked for
PAR=()
if [ "$JOBS" -gt 1 ]; then
	PAR=(-jobs="$JOBS" -workers="$JOBS")
fi
cd "$BUILD" || exit 2
rm -f "$BUILD"/artifacts/*
"$BIN" -max_total_time="$SECONDS_" -max_len=8192 -timeout=10 \
	-rss_limit_mb=2048 -print_final_stats=1 "${PAR[@]}" \
	-artifact_prefix="$BUILD/artifacts/" "$@" "$BUILD/corpus"
rc=$?
if [ "$JOBS" -gt 1 ]; then
	tail -n 5 "$BUILD"/fuzz-*.log
fi
if [ $rc -ne 0 ] || ls "$BUILD"/artifacts/* >/dev/null 2>&1; then
	echo "run-fuzz.sh: FAILED (exit $rc); artifacts:" >&2
	ls -l "$BUILD"/artifacts/ >&2
	exit 1
fi
echo "run-fuzz.sh: ok, ${SECONDS_} s, corpus $(find "$BUILD/corpus" -type f | wc -l) inputs"
