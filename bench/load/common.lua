-- Shared by the wrk scripts of bench/load/run.sh: counts every response that is
-- not 2xx in each thread, and at the end prints one line "RESULT {json}" with
-- the request count, the errors and the latency percentiles in microseconds.

local threads = {}

-- A script that needs its own setup() calls this from it.
function register_thread(thread)
  table.insert(threads, thread)
end

function setup(thread)
  register_thread(thread)
end

function init(args)
  bad = 0
  bad_status = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    bad_status = status
  end
end

function done(summary, latency, requests)
  local non_2xx, last_status = 0, 0
  for _, thread in ipairs(threads) do
    non_2xx = non_2xx + thread:get("bad")
    local status = thread:get("bad_status")
    if status ~= 0 then last_status = status end
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"bytes":%d,"non_2xx":%d,"last_bad_status":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration / 1e6, summary.bytes, non_2xx, last_status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
