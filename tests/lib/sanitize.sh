# shellcheck shell=bash
# Running stock programs against a sanitizer build: sourced, never run.
#
# Stock binaries (ibv_devinfo, ib_write_bw, rping, /usr/bin/python3) are not
# built with ASan, but in a -DRDMA_TCP_SANITIZE=ON build they dlopen() our
# ASan+UBSan-instrumented provider. ASan's runtime must then be the first
# library of the process, so it is preloaded, with libubsan; leak detection
# is off for them (stock tools leak at exit by design, and those reports are
# not ours). Our own binaries link the runtimes themselves and keep leak
# detection on.
#
#   san_setup FILE   FILE: any binary of the build (e.g. build/kernel-glue/
#                    rdma-tcp) or a build directory. Sets SAN_ACTIVE=1 and
#                    the array STOCK=(env LD_PRELOAD=... ASAN_OPTIONS=...)
#                    for a sanitizer build, else SAN_ACTIVE=0 and STOCK=().
#   stock CMD...     run a stock program with that prefix
#   "${STOCK[@]}"    the same prefix for composition, e.g.
#                    ip netns exec NS "${STOCK[@]}" ibv_devinfo
#                    (san_refresh first if LD_PRELOAD changed since
#                    san_setup; stock does that itself)
#   san_env          print the variables as shell exports (for eval)
#
# Any LD_PRELOAD already set (e.g. by `rdma-tcp env` for the rdma_cm preload
# library) is kept, after the sanitizer runtimes.

SAN_ACTIVE=0
STOCK=()
SAN_PRELOAD=
SAN_ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1"
SAN_UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

# true if ELF file $1 needs libasan
san_elf_is_asan() {
	[ -f "$1" ] && LC_ALL=C readelf -d "$1" 2>/dev/null |
		grep -q 'NEEDED.*libasan\.so'
}

san_runtime() {
	local f cc
	for cc in gcc cc; do
		command -v "$cc" >/dev/null 2>&1 || continue
		f=$("$cc" -print-file-name="$1")
		# -print-file-name echoes the bare name when it finds nothing
		if [ "$f" != "$1" ] && [ -e "$f" ]; then
			readlink -f "$f"
			return 0
		fi
	done
	return 1
}

san_setup() {
	local target=$1 probe=$1 asan ubsan
	if [ -d "$target" ]; then
		if grep -q '^RDMA_TCP_SANITIZE:BOOL=ON' "$target/CMakeCache.txt" 2>/dev/null; then
			probe=ASAN
		else
			probe=
		fi
	fi
	SAN_ACTIVE=0
	STOCK=()
	SAN_PRELOAD=
	if [ "$probe" = ASAN ] || { [ -n "$probe" ] && san_elf_is_asan "$probe"; }; then
		asan=$(san_runtime libasan.so) || {
			echo "sanitize.sh: libasan.so not found (gcc -print-file-name)" >&2
			return 1
		}
		SAN_PRELOAD=$asan
		if ubsan=$(san_runtime libubsan.so); then
			SAN_PRELOAD="$SAN_PRELOAD:$ubsan"
		fi
		SAN_ACTIVE=1
	fi
	san_refresh
	return 0
}

# Rebuild STOCK from the current LD_PRELOAD/ASAN_OPTIONS (after an
# `eval "$(rdma-tcp env)"` that changed them).
san_refresh() {
	STOCK=()
	[ "$SAN_ACTIVE" = 1 ] || return 0
	local pre=$SAN_PRELOAD
	case ":${LD_PRELOAD:-}:" in
	*":$SAN_PRELOAD:"* | *":${SAN_PRELOAD%%:*}:"*) pre=${LD_PRELOAD:-} ;;
	*) pre="$SAN_PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}" ;;
	esac
	STOCK=(env "LD_PRELOAD=$pre"
		"ASAN_OPTIONS=$SAN_ASAN_OPTIONS"
		"UBSAN_OPTIONS=$SAN_UBSAN_OPTIONS")
}

stock() {
	san_refresh
	"${STOCK[@]}" "$@"
}

san_env() {
	san_refresh
	[ "$SAN_ACTIVE" = 1 ] || return 0
	printf 'export LD_PRELOAD=%q\n' "${STOCK[1]#LD_PRELOAD=}"
	printf 'export ASAN_OPTIONS=%q\n' "$SAN_ASAN_OPTIONS"
	printf 'export UBSAN_OPTIONS=%q\n' "$SAN_UBSAN_OPTIONS"
}

# true if TEXT ($1) carries a sanitizer report
san_report_in() {
	[[ $1 == *"ERROR: AddressSanitizer"* || $1 == *"runtime error:"* ||
		$1 == *"ERROR: LeakSanitizer"* || $1 == *"UndefinedBehaviorSanitizer"* ]]
}
