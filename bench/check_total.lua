-- wrk script: count answers that are not 200 or not the expected body, and print the
-- results as one line of JSON. Usage: wrk ... -s check_total.lua URL -- EXPECTED_BODY [REQUESTS]
-- With REQUESTS (and one thread), the run stops after that many answers.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  expected = args[1]
  quota = tonumber(args[2])
  answered = 0
  wrong = 0
  failed = 0
end

function response(status, headers, body)
  answered = answered + 1
  if quota and answered >= quota then
    wrk.thread:stop()
  end
  if status ~= 200 then
    failed = failed + 1
  elseif body:gsub("%s+$", "") ~= expected then
    wrong = wrong + 1
  end
end

function done(summary, latency, requests)
  local wrong_total, failed_total = 0, 0
  for _, thread in ipairs(threads) do
    wrong_total = wrong_total + thread:get("wrong")
    failed_total = failed_total + thread:get("failed")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "wrong": %d, "status_errors": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, wrong_total, failed_total,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
