-- wrk script: realistic Smartflo hangup webhooks (~1.5 KB JSON), distinct customers and
-- call ids per thread and per run, in a mix call centres see:
--   60 % a missed call from a new customer          (opens a callback)
--   15 % another missed call from a recent customer (updates it)
--   15 % an answered call with a recent customer    (clears it)
--   10 % an informational trigger (call received on the server)
-- Used for Ringback and for the bare ceiling endpoint alike (bench/run).
--   WRK_TOKEN   the webhook token (default bench-webhook-token-0123456789)
--   WRK_RUN     a number distinguishing runs against one store (default 1)

local token = os.getenv("WRK_TOKEN") or "bench-webhook-token-0123456789"
local run = tonumber(os.getenv("WRK_RUN") or "1")
local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

local n = 0
local opened = 0

local template = [[{"uuid":"%s","call_id":"%s","call_to_number":"+918069000000","caller_id_number":"%s",
"customer_no_with_prefix ":"91%s","start_stamp":"2026-05-28 %s","answer_stamp":"%s","end_stamp":"2026-05-28 %s",
"billsec":"%d","duration":"35","direction":"inbound","call_status":"%s","digits_dialed":"1",
"answered_agent":"%s","answered_agent_name":"%s","answered_agent_number":"%s",
"missed_agent":%s,
"call_flow":[{"type":"init","value":"%s","time":"1780000000"},{"type":"IVR","id":"101","name":"Main IVR","time":1780000001},{"type":"Department","id":"11","name":"Sales","time":1780000004},
{"type":"Agent","id":"0507000000011","name":"Meera","num":"+919800000011","dialst":"%s","time":1780000008},{"type":"hangup","time":1780000035}],
"billing_circle":{"operator":"Airtel","circle":"Karnataka"},"hangup_cause":"%s","recording_url":"%s","call_connected":"%s",
"dept_name":"Sales","campaign_name":"$campaign_name","did_number":"+918069000000","ivr_name":"Main IVR",
"agent_ring_time":"25","queue_wait_time":"8","circle":"Karnataka","notes":"bench traffic, realistic size and shape",
"custom_field_1":"$custom_field_1","custom_field_2":"","lead_source":"website","priority":"normal"}]]

local missed_agent = [=[[{"id":"0507000000011","name":"Meera","number":"0607000000010","agent_number":"+919800000011"}]]=]

local function clock(i)
  local s = i % 86400
  return string.format("%02d:%02d:%02d", math.floor(s / 3600), math.floor(s / 60) % 60, s % 60)
end

local function customer(k)
  -- 98 + run (2 digits) + thread (1) + k (5): distinct across threads and runs
  return string.format("98%02d%d%05d", run % 100, tid % 10, k % 100000)
end

local function body(kind, k)
  n = n + 1
  local call = string.format("17%02d%d%07d.%d", run % 100, tid % 10, n, n)
  local uuid = string.format("b%02d%d%09d", run % 100, tid, n)
  local num = customer(k)
  local t = clock(n)
  if kind == "answered" then
    return string.format(template, uuid, call, num, num, t, t, t, 42, "answered",
      "0507000000011", "Meera", "+919800000011", "[]", call, "Answered",
      "NORMAL_CLEARING", "https://recordings.example/" .. call .. ".mp3", "1")
  else
    return string.format(template, uuid, call, num, num, t, "", t, 0, "missed",
      "", "", "", missed_agent, call, "Dialed", "NO_ANSWER", "", "0")
  end
end

request = function()
  local r = math.random(100)
  local trigger, payload
  if r <= 60 or opened < 10 then
    opened = opened + 1
    trigger, payload = "call_hangup_missed", body("missed", opened)
  elseif r <= 75 then
    trigger, payload = "call_hangup_missed", body("missed", math.random(math.max(1, opened - 200), opened))
  elseif r <= 90 then
    trigger, payload = "call_hangup_answered", body("answered", math.random(math.max(1, opened - 200), opened))
  else
    trigger, payload = "call_received_on_server", body("missed", opened + 1)
  end
  return wrk.format("POST", "/webhooks/smartflo/" .. token .. "?trigger=" .. trigger,
    { ["Content-Type"] = "application/json" }, payload)
end

local non200 = 0
response = function(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if non200 <= 3 then
      io.stderr:write("non-200: " .. status .. " " .. body .. "\n")
    end
  end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
