#!/usr/bin/env bash
# Builds bench/tokens.c against a zkvault build (default: build) and runs it: token verification and
# revocation list figures for docs/PERFORMANCE.md §Tokens. Not part of ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
cmake --build "$build" --target zkapp zkcore >/dev/null
out="$build/bench-tokens"
# The libraries the main CMakeLists.txt links (its pkg_check_modules list).
deps=$(sed -n '/pkg_check_modules(DEPS/,/)/p' "$root/CMakeLists.txt" | tr -d ')' | tr ' ' '\n' | grep -v -e '^$' -e pkg_check -e '(DEPS' -e REQUIRED -e IMPORTED_TARGET)
cc -std=c17 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -I"$root/src" "$root/bench/tokens.c" \
	"$build/libzkapp.a" "$build/libzkcore.a" -Wl,--as-needed $(pkg-config --cflags --libs $deps) -lpthread -lm -o "$out"
"$out" "${2:-3000}"
