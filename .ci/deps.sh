#!/usr/bin/env bash
# Install the Debian packages rsvault needs to build and test, only those
# that are missing, so a machine that has everything does no network work.
# `deps.sh build` installs only what `make` needs to build the programs;
# `deps.sh` also what the tests need; `deps.sh bench` what `make bench` and
# its smoke need.
set -eu
BUILD_PKGS="gcc make libc6-dev pkg-config libmicrohttpd-dev liblmdb-dev libsodium-dev
libssl-dev libgnutls28-dev libjansson-dev libcurl4-openssl-dev libseccomp-dev"
TEST_PKGS="libcmocka-dev openssl gnutls-bin perl python3 curl lmdb-utils
python3-prometheus-client python3-seccomp systemd util-linux mount man-db
chromium chromium-driver python3-selenium"
case "${1:-}" in
build) PKGS="$BUILD_PKGS" ;;
bench) PKGS="wrk nginx-light python3" ;;
*) PKGS="$BUILD_PKGS $TEST_PKGS" ;;
esac
missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "rsvault: missing packages:$missing" >&2
	echo "run as root: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi
echo "rsvault: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
