-- GET /secrets/:key for wrk. Environment:
--   BENCH_TOKENS  file with one capability token per line
--   BENCH_MODE    "single": one secret, one token (a static request);
--                 "rotate": random (secret, token) pairs over BENCH_KEYS secrets and every token in the file
--   BENCH_KEYS    number of secrets named BENCH_PREFIX%06d (default 1000)
--   BENCH_PREFIX  default "bench-"
local mode = os.getenv("BENCH_MODE") or "single"
local nkeys = tonumber(os.getenv("BENCH_KEYS") or "1000")
local prefix = os.getenv("BENCH_PREFIX") or "bench-"
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end

local reqs, n, i = {}, 0, 0

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  if mode == "single" then
    wrk.method = "GET"
    wrk.path = string.format("/secrets/%s%06d", prefix, 0)
    wrk.headers["X-Capability-Token"] = tokens[1]
    return
  end
  -- Pre-built requests, so the load generator spends its share of the 2 cores on sending, not on Lua.
  n = 8192
  for j = 1, n do
    local key = string.format("/secrets/%s%06d", prefix, math.random(0, nkeys - 1))
    reqs[j] = wrk.format("GET", key, { ["X-Capability-Token"] = tokens[math.random(1, #tokens)] })
  end
end

if mode ~= "single" then
  request = function()
    i = i % n + 1
    return reqs[i]
  end
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "") .. "summary.lua")
