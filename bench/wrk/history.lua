-- wrk script: GET history pages (before/after/around, limit 50) at random
-- anchors in [PARLEY_MIN_ID, PARLEY_MAX_ID] of channel PARLEY_CHANNEL.
-- PARLEY_MODE = before | after | around.
local token = os.getenv("PARLEY_TOKEN")
local channel = os.getenv("PARLEY_CHANNEL")
local mode = os.getenv("PARLEY_MODE") or "before"
local lo = tonumber(os.getenv("PARLEY_MIN_ID"))
local hi = tonumber(os.getenv("PARLEY_MAX_ID"))
local threads = {}

function setup(thread) table.insert(threads, thread) end

function init(args)
  ok, bad = 0, 0
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  wrk.headers["Authorization"] = token
end

function request()
  -- Lua numbers are doubles: anchors are rounded to 2^10 granularity, which
  -- only moves the anchor within the same millisecond of snowflakes.
  local anchor = string.format("%.0f", lo + math.random() * (hi - lo))
  return wrk.format("GET", "/api/v10/channels/" .. channel .. "/messages?limit=50&" .. mode .. "=" .. anchor)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_bad = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_bad = total_bad + t:get("bad")
  end
  io.write(string.format("RESULT mode=%s pages=%d failed=%d pages_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
    mode, total_ok, total_bad, total_ok / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
