#!/usr/bin/env bash
# bench/run.sh BUILD_DIR — the benchmark of docs/PERFORMANCE.md (`make bench`).
#
# Starts vaultd (BUILD_DIR/zkvault) and the bare baseline (bench/limit.c) on loopback and measures, in one run,
# alternating baseline and vaultd round by round: reads (GET /secrets/:key) at 64 and 16 connections, with one
# secret and one token and with random pairs of 1,000 secrets and 100 tokens; durable writes (new keys and
# overwrites); unlock against a bare crypto_pwhash; RSS; cold start; read cost at 1 and at BENCH_BIG secrets.
# Prints a table against the targets of DESIGN §8 and writes bench/results.json. Refuses to report a run in
# which any request got a non-2xx answer or a socket error.
#
# Knobs (environment): BENCH_SECONDS per wrk run (3), BENCH_ROUNDS per comparison (3), BENCH_BIG vault size
# for the size test (100000), BENCH_BUDGET seconds the whole run may take (170; the fill for the size test
# stops early when it would not fit, and the size reached is reported).
set -euo pipefail

BUILD=${1:?usage: bench/run.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SECS=${BENCH_SECONDS:-3}
MAIN_SECS=$SECS
SIZE_SECS=2
ROUNDS=${BENCH_ROUNDS:-3}
BIG=${BENCH_BIG:-100000}
BUDGET=${BENCH_BUDGET:-170}
CONNS_HI=64
CONNS_LO=16
PASSWORD='correct horse battery staple, benchmark'
export AUTH_TOKEN=bench-management-token-0123456789

START_S=$(date +%s.%N)
elapsed() { awk -v s="$START_S" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }'; }
say() { printf '[%5ss] %s\n' "$(elapsed)" "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for tool in wrk curl node; do
	command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh installs it)"
done
[ -x "$BUILD/zkvault" ] || die "$BUILD/zkvault is not built"

# The tools: their own CMake project, outside the main build's test list.
cmake -S "$HERE" -B "$BUILD/bench" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD/bench" -j "$(nproc)" >/dev/null
LIMIT=$BUILD/bench/limit
COLDSTART=$BUILD/bench/coldstart

# On the build's disk, not a tmpfs: durable writes must reach a real fsync.
WORK=$(mktemp -d "$BUILD/bench/run.XXXXXX")
RAW=$WORK/raw.jsonl
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
rm -f "$HERE/results.json"

record() { printf '%s\n' "$1" >>"$RAW"; }
value() { record "{\"kind\":\"value\",\"name\":\"$1\",\"value\":$2}"; }

# CPU ticks of the whole machine (busy, total) and of one process.
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU seconds used by this shell's finished children (wrk), from the `times` builtin.
# (`times` runs in this shell, not in a $(...) subshell, which would have no children of its own.)
child_cpu() {
	times >"$WORK/times"
	awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$WORK/times"
}
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# PSS (shared library pages divided among the processes that map them) and USS (pages of this process alone):
# what one more vault costs on a machine running many.
mem_json() {
	awk '/^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { u += $2 } END { printf "{\"pss_kb\":%d,\"uss_kb\":%d}", p, u }' \
		"/proc/$1/smaps_rollup"
}

# Resident kB per mapped object (library, heap, anonymous), largest first: where the idle RSS goes.
smaps_by_object() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { o = $6 == "" ? "[anonymous]" : $6 }
	     /^Rss:/ { r[o] += $2 } /^Private_(Clean|Dirty):/ { u[o] += $2 }
	     END { for (o in r) if (r[o]) printf "%6d kB rss %6d kB private  %s\n", r[o], u[o], o }' "/proc/$1/smaps" | sort -rn
}

