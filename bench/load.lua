-- wrk script for the bench: one connection per thread POSTs JSON bodies.
-- Arguments (after --): path, file of bodies (one a line), expected text, bearer token,
-- thread count, and the window measured: from and to, in seconds of CLOCK_MONOTONIC.
-- Answers that arrive before the window are not counted, so a run is measured once every
-- connection is busy; latencies are those of every answer after the window opens, and
-- `window` counts the answers inside it.
-- With at least as many bodies as threads, thread i sends bodies i, i+T, i+2T, ... in turn;
-- with fewer, every thread sends them all. "__N__" in a body becomes a number that grows.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *now);
]]
local clock = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC, as Python's time.monotonic()
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  path, expected = args[1], args[3]
  local all = {}
  for line in io.lines(args[2]) do
    if #line > 0 then table.insert(all, line) end
  end
  local total = tonumber(args[5])
  window_from, window_to = tonumber(args[6]), tonumber(args[7])
  mine = {}
  if #all >= total then
    for i = index + 1, #all, total do table.insert(mine, all[i]) end
  else
    mine = all
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[4] ~= "" then wrk.headers["Authorization"] = "Bearer " .. args[4] end
  next_body, n, sent = 1, index * 1000000, 0
  good, bad, window, latencies, sample = 0, 0, 0, {}, ""
end

function request()
  local body = mine[next_body]
  next_body = next_body % #mine + 1
  n = n + 1
  sent = now()
  return wrk.format(nil, path, nil, (body:gsub("__N__", tostring(n))))
end

function response(status, headers, body)
  local at = now()
  if at < window_from then return end
  if status ~= 200 or not body:find(expected, 1, true) then
    bad = bad + 1
    if sample == "" then sample = status .. " " .. body:sub(1, 300) end
  else
    good = good + 1
    if at <= window_to then window = window + 1 end
    table.insert(latencies, (at - sent) * 1000)
  end
end

function done(summary, latency, requests)
  local all, good_total, bad_total, window_total, sample_text = {}, 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    good_total = good_total + thread:get("good")
    bad_total = bad_total + thread:get("bad")
    window_total = window_total + thread:get("window")
    for _, ms in ipairs(thread:get("latencies")) do table.insert(all, ms) end
    if sample_text == "" then sample_text = thread:get("sample") end
  end
  table.sort(all)
  local sum = 0
  for _, ms in ipairs(all) do sum = sum + ms end
  local function percentile(p)
    if #all == 0 then return 0 end
    return all[math.max(1, math.ceil(#all * p / 100))]
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"good": %d, "bad": %d, "window": %d, "requests": %d, "errors": %d,'
      .. ' "mean_ms": %.3f, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "sample": "%s"}\n',
    good_total, bad_total, window_total, summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout, #all > 0 and sum / #all or 0,
    percentile(50), percentile(90), percentile(99), percentile(100),
    (sample_text:gsub('[%c"\\]', " "))))
end
