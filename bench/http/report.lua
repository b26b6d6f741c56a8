-- Shared by the wrk scripts of bench/: numbers the threads (`tid`), counts response
-- statuses, and prints one WRKJSON line with percentiles 50/90/95/99 (wrk's own
-- --latency output has no p95). Load it first: dofile(<this folder> .. "report.lua").
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  codes = {}
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do
    table.insert(parts, string.format("\"%d\": %d", k, v))
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "WRKJSON {\"requests\": %d, \"duration_s\": %.3f, \"rps\": %.1f, "
      .. "\"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p95_ms\": %.2f, \"p99_ms\": %.2f, "
      .. "\"max_ms\": %.2f, \"errors_connect\": %d, \"errors_read\": %d, "
      .. "\"errors_write\": %d, \"errors_status\": %d, \"errors_timeout\": %d, "
      .. "\"status\": {%s}}\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, table.concat(parts, ", ")))
end
