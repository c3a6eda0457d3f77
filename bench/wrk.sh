#!/bin/bash
# One wrk run that counts only if every answer was a 2xx and no socket failed.
#
#   bench/wrk.sh URL SCRIPT CONNS SECONDS [NAME=VALUE ...]
#
# SCRIPT is one of the Lua scripts beside this file (their done() prints a BENCHJSON line, summary.lua);
# NAME=VALUE pairs are its environment (BENCH_TOKENS, BENCH_MODE, ...). Exits 0 and prints the run's JSON on
# standard output when it counts. Otherwise prints wrk's output and, from one more second of the same load,
# each non-2xx status that came back with the start of its body, all on standard error, and exits 3; exits 1
# when wrk itself fails and 2 on a usage error. bench/run.sh reports no figure from a run that did not count.
set -euo pipefail

if [ $# -lt 4 ]; then
	echo "usage: bench/wrk.sh URL SCRIPT CONNS SECONDS [NAME=VALUE ...]" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
url=$1 script=$here/$2 conns=$3 secs=$4
shift 4

if ! out=$(env "$@" wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$script" "$url" 2>&1); then
	printf '%s\n' "$out" >&2
	exit 1
fi
json=$(sed -n 's/^BENCHJSON //p' <<<"$out")
if [ -n "$json" ] && ! grep -q 'Non-2xx or 3xx responses' <<<"$out" &&
	grep -q '"non2xx":0,"connect":0,"read":0,"write":0,"timeout":0' <<<"$json"; then
	printf '%s\n' "$json"
	exit 0
fi

printf '%s\n' "$out" >&2
diag=$(mktemp)
trap 'rm -f "$diag"' EXIT
cat >"$diag" <<EOF
dofile("$script")
local seen = {}
function response(status, headers, body)
  if (status < 200 or status > 299) and not seen[status] then
    seen[status] = true
    io.write("status " .. status .. ": " .. body:sub(1, 160) .. "\n")
  end
end
EOF
env "$@" wrk -t2 -c"$conns" -d1s -s "$diag" "$url" 2>&1 | grep '^status' >&2 || true
exit 3
