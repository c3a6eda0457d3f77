#!/usr/bin/env bash
# Installs what zkvault needs to build and test on Debian 12. Idempotent; quiet when all is present.
set -euo pipefail

packages=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	libsodium-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev libcurl4-openssl-dev
	libargon2-dev libcmocka-dev libseccomp-dev liboath-dev libqrencode-dev libpq-dev libhiredis-dev
	libgnutls28-dev libgfshare-dev
	nodejs npm curl wrk sqlite3 procps openssl
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js may come from outside Debian (with its own npm): accept any node >= 20.
if command -v node >/dev/null && command -v npm >/dev/null; then
	missing=("${missing[@]/nodejs}")
	missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"

if ((${#missing[@]})); then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "deps: installing ${missing[*]}"
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
