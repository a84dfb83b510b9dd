#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Which source file of the provider calls which, read from its object files:
# file A depends on file B when A.o leaves undefined a symbol B.o defines
# (nm). Prints the dependencies, then every strongly connected component of
# more than one file: the import cycles.
#
#   file_deps.sh BUILD_DIR               edges and cycles
#   file_deps.sh BUILD_DIR --cycles      cycles only
#   file_deps.sh BUILD_DIR --uses FILE   what FILE.o takes from each other
#                                        file (symbol by symbol)
#   file_deps.sh BUILD_DIR --only-uses FILE ALLOWED...
#                                        fails (exit 1) if FILE.o takes a
#                                        symbol from a file not ALLOWED
#
# Calls through function pointers do not show: that is the point of
# callbacks. Static inline functions count where they are expanded.
set -eu

[ $# -ge 1 ] || { sed -n 3,17p "$0"; exit 2; }
build=$1
shift
# the provider's objects: most in tcp_objs (shared with the transport's
# unit test), device.c's and tcpdv.c's in the library's own directory
objdirs="$build/providers/tcp/CMakeFiles/tcp_objs.dir $build/providers/tcp/CMakeFiles/tcp-rdmav34.dir"
for d in $objdirs; do
	[ -d "$d" ] || { echo "no objects in $d" >&2; exit 2; }
done
NM=${NM:-nm}
tab=$(mktemp)
trap 'rm -f "$tab"' EXIT
# one line per symbol: D file sym (defined) or U file sym (undefined); one
# nm for all the objects (a process per object took seconds on hosts where
# a process start is dear)
fileof='{ f = $1; sub(/:.*/, "", f); sub(/.*\//, "", f); sub(/\.c\.o$/, "", f) }'
objs=$(for d in $objdirs; do echo "$d"/*.c.o; done | tr "\n" " ")
{
	# shellcheck disable=SC2086 # build paths, no spaces in them
	"$NM" -A --defined-only -g $objs |
		awk "$fileof"' NF == 3 { print "D", f, $3 }'
	# shellcheck disable=SC2086
	"$NM" -A -u $objs | awk "$fileof"' { print "U", f, $NF }'
} >"$tab"

mode=${1:-all}
case $mode in
--uses | --only-uses)
	[ $# -ge 2 ] || { echo "$mode needs a FILE" >&2; exit 2; }
	file=$2
	shift 2
	case " $objs " in
	*"/$file.c.o "*) ;;
	*) echo "no $file.c.o in $objdirs" >&2; exit 2 ;;
	esac
	out=$(mktemp)
	rc=0
	awk -v file="$file" -v allowed=" $* " -v check="$mode" '
	$1 == "D" { def[$3] = $2 }
	$1 == "U" && $2 == file { use[$3] = 1 }
	END {
		bad = 0
		for (s in use) {
			if (!(s in def) || def[s] == file)
				continue
			no = check == "--only-uses" &&
			     index(allowed, " " def[s] " ") == 0
			print file " -> " def[s] ": " s (no ? "  (not allowed)" : "")
			bad = bad || no
		}
		exit bad
	}' "$tab" >"$out" || rc=$?
	sort "$out"
	rm -f "$out"
	exit $rc
	;;
esac

# the file graph, then Tarjan's algorithm (recursive: a few dozen files)
awk -v mode="$mode" '
$1 == "D" { def[$3] = $2; node[$2] = 1 }
$1 == "U" { node[$2] = 1; u[++nu] = $2 SUBSEP $3 }
END {
	for (i = 1; i <= nu; i++) {
		split(u[i], p, SUBSEP)
		if ((p[2] in def) && def[p[2]] != p[1])
			edge[p[1], def[p[2]]] = 1
	}
	n = 0
	for (v in node)
		names[++n] = v
	# sort the names so the output is stable
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && names[j - 1] > names[j]; j--) {
			t = names[j]; names[j] = names[j - 1]; names[j - 1] = t
		}
	if (mode != "--cycles")
		for (i = 1; i <= n; i++) {
			line = ""
			for (j = 1; j <= n; j++)
				if ((names[i], names[j]) in edge)
					line = line " " names[j]
			if (line != "")
				print names[i] " ->" line
		}
	idx = 0; sp = 0; ncyc = 0
	for (i = 1; i <= n; i++)
		if (!(names[i] in index_of))
			strong(names[i])
	if (mode != "--cycles")
		print ""
	print ncyc " cycle(s)"
	for (c = 1; c <= ncyc; c++)
		print "cycle " c " (" cyc_n[c] " files):" cyc[c]
}
function strong(v,    j, w, comp, k) {
	index_of[v] = idx; low[v] = idx; idx++
	stack[++sp] = v; on[v] = 1
	for (j = 1; j <= n; j++) {
		w = names[j]
		if (!((v, w) in edge))
			continue
		if (!(w in index_of)) {
			strong(w)
			if (low[w] < low[v])
				low[v] = low[w]
		} else if (on[w] && index_of[w] < low[v]) {
			low[v] = index_of[w]
		}
	}
	if (low[v] == index_of[v]) {
		comp = ""; k = 0
		do {
			w = stack[sp--]; on[w] = 0
			comp = " " w comp; k++
		} while (w != v)
		if (k > 1) {
			ncyc++; cyc[ncyc] = comp; cyc_n[ncyc] = k
		}
	}
}' "$tab"