wait_file() {
	local i
	for ((i = 0; i < 2000; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.005
	done
	die "timed out waiting for $1"
}

# How busy the machine is with other work: the harness shares 2 cores with whatever else runs.
quiet_check() {
	local b0 t0 b1 t1
	read -r b0 t0 < <(machine_ticks)
	sleep 1
	read -r b1 t1 < <(machine_ticks)
	awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.1f", t ? 100 * b / t : 0 }'
}

# ---- servers -----------------------------------------------------------------------------------------------
start_vaultd() { # DIR -> sets VPID, VURL
	local dir=$1
	mkdir -p "$dir"
	rm -f "$dir/port"
	"$BUILD/zkvault" vaultd --port 0 --port-file "$dir/port" --data-dir "$dir/data" --group-id bench \
		--session-timeout 7200 2>>"$dir/log" &
	VPID=$!
	PIDS+=("$VPID")
	wait_file "$dir/port"
	VURL=http://127.0.0.1:$(cat "$dir/port")
}

mgmt() { # METHOD PATH [BODY] -> body on stdout, fails on non-2xx
	curl -sS --fail-with-body -X "$1" -H "X-Auth-Token: $AUTH_TOKEN" -H 'Content-Type: application/json' \
		${3:+-d "$3"} "$VURL$2"
}

say "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
BUSY_BEFORE=$(quiet_check)
say "machine busy before the run: ${BUSY_BEFORE}% (other processes)"
value busy_before "$BUSY_BEFORE"

# A second, locked vault for the cold-start measurement.
start_vaultd "$WORK/cold"
mgmt POST /init "{\"password\":\"$PASSWORD\"}" >/dev/null
kill "$VPID"
wait "$VPID" || true

start_vaultd "$WORK/vault"
V=$VPID
VU=$VURL
mgmt POST /init "{\"password\":\"$PASSWORD\"}" >/dev/null
sleep 1
value rss_init_kb "$(rss_kb "$V")"
mgmt POST /unlock "{\"password\":\"$PASSWORD\"}" >/dev/null

# 100 read tokens (one user each: tokens are rate-limited per user) and one writer token, in one curl.
args=()
for i in $(seq 0 100); do
	uid=$(printf '00000000-0000-4000-8000-%012d' "$i")
	if [ "$i" -lt 100 ]; then
		body="{\"userId\":\"$uid\",\"allowedSecrets\":[\"bench-*\"],\"permissions\":[\"read\"],\"ttlSeconds\":86400}"
	else
		body="{\"userId\":\"$uid\",\"allowedSecrets\":[\"*\"],\"permissions\":[\"read\",\"write\"],\"ttlSeconds\":86400}"
	fi
	[ "$i" -gt 0 ] && args+=(--next)
	args+=(-sS --fail-with-body -X POST -H "X-Auth-Token: $AUTH_TOKEN" -d "$body" -w '\n' "$VU/tokens")
done
curl "${args[@]}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p' >"$WORK/all-tokens"
head -100 "$WORK/all-tokens" >"$WORK/tokens"
WTOKEN=$(sed -n 101p "$WORK/all-tokens")
[ "$(wc -l <"$WORK/tokens")" -eq 100 ] && [ -n "$WTOKEN" ] || die "could not issue the tokens"

VALUE=$(head -c 48 /dev/urandom | base64 | tr '+/' '-_')
seed() { # FROM TO(exclusive): secrets bench-%06d, 64 concurrent durable writes
	local from=$1 to=$2
	[ "$to" -gt "$from" ] || return 0
	local codes
	codes=$(curl -sS -Z --parallel-max 64 -X POST -H "X-Capability-Token: $WTOKEN" \
		-H 'Content-Type: application/json' -d "{\"value\":\"$VALUE\"}" -o /dev/null -w '%{http_code}\n' \
		"$VU/secrets/bench-[$(printf %06d "$from")-$(printf %06d $((to - 1)))]" 2>/dev/null | sort | uniq -c)
	[ "$(awk '$2 == 200 { n += $1 } END { print n + 0 }' <<<"$codes")" -eq $((to - from)) ] ||
		die "seeding bench-$from..$to failed: $(tr '\n' ' ' <<<"$codes")"
}
seed 0 1

# A second vault that keeps one secret for the whole run: the read cost vs vault size compares it with the
# filled main vault side by side at the end, in alternating runs, so that the machine's drift over the run
# (the baseline's own cost per read moves by 15 % between its start and its end) does not pass for a size effect.
start_vaultd "$WORK/small"
S=$VPID
SU=$VURL
mgmt POST /init "{\"password\":\"$PASSWORD\"}" >/dev/null
mgmt POST /unlock "{\"password\":\"$PASSWORD\"}" >/dev/null
mgmt POST /tokens '{"userId":"00000000-0000-4000-8000-000000009999","allowedSecrets":["bench-*"],"permissions":["read","write"],"ttlSeconds":86400}' |
	sed -n 's/.*"token":"\([^"]*\)".*/\1/p' >"$WORK/tokens.small"
[ -s "$WORK/tokens.small" ] || die "could not issue the small vault's token"
curl -sS --fail-with-body -o /dev/null -X POST -H "X-Capability-Token: $(cat "$WORK/tokens.small")" \
	-H 'Content-Type: application/json' -d "{\"value\":\"$VALUE\"}" "$SU/secrets/bench-000000" ||
	die "could not seed the small vault"
VURL=$VU

"$LIMIT" --tokens "$WORK/tokens" --secrets "$BIG" --port-file "$WORK/limit.port" 2>"$WORK/limit.log" &
L=$!
PIDS+=("$L")
wait_file "$WORK/limit.port"
LU=http://127.0.0.1:$(cat "$WORK/limit.port")

# ---- wrk ---------------------------------------------------------------------------------------------------
# run_wrk PHASE SERVER URL PID CONNS SCRIPT ENV...: one measured run; refuses on any non-2xx or socket error.
run_wrk() {
	local phase=$1 server=$2 url=$3 pid=$4 conns=$5 script=$6
	shift 6
	local b0 t0 b1 t1 p0 p1 c0 c1
	read -r b0 t0 < <(machine_ticks)
	p0=$(proc_ticks "$pid")
	child_cpu >"$WORK/c0"
	local json rc=0
	json=$("$HERE/wrk.sh" "$url" "$script" "$conns" "$SECS" BENCH_TOKENS="$WORK/tokens" BENCH_TOKEN="$WTOKEN" "$@") || rc=$?
	((rc != 3)) || die "REFUSED: $phase on $server had non-2xx answers or socket errors (above); no figures are reported"
	((rc == 0)) || die "wrk failed in $phase/$server (above)"
	child_cpu >"$WORK/c1"
	p1=$(proc_ticks "$pid")
	c0=$(cat "$WORK/c0") c1=$(cat "$WORK/c1")
	read -r b1 t1 < <(machine_ticks)
	# Foreign CPU: what the machine spent beyond the server and wrk during the run, in % of all cores.
	local hz
	hz=$(getconf CLK_TCK)
	local foreign
	foreign=$(awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" -v p="$((p1 - p0))" -v w0="$c0" -v w1="$c1" -v hz="$hz" \
		'BEGIN { f = b - p - (w1 - w0) * hz; if (f < 0) f = 0; printf "%.1f", t ? 100 * f / t : 0 }')
	# CPU seconds of the server and of wrk: CPU per request is what the two servers cost, whatever else runs.
	local server_cpu_s wrk_cpu_s
	server_cpu_s=$(awk -v p="$((p1 - p0))" -v hz="$hz" 'BEGIN { printf "%.3f", p / hz }')
	wrk_cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')
	record "{\"kind\":\"wrk\",\"phase\":\"$phase\",\"server\":\"$server\",\"conns\":$conns,\"foreign_cpu\":$foreign,\"server_cpu_s\":$server_cpu_s,\"wrk_cpu_s\":$wrk_cpu_s,\"result\":$json}"
	local reqs
	reqs=$(sed 's/.*"requests":\([0-9]*\).*/\1/' <<<"$json")
	say "$(printf '%-16s %-8s c%-3s %8s req/s  p50 %6s us  p99 %6s us  cpu/req: server %5s us, wrk %5s us  foreign %s%%' \
		"$phase" "$server" "$conns" \
		"$(sed 's/.*"rps":\([0-9.]*\).*/\1/' <<<"$json")" "$(sed 's/.*"p50_us":\([0-9]*\).*/\1/' <<<"$json")" \
		"$(sed 's/.*"p99_us":\([0-9]*\).*/\1/' <<<"$json")" \
		"$(awk -v c="$server_cpu_s" -v n="$reqs" 'BEGIN { printf "%.1f", n ? 1e6 * c / n : 0 }')" \
		"$(awk -v c="$wrk_cpu_s" -v n="$reqs" 'BEGIN { printf "%.1f", n ? 1e6 * c / n : 0 }')" "$foreign")"
}

# compare PHASE CONNS ROUNDS SCRIPT ENV...: alternates baseline and vaultd (ABBA order against drift).
# One unmeasured second of the same load on both servers: a vault that has just been idle (its heap trimmed
# after a second without work, writer.c) or filled faults its working set back in during the first second.
warm_up() {
	local conns=$1 script=$2
	shift 2
	for url in "$LU" "$VU"; do
		env "$@" BENCH_TOKENS="$WORK/tokens" BENCH_TOKEN="$WTOKEN" \
			wrk -t2 -c"$conns" -d1s -s "$HERE/$script" "$url" >/dev/null 2>&1 || die "warm-up against $url failed"
	done
}

compare() {
	local phase=$1 conns=$2 rounds=$3 script=$4
	shift 4
	local r
	for ((r = 1; r <= rounds; r++)); do
		if ((r % 2)); then
			run_wrk "$phase" baseline "$LU" "$L" "$conns" "$script" "$@"
			run_wrk "$phase" vaultd "$VU" "$V" "$conns" "$script" "$@"
		else
			run_wrk "$phase" vaultd "$VU" "$V" "$conns" "$script" "$@"
			run_wrk "$phase" baseline "$LU" "$L" "$conns" "$script" "$@"
		fi
	done
}

# ---- reads -------------------------------------------------------------------------------------------------
seed 1 1000
say "reads with 1,000 secrets, 100 tokens"
compare read-single $CONNS_HI "$ROUNDS" read.lua BENCH_MODE=single
compare read-single $CONNS_LO "$ROUNDS" read.lua BENCH_MODE=single
compare read-rotate $CONNS_HI "$ROUNDS" read.lua BENCH_MODE=rotate BENCH_KEYS=1000
compare read-rotate $CONNS_LO "$ROUNDS" read.lua BENCH_MODE=rotate BENCH_KEYS=1000
LOAD_END=$(date +%s.%N)

# The floor under the idle RSS: a second bare baseline holding what the vault holds (the same 1,000 secrets and
# 100 tokens), after one run of the same rotating reads, measured when vaultd is. It maps the same
# libmicrohttpd, GnuTLS and libsodium, so what vaultd holds above it is its own: SQLite, its code, its state.
"$LIMIT" --tokens "$WORK/tokens" --secrets 1000 --port-file "$WORK/limit-rss.port" 2>/dev/null &
LR=$!
PIDS+=("$LR")
wait_file "$WORK/limit-rss.port"
run_wrk rss-baseline baseline "http://127.0.0.1:$(cat "$WORK/limit-rss.port")" "$LR" $CONNS_HI read.lua \
	BENCH_MODE=rotate BENCH_KEYS=1000

# ---- cold start and idle RSS (10 s after the load) ---------------------------------------------------------
say "cold start (20 starts of a locked vault to its first /health answer)"
"$COLDSTART" 20 -- "$BUILD/zkvault" vaultd --port '{PORT}' --data-dir "$WORK/cold/data" --group-id bench \
	2>"$WORK/coldstart.err" >"$WORK/coldstart" || die "cold start failed: $(grep coldstart: "$WORK/coldstart.err")"
value coldstart_ms "[$(paste -sd, "$WORK/coldstart")]"
value coldstart_hung "$(sed -n 's/^coldstart: \([0-9]*\) of.*/\1/p' "$WORK/coldstart.err" | grep . || echo 0)"
# The reference point: the bare baseline (libmicrohttpd + libsodium only) started the same way.
"$COLDSTART" 20 -- "$LIMIT" --port '{PORT}' --tokens "$WORK/tokens" --secrets 1 2>/dev/null >"$WORK/coldstart.limit" ||
	die "cold start of the baseline failed"
value coldstart_limit_ms "[$(paste -sd, "$WORK/coldstart.limit")]"
# The same vault woken the way agentd wakes a stopped one: the socket passed as fd 3, the request already waiting.
say "wake by socket activation (40 starts, the request sent before the server runs)"
"$COLDSTART" --activate 40 -- "$BUILD/zkvault" vaultd --port '{PORT}' --data-dir "$WORK/cold/data" --group-id bench \
	2>"$WORK/wake.err" >"$WORK/wake" || die "activated start failed: $(grep coldstart: "$WORK/wake.err")"
value wake_ms "[$(paste -sd, "$WORK/wake")]"
"$COLDSTART" --activate 40 -- "$LIMIT" --port '{PORT}' --tokens "$WORK/tokens" --secrets 1 2>/dev/null >"$WORK/wake.limit" ||
	die "activated start of the baseline failed"
value wake_limit_ms "[$(paste -sd, "$WORK/wake.limit")]"
sleep "$(awk -v e="$LOAD_END" -v n="$(date +%s.%N)" 'BEGIN { s = 10 - (n - e); print (s > 0 ? s : 0) }')"
value rss_unlocked_kb "$(rss_kb "$V")"
value mem_unlocked "$(mem_json "$V")"
value rss_limit_kb "$(rss_kb "$LR")"
value mem_limit "$(mem_json "$LR")"
kill "$LR"
smaps_by_object "$V" >"$BUILD/bench/rss-unlocked.txt"
say "idle RSS unlocked, 1,000 secrets, 100 cached tokens: $(rss_kb "$V") kB"

# ---- unlock against bare crypto_pwhash, alternating --------------------------------------------------------
say "unlock vs crypto_pwhash"
# Seven pairs: one Argon2id run here swings by tens of ms with the machine (a pair's ratio 0.77-1.33x has been
# seen), and the ratio reported is the median of the pairs' ratios, each pair adjacent in time.
pw=() un=()
for ((r = 1; r <= 7; r++)); do
	pw+=("$("$LIMIT" --pwhash)")
	mgmt POST /lock >/dev/null
	if [ "$r" -eq 1 ]; then
		sleep 1
		value rss_locked_kb "$(rss_kb "$V")"
	fi
	t=$(curl -sS --fail-with-body -o "$WORK/unlock.out" -w '%{time_total}' -X POST -H "X-Auth-Token: $AUTH_TOKEN" \
		-d "{\"password\":\"$PASSWORD\"}" "$VU/unlock") || die "unlock failed: $(cat "$WORK/unlock.out")"
	grep -q '"secretCount":1000' "$WORK/unlock.out" || die "unlock: unexpected answer $(cat "$WORK/unlock.out")"
	un+=("$(awk -v t="$t" 'BEGIN { printf "%.3f", t * 1000 }')")
done
value pwhash_ms "[$(IFS=,; echo "${pw[*]}")]"
value unlock_ms "[$(IFS=,; echo "${un[*]}")]"
value fsync_ms "$("$LIMIT" --fsync "$WORK")"

# ---- durable writes ----------------------------------------------------------------------------------------
say "durable writes"
for ((r = 1; r <= ROUNDS; r++)); do
	run_wrk write-new vaultd "$VU" "$V" $CONNS_HI write.lua BENCH_MODE=new BENCH_PREFIX=w- BENCH_ROUND="$r"
done
for ((r = 1; r <= ROUNDS; r++)); do
	run_wrk write-overwrite vaultd "$VU" "$V" $CONNS_HI write.lua BENCH_MODE=overwrite BENCH_KEYS=1000
done

# ---- read cost vs vault size -------------------------------------------------------------------------------
# Writes above already added their new keys; bench-%06d secrets fill the vault up to BENCH_BIG records, as long
# as the time left allows (the last comparison needs 8 runs of 2 s and the settle below).
left_for_fill() { awk -v e="$(elapsed)" -v b="$BUDGET" -v s="$SIZE_SECS" 'BEGIN { printf "%d", b - e - 8 * (s + 0.5) - 7 }'; }
records() { mgmt GET /metrics | awk '$1 == "zkvault_records" { print $2 }'; }
size=1000
target=$((size + BIG - $(records)))
say "filling the vault to $BIG secrets ($((target - size)) more)"
fill_start=$(date +%s.%N)
while [ "$size" -lt "$target" ]; do
	next=$((size + 10000 > target ? target : size + 10000))
	t0=$(date +%s.%N)
	seed "$size" "$next"
	size=$next
	per=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%d", (b - a) + 1 }')
	if [ "$size" -lt "$target" ] && [ "$(left_for_fill)" -lt "$per" ]; then
		say "stopping the fill early to stay within ${BUDGET}s"
		break
	fi
done
value fill_rate "$(awk -v a="$fill_start" -v b="$(date +%s.%N)" -v n="$((size - 1000))" 'BEGIN { printf "%.0f", n / (b - a) }')"
# Let the writer finish what the fill left (WAL checkpoint, audit): the reads should meet an idle vault.
for ((i = 0; i < 20; i++)); do
	a=$(proc_ticks "$V")
	sleep 0.2
	[ $(($(proc_ticks "$V") - a)) -le 1 ] && break
done
total=$(records)
value big_size "$total"
say "reads from the vault with 1 secret and from the one with $total, alternating ($SIZE_SECS s runs)"
SECS=$SIZE_SECS
warm_up $CONNS_HI read.lua BENCH_MODE=single
env BENCH_TOKENS="$WORK/tokens.small" wrk -t2 -c$CONNS_HI -d1s -s "$HERE/read.lua" "$SU" >/dev/null 2>&1 ||
	die "warm-up against the small vault failed"
for ((r = 1; r <= 2; r++)); do
	small=(size-single small "$SU" "$S" $CONNS_HI read.lua BENCH_MODE=single BENCH_TOKENS="$WORK/tokens.small")
	big=(size-single big "$VU" "$V" $CONNS_HI read.lua BENCH_MODE=single)
	if ((r % 2)); then run_wrk "${small[@]}"; run_wrk "${big[@]}"; else run_wrk "${big[@]}"; run_wrk "${small[@]}"; fi
done
compare sizebig-rotate $CONNS_HI 2 read.lua BENCH_MODE=rotate BENCH_KEYS="$size"

BUSY_AFTER=$(quiet_check)
value busy_after "$BUSY_AFTER"
value machine "{\"cores\":$(nproc),\"cpu\":\"$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)\",\"kernel\":\"$(uname -r)\",\"commit\":\"$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"seconds_per_run\":$MAIN_SECS,\"rounds\":$ROUNDS,\"elapsed_s\":$(elapsed)}"

node "$HERE/report.mjs" "$RAW" "$HERE/results.json"
say "done; bench/results.json written"
