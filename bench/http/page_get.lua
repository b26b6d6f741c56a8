-- wrk script for bench/pages.py: GET a page, count statuses, print one WRKJSON line
-- with percentiles 50/90/95/99 (wrk's own --latency output has no p95).
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "report.lua")
