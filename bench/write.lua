-- POST /secrets/:key for wrk (durable writes). Environment:
--   BENCH_TOKEN   a capability token with the write permission
--   BENCH_MODE    "new": every request creates a new secret (names BENCH_PREFIX<round>-<thread>-<n>);
--                 "overwrite": random overwrites of BENCH_KEYS existing secrets named BENCH_PREFIX%06d
--   BENCH_PREFIX, BENCH_KEYS, BENCH_ROUND (makes "new" names unique across rounds)
local mode = os.getenv("BENCH_MODE") or "new"
local nkeys = tonumber(os.getenv("BENCH_KEYS") or "1000")
local prefix = os.getenv("BENCH_PREFIX") or "bench-"
local round = os.getenv("BENCH_ROUND") or "0"
local token = os.getenv("BENCH_TOKEN")
local body = '{"value":"' .. string.rep("w", 64) .. '"}'
local headers = { ["X-Capability-Token"] = token, ["Content-Type"] = "application/json" }
local threads, nthreads = {}, 0
local n = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  threads[nthreads] = thread
end

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

function request()
  n = n + 1
  local path
  if mode == "new" then
    path = string.format("/secrets/%s%s-%d-%d", prefix, round, tid, n)
  else
    path = string.format("/secrets/%s%06d", prefix, math.random(0, nkeys - 1))
  end
  return wrk.format("POST", path, headers, body)
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "summary.lua")
