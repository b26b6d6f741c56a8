-- wrk script for bench/pages.py: POST the checkout form, one distinct buyer per request.
-- Every request gets its own idempotency `token` and buyer email (run id + thread id +
-- counter), and walks round the sessions and ticket types. Counts 302 (a hold made,
-- redirect to the booking page) against every other status; prints one WRKJSON line.
-- env: CHECKOUT_PATH (/e/<slug>/checkout/), CSRF_COOKIE (csrftoken cookie value),
--      CSRF_TOKEN (the form's csrfmiddlewaretoken), SESSION_IDS and TICKET_TYPE_IDS
--      (comma separated), RUN_ID (makes tokens and emails unique across runs)
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "report.lua")

local function split(list)
  local out = {}
  for item in string.gmatch(list or "", "[^,]+") do table.insert(out, item) end
  return out
end

local function urlencode(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local path = os.getenv("CHECKOUT_PATH")
local csrf_token = urlencode(os.getenv("CSRF_TOKEN") or "")
local run_id = os.getenv("RUN_ID") or "run"
local sessions = split(os.getenv("SESSION_IDS"))
local ticket_types = split(os.getenv("TICKET_TYPE_IDS"))
local headers = {
  ["Cookie"] = "csrftoken=" .. (os.getenv("CSRF_COOKIE") or ""),
  ["Content-Type"] = "application/x-www-form-urlencoded",
}

function request()
  counter = counter + 1
  local n = counter + tid
  local unique = string.format("%s-%d-%d", run_id, tid, counter)
  local body = table.concat({
    "csrfmiddlewaretoken=" .. csrf_token,
    "session=" .. sessions[n % #sessions + 1],
    "qty_" .. ticket_types[math.floor(n / #sessions) % #ticket_types + 1] .. "=1",
    "buyer_name=Bench+Buyer",
    "buyer_email=" .. urlencode("buyer-" .. unique .. "@example.org"),
    "attendee_name_0=Bench+Guest",
    "token=" .. unique,
    "action=book",
  }, "&")
  return wrk.format("POST", path, headers, body)
end
