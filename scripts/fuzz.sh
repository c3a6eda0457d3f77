#!/usr/bin/env bash
# Runs every libFuzzer target in $1 for $2 seconds on a scratch copy of its committed seed corpus.
set -euo pipefail
dir=$1
seconds=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for fuzzer in "$dir"/fuzz_*; do
	[ -x "$fuzzer" ] || continue
	name=$(basename "$fuzzer")
	name=${name#fuzz_}
	seeds="$root/fuzz/corpus/$name"
	work=$(mktemp -d)
	cp -r "$seeds"/. "$work"/ 2>/dev/null || true
	echo "fuzz: $name for ${seconds}s"
	# UBSan findings only count as crashes with halt_on_error (the fuzz build does not set -fno-sanitize-recover).
	if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$fuzzer" \
		-max_total_time="$seconds" -max_len=65536 -print_final_stats=0 "$work" >"$work.log" 2>&1; then
		tail -n 60 "$work.log"
		status=1
	else
		grep -hE '[[:space:]]DONE[[:space:]]' "$work.log" | tail -n 1 || true
	fi
	rm -rf "$work" "$work.log"
done
exit $status
