#!/usr/bin/env bash
# Install the Debian 12 packages rdma-tcp needs to build and test, only
# those missing. Run as a script (bash tests/lib/deps.sh) or source it and
# call rtcp_deps. apt-get runs only when something is missing, so a
# provisioned machine (or CI cache) pays one dpkg query per package.

RTCP_DEB_PACKAGES=(
	build-essential cmake pkg-config
	rdma-core libibverbs-dev librdmacm-dev ibverbs-utils rdmacm-utils
	ibverbs-providers
	perftest python3-pyverbs python3-cryptography
	libfabric-bin qperf
	libnl-3-dev libnl-route-3-dev liburing-dev libssl-dev
	openssl xxd strace
	iproute2 valgrind clang libclang-rt-14-dev clang-format
	ucx-utils openmpi-bin libopenmpi-dev
)

# Only for the opt-in package check (tests/integration/package_deb.sh):
# CI's test_package.sh installs with cmake and needs neither.
RTCP_DEB_PACKAGES_PACKAGING=(debhelper lintian dpkg-dev fakeroot)

rtcp_deps_package() {
	local RTCP_DEB_PACKAGES=("${RTCP_DEB_PACKAGES_PACKAGING[@]}")
	rtcp_deps
}

rtcp_deps() {
	local missing=() p
	for p in "${RTCP_DEB_PACKAGES[@]}"; do
		# Installed means "install ok installed", not just known to dpkg
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed'; then
			missing+=("$p")
		fi
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "deps: all ${#RTCP_DEB_PACKAGES[@]} packages present"
		return 0
	fi
	echo "deps: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: need root to install packages" >&2
		return 1
	fi
	apt-get update &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends "${missing[@]}"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	rtcp_deps
fi
