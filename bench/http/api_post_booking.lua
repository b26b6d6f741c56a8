-- wrk script for bench/api.py: POST /api/v1/bookings/ with a Bearer key, a 1-seat
-- booking per request, each with its own buyer email (run id + thread id + counter).
-- Counts 201 (booking created) against every other status (409 sold_out, 429, 5xx...);
-- prints one WRKJSON line with the statuses and p50/p90/p95/p99 latency.
-- env: API_KEY (tk_<prefix>_<secret>), SESSION_ID, TICKET_TYPE_ID, RUN_ID
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local path = "/api/v1/bookings/"
local run_id = os.getenv("RUN_ID") or "run"
local session = os.getenv("SESSION_ID")
local ticket_type = os.getenv("TICKET_TYPE_ID")
local headers = {
  ["Authorization"] = "Bearer " .. (os.getenv("API_KEY") or ""),
  ["Content-Type"] = "application/json",
}

function init(args)
  counter = 0
  codes = {}
end

function request()
  counter = counter + 1
  local unique = string.format("%s-%d-%d", run_id, tid, counter)
  local body = string.format(
    "{\"session\": %s, \"lines\": [{\"ticket_type\": %s, \"quantity\": 1}], "
      .. "\"buyer\": {\"name\": \"Bench Buyer\", \"email\": \"api-%s@example.org\"}, "
      .. "\"attendees\": [{\"name\": \"Bench Guest\"}]}",
    session, ticket_type, unique)
  return wrk.format("POST", path, headers, body)
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
