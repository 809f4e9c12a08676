-- wrk script for bench/ingest.py: replays pre-generated requests, then stops cleanly.
--
--   wrk -t T -s bench/ingest.lua http://127.0.0.1:PORT -- MODE FILE ACTIVE_S T START
--
-- MODE is "ingest" (POST /api/event from FILE) or "noop" (GET /healthz). FILE has one
-- request a line: "<user agent>\t<client ip>\t<json body>"; the threads walk through them
-- from line START (0-based), wrapping around. After ACTIVE_S seconds no new request is sent
-- (delay() parks the connection) while the ones in flight finish, so when wrk stops
-- after its own, longer, duration nothing is abandoned half-way: every request the server
-- received has its answer counted, which the stored == accepted check relies on.
-- The last line of output is one JSON object with the figures.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local requests = {}
local n = 0
local i = 0
local stride = 1
local stopped = false
sent = 0
first_sent = 0
deadline = 0 -- global: done() reads it through thread:get

function init(args)
  local mode, file, active = args[1], args[2], tonumber(args[3])
  if mode == "noop" then
    requests[1] = wrk.format("GET", "/healthz", {
      ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    })
  else
    for line in io.lines(file) do
      local ua, ip, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", "/api/event", {
        ["Content-Type"] = "text/plain;charset=UTF-8",
        ["Origin"] = "https://example.com",
        ["User-Agent"] = ua,
        ["X-Forwarded-For"] = ip,
      }, body)
    end
  end
  n = #requests
  -- Thread k of T sends events start+k, start+k+T, ...: together they walk the stream in
  -- order from where the previous run stopped, so a visitor's events arrive in order.
  stride = tonumber(args[4] or 1)
  i = (tonumber(args[5] or 0) + id - 1) % n -- 0-based
  deadline = now() + active
end

local verified = false

function request()
  local req = requests[i + 1]
  if id == 1 and not verified then
    -- wrk calls request() once in thread 1 before connecting, to check the script.
    verified = true
    return req
  end
  i = (i + stride) % n
  sent = sent + 1
  local t = now()
  if first_sent == 0 then
    first_sent = t
  end
  return req
end

function delay()
  if stopped then
    return 3600 * 1000
  end
  if now() >= deadline then
    stopped = true
    return 3600 * 1000
  end
  return 0
end

function done(summary, latency, reqs)
  -- The load was offered from the first request to the deadline (even if the server
  -- stalled in between): that is the time the rates are computed over.
  local total_sent, first, last = 0, math.huge, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + thread:get("sent")
    local f = thread:get("first_sent")
    if f > 0 and f < first then
      first = f
    end
    last = math.max(last, thread:get("deadline"))
  end
  local e = summary.errors
  io.write(string.format(
    '\n{"requests": %d, "sent": %d, "active_s": %.6f, "duration_us": %d, "bytes": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, total_sent, (first < math.huge) and (last - first) or 0,
    summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean
  ))
end
