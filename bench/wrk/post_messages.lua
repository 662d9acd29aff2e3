-- wrk script: POST a message per request, spread round-robin over the
-- channels in env PARLEY_CHANNELS (comma-separated), with PARLEY_TOKEN.
-- Counts replies by status so that only acknowledged (2xx) posts count.
local token = os.getenv("PARLEY_TOKEN")
local channels = {}
for c in string.gmatch(os.getenv("PARLEY_CHANNELS"), "[^,]+") do table.insert(channels, c) end
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  ok, bad = 0, 0
  wrk.headers["Authorization"] = token
  wrk.headers["Content-Type"] = "application/json"
end

local body = '{"content":"benchmark message: the quick brown fox jumps over the lazy dog 0123456789"}'

function request()
  counter = counter + 1
  local c = channels[(counter % #channels) + 1]
  return wrk.format("POST", "/api/v10/channels/" .. c .. "/messages", nil, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_bad = 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_bad = total_bad + t:get("bad")
  end
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT acked=%d failed=%d seconds=%.2f acked_per_s=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    total_ok, total_bad, secs, total_ok / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
