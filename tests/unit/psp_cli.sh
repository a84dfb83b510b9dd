#!/bin/sh
# SPDX-License-Identifier: MIT
# The PSP key derivation and the auth-mode tag of psp.c against the openssl
# command line, on inputs drawn fresh each run: proves test_psp's vectors
# are PSP's construction and not psp.c's own output played back.
#   usage: psp_cli.sh TEST_PSP_BINARY
set -u
bin=$1
dir=$(mktemp -d /tmp/psp_cli.XXXXXX)
trap 'rm -rf "$dir"' EXIT
pass=0
fail=0

check() { # what got want
	if [ -n "$2" ] && [ "$2" = "$3" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $1: psp.c '$2', openssl '$3'"
	fi
}

# PSP's KDF input block: counter(4) "Pv" version 0x00 SPI(4) 0x0000 L(2)
block() { # counter version(0|1) spi-hex(8) L-hex(4)
	printf '%08x' "$1" | xxd -r -p
	printf 'Pv%s' "$2"
	printf '00%s0000%s' "$3" "$4" | xxd -r -p
}

cmac() { # master-hex file
	openssl mac -cipher AES-256-CBC -macopt hexkey:"$1" -in "$2" CMAC |
		tr 'A-F' 'a-f'
}

for i in 1 2 3; do
	master=$(openssl rand -hex 32)
	spi=$(openssl rand -hex 4)
	block 1 0 "$spi" 0080 >"$dir/b"
	want=$(cmac "$master" "$dir/b")
	check "derive 128 spi $spi" "$("$bin" derive "$master" 0x"$spi" 128)" "$want"
	block 1 1 "$spi" 0100 >"$dir/b1"
	block 2 1 "$spi" 0100 >"$dir/b2"
	want=$(cmac "$master" "$dir/b1")$(cmac "$master" "$dir/b2")
	check "derive 256 spi $spi" "$("$bin" derive "$master" 0x"$spi" 256)" "$want"
	key=$want

	# a frame: 64-byte header and a payload of random length, the
	# first small enough for psp.c's one-update path (<= 256 bytes)
	spi=$(openssl rand -hex 4)
	iv=$(openssl rand -hex 8)
	max=$((i == 1 ? 193 : 3000))
	n=$(($(od -An -tu2 -N2 /dev/urandom) % max + 64))
	openssl rand -out "$dir/f" "$n"
	for k in "$key" "$(echo "$key" | cut -c1-32)"; do
		bits=$((${#k} * 4))
		want=$(openssl mac -cipher "AES-$bits-GCM" -macopt hexkey:"$k" \
			-macopt hexiv:"$spi$iv" -in "$dir/f" GMAC |
			tr 'A-F' 'a-f')
		check "gmac $bits, $n bytes" \
			"$("$bin" gmac "$k" 0x"$spi" 0x"$iv" "$dir/f")" "$want"
	done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
