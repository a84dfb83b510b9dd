# shellcheck shell=bash
# Test certificates made at test time with the openssl command line:
# sourced, never run.
#
#   mkcerts DIR     makes in DIR (keys mode 0600):
#     ca.pem ca.key                 a CA (valid 2 days)
#     a.pem a.key, b.pem b.key      signed by it, valid 1 day, for TLS
#                                   client and server (mutual)
#     rogue-ca.pem rogue-ca.key     another CA
#     rogue.pem rogue.key           signed by the other CA
#     expired.pem expired.key       signed by ca.pem, valid 2020-01-01 to
#                                   2020-01-02 only
#   Returns non-zero (the failing command's output on stderr) on error.

_mkcerts_ext() {
	printf '%s\n' 'basicConstraints=critical,CA:FALSE' \
		'keyUsage=critical,digitalSignature' \
		'extendedKeyUsage=serverAuth,clientAuth' \
		'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid'
}

# _mkcerts_ca DIR NAME: a self-signed CA NAME.pem / NAME.key
_mkcerts_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -keyout "$1/$2.key" -out "$1/$2.pem" -days 2 \
		-subj "/CN=rdma-tcp test $2" \
		-addext 'basicConstraints=critical,CA:TRUE' \
		-addext 'keyUsage=critical,keyCertSign,cRLSign' 2>&1
}

# _mkcerts_csr DIR NAME: a key and a request
_mkcerts_csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -keyout "$1/$2.key" -out "$1/$2.csr" \
		-subj "/CN=rdma-tcp test $2" 2>&1
}

# _mkcerts_leaf DIR NAME CA: NAME signed by CA, valid 1 day
_mkcerts_leaf() {
	_mkcerts_csr "$1" "$2" &&
		openssl x509 -req -in "$1/$2.csr" -CA "$1/$3.pem" \
			-CAkey "$1/$3.key" -CAcreateserial -days 1 \
			-extfile <(_mkcerts_ext) -out "$1/$2.pem" 2>&1
}

# _mkcerts_expired DIR: expired.pem, signed by ca, valid in 2020 only
# (`openssl ca` sets both dates; x509 -req cannot before OpenSSL 3.4)
_mkcerts_expired() {
	local d=$1
	: >"$d/index.txt"
	echo 01 >"$d/serial"
	cat >"$d/ca.cnf" <<-CNF
		[ ca ]
		default_ca = test_ca
		[ test_ca ]
		database = $d/index.txt
		new_certs_dir = $d
		serial = $d/serial
		default_md = sha256
		policy = any
		unique_subject = no
		[ any ]
		commonName = supplied
	CNF
	_mkcerts_csr "$d" expired &&
		openssl ca -batch -config "$d/ca.cnf" -cert "$d/ca.pem" \
			-keyfile "$d/ca.key" -in "$d/expired.csr" \
			-out "$d/expired.pem" -notext -extfile <(_mkcerts_ext) \
			-startdate 20200101000000Z -enddate 20200102000000Z 2>&1
}

mkcerts() {
	local d=$1 out
	mkdir -p "$d" || return 1
	if ! out=$(_mkcerts_ca "$d" ca && _mkcerts_ca "$d" rogue-ca &&
		_mkcerts_leaf "$d" a ca && _mkcerts_leaf "$d" b ca &&
		_mkcerts_leaf "$d" rogue rogue-ca && _mkcerts_expired "$d"); then
		printf 'mkcerts: %s\n' "$out" >&2
		return 1
	fi
	chmod 600 "$d"/*.key
}
