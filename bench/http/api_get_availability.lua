-- wrk script for bench/api.py: GET /api/v1/sessions/<id>/availability/ with a Bearer key.
-- Counts 200 against every other status; prints one WRKJSON line (p50/p90/p95/p99).
-- env: API_KEY (tk_<prefix>_<secret>), AVAILABILITY_PATH
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "report.lua")

local path = os.getenv("AVAILABILITY_PATH")
local headers = { ["Authorization"] = "Bearer " .. (os.getenv("API_KEY") or "") }

function request()
  return wrk.format("GET", path, headers)
end
