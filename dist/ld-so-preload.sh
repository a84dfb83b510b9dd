#!/bin/sh
# ld-so-preload add|remove|status [FILE]: the line of librdma-tcp-nl.so in
# /etc/ld.so.preload (or FILE), which lets every program list the
# registry's devices with no environment (rdma-tcp(7), "INSTALLED
# DEFAULTS"). Called by the package's maintainer scripts.
#  add     adds the line unless it is there, or there commented out (the
#          administrator's opt-out, kept across upgrades); only when the
#          library loads into a program here, so a broken library never
#          reaches every process of the host
#  remove  removes the line (before the library goes)
# Other lines are kept as they are; the file is replaced by rename().
set -eu

LIB='@RDMA_TCP_NL_INSTALLED@'
cmd=${1:-}
file=${2:-/etc/ld.so.preload}

has_line() { [ -f "$file" ] && grep -qx "[[:space:]]*$1" "$file"; }

# Replaces $file by the output of "$@" (mode and owner kept), by rename().
replace() {
	tmp="$file.rdma-tcp.$$"
	trap 'rm -f "$tmp"' EXIT
	"$@" >"$tmp"
	if [ -f "$file" ]; then
		chmod --reference="$file" "$tmp"
		chown --reference="$file" "$tmp"
	else
		chmod 644 "$tmp"
	fi
	mv -f "$tmp" "$file"
	trap - EXIT
}

# the file with its last line ended, then the library
with_line() {
	[ ! -s "$file" ] || sed -e '$a\' "$file"
	echo "$LIB"
}

without_line() { grep -vx "[[:space:]]*$LIB" "$file" || true; }

case $cmd in
add)
	if has_line "$LIB" || has_line "#[[:space:]]*$LIB"; then
		exit 0
	fi
	# ld.so says why on stderr and runs the program anyway
	out=$(LD_PRELOAD="$LIB" /bin/true 2>&1) || out="exit status $?"
	if [ -n "$out" ]; then
		echo "rdma-tcp: $LIB does not load ($out);" \
			"$file left as it is" >&2
		exit 0
	fi
	replace with_line
	;;
remove)
	has_line "$LIB" || exit 0
	replace without_line
	;;
status)
	if has_line "$LIB"; then echo enabled; else echo disabled; fi
	;;
*)
	echo "usage: $0 add|remove|status [FILE]" >&2
	exit 2
	;;
esac
