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
# Every check prints one line, "ok - ..." or "FAIL - ...", so a log shows
# what was asserted, not only what broke.

T_PASSED=0
T_FAILED=0

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
