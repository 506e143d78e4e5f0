#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The two commands of the README quick start, on Debian 12 as root:
#   ./dev.sh run    install what is missing, build, and run mssgated in the
#                   foreground on its embedded development configuration
#   ./dev.sh test   install what is missing, build, and run the whole test
#                   suite (ends with "N passed, M failed")
# The build goes to build/ (out of tree); runtime data to queue/ and certs/.
set -euo pipefail
cd "$(dirname "$0")"
top=$(pwd)

BUILD_DEPS=(build-essential autoconf automake libtool pkg-config
	libssl-dev libsodium-dev libxml2-dev liblmdb-dev libetpan-dev
	libevent-dev libjansson-dev libcurl4-gnutls-dev libcmocka-dev)
TEST_DEPS=(python3 swaks curl openssl ca-certificates isync postfix gpgsm
	gpg-agent)

install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "dev.sh: installing ${missing[*]}"
		if [ "$(id -u)" -ne 0 ]; then
			echo "dev.sh: run as root to install packages" >&2
			exit 1
		fi
		apt-get update -qq
		# Postfix is only a private peer of the relay tests: the
		# system instance stays unconfigured and stopped.
		echo "postfix postfix/main_mailer_type select No configuration" |
			debconf-set-selections
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			"${missing[@]}" >/dev/null
	fi
}

build() {
	[ -x configure ] || ./autogen.sh >/dev/null
	mkdir -p build
	if [ ! -f build/Makefile ]; then
		(cd build && ../configure --enable-werror -q)
	fi
	# One goal per make run: automake's "all" recurses into a sub-make, so
	# "make -j all tests-build" would build the same objects twice at once.
	local goal
	for goal in "$@"; do
		make -C build -s --no-print-directory -j"$(nproc)" "$goal"
	done
}

case "${1:-}" in
run)
	install_missing "${BUILD_DEPS[@]}"
	build all
	exec "$top/build/src/mssgated"
	;;
test)
	install_missing "${BUILD_DEPS[@]}" "${TEST_DEPS[@]}"
	build all tests-build
	BUILDDIR="$top/build" SRCDIR="$top" exec "$top/tests/run-tests"
	;;
*)
	echo "usage: $0 run|test" >&2
	exit 64
	;;
esac
