-- wrk script for bench/api.py: POST /api/v1/bookings/ with a Bearer key, a 1-seat
-- booking per request, each with its own buyer email (run id + thread id + counter).
-- Counts 201 (booking created) against every other status (409 sold_out, 429, 5xx...);
-- prints one WRKJSON line with the statuses and p50/p90/p95/p99 latency.
-- env: API_KEY (tk_<prefix>_<secret>), SESSION_ID, TICKET_TYPE_ID, RUN_ID
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "report.lua")

local path = "/api/v1/bookings/"
local run_id = os.getenv("RUN_ID") or "run"
local session = os.getenv("SESSION_ID")
local ticket_type = os.getenv("TICKET_TYPE_ID")
local headers = {
  ["Authorization"] = "Bearer " .. (os.getenv("API_KEY") or ""),
  ["Content-Type"] = "application/json",
}

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
