#!/bin/sh
# Test certificates for the TLS handshake's unit test (tests/unit/test_hs.c),
# made with the openssl command line into the directory given as argument:
#   ca.pem, ca2.pem          two unrelated CAs (EC P-256, self-signed)
#   a.pem/a.key, b.pem/b.key "node a", "node b", signed by ca
#   other.pem/other.key      signed by ca2
#   expired.pem/expired.key  signed by ca, valid in 2020 only
#   big.pem/big.key          b's certificate followed by 40 copies of
#                            ca.pem: a flight larger than a socket buffer
# `openssl x509 -req` of OpenSSL 3.0 has no -not_before/-not_after, so the
# expired one goes through `openssl ca`, which takes -startdate/-enddate.
set -eu
dir=${1:?usage: mkcerts.sh DIR}
mkdir -p "$dir"
cd "$dir"
rm -rf ca.db* ca.srl ca2.srl newcerts
openssl_q() { openssl "$@" 2>/dev/null; }

key() { openssl_q genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

mkca() {
	key "$1.key"
	openssl_q req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 \
		-sha256 -out "$1.pem"
}

# a leaf signed by CA $2: name $1, common name $3
mkleaf() {
	key "$1.key"
	openssl_q req -new -key "$1.key" -subj "/CN=$3" -out "$1.csr"
	openssl_q x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
		-CAcreateserial -days 365 -sha256 -out "$1.pem"
	rm -f "$1.csr"
}

mkca ca "rdma-tcp test CA"
mkca ca2 "rdma-tcp other CA"
mkleaf a ca "node a"
mkleaf b ca "node b"
mkleaf other ca2 "node other"

# expired: `openssl ca` with a minimal configuration and database
key expired.key
openssl_q req -new -key expired.key -subj "/CN=node expired" -out expired.csr
mkdir -p newcerts
: >ca.db
cat >ca.cnf <<CNF
[ ca ]
default_ca = test
[ test ]
database = ca.db
new_certs_dir = newcerts
serial = ca.serial
default_md = sha256
policy = anything
unique_subject = no
[ anything ]
commonName = supplied
CNF
echo 1000 >ca.serial
openssl_q ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key \
	-in expired.csr -out expired.pem -notext \
	-startdate 20200101000000Z -enddate 20200201000000Z
rm -rf expired.csr newcerts ca.db* ca.serial* ca.cnf
cp b.key big.key
{
	cat b.pem
	i=0
	while [ $i -lt 40 ]; do
		cat ca.pem
		i=$((i + 1))
	done
} >big.pem
chmod 600 ./*.key
openssl verify -CAfile ca.pem a.pem b.pem >/dev/null
