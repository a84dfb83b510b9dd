#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The provider's exported interface, read from the built library:
#
#   exports.sh LIB MAP HEADER
#
# LIB (libtcp.so.1) must have the soname libtcp.so.1 and define, in its
# dynamic symbol table, exactly the functions MAP (tcpdv.map) lists as
# global, each versioned @@TCPDV_1.N (its node in MAP), and nothing else
# (libibverbs needs no symbol of a provider: its constructor registers the
# driver); and the functions HEADER (tcpdv.h) declares must be those same
# ones. Prints one line per check and "N passed, N failed".
set -u

[ $# -eq 3 ] || { sed -n 4,13p "$0"; exit 2; }
lib=$1 map=$2 header=$3
NM=${NM:-nm}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/    | /'; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the map's global names (between "global:" and "local:")
sed -n '/global:/,/local:/p' "$map" | grep -o 'tcpdv_[a-z_]*' | sort >"$tmp/map"
# the header's function declarations: "int tcpdv_x(" at the start of a line
grep -o '^[a-z].* \**tcpdv_[a-z_]*(' "$header" | grep -v 'static inline' |
	grep -o 'tcpdv_[a-z_]*' | sort >"$tmp/hdr"
# defined dynamic symbols but the version node (type A)
if ! "$NM" -D --defined-only "$lib" >"$tmp/nm" 2>&1; then
	bad "nm -D $lib" "$(cat "$tmp/nm")"
	echo "$pass passed, $fail failed"
	exit 1
fi
awk '$2 != "A" { print $3 }' "$tmp/nm" | sort >"$tmp/dyn"
sed 's/@@TCPDV_1\.[0-9]*$//' "$tmp/dyn" >"$tmp/names"

if [ -s "$tmp/map" ]; then ok "the map exports $(wc -l <"$tmp/map") functions"; else bad "no global names in $map"; fi
if cmp -s "$tmp/map" "$tmp/hdr"; then
	ok "the header declares the functions the map exports"
else
	bad "header and map differ" "$(diff "$tmp/map" "$tmp/hdr")"
fi
if cmp -s "$tmp/map" "$tmp/names"; then
	ok "the library defines exactly the map's functions"
else
	bad "exported symbols differ from the map" "$(diff "$tmp/map" "$tmp/names")"
fi
if ! grep -qv '@@TCPDV_1\.[0-9]*$' "$tmp/dyn"; then
	ok "every export is versioned TCPDV_1.N"
else
	bad "unversioned exports" "$(grep -v '@@TCPDV_1\.[0-9]*$' "$tmp/dyn")"
fi
# every node of the map, and each function in the node that names it
for node in $(grep -o '^TCPDV_1\.[0-9]*' "$map"); do
	if grep -q " A $node\$" "$tmp/nm"; then ok "version node $node"; else bad "no version node $node"; fi
	for f in $(sed -n "/^$node {/,/^}/p" "$map" | grep -o 'tcpdv_[a-z_]*'); do
		grep -q " $f@@$node\$" "$tmp/nm" || bad "$f is not versioned $node"
	done
done
soname=$(readelf -d "$lib" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = libtcp.so.1 ]; then ok "soname libtcp.so.1"; else bad "soname '$soname'"; fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
