-- wrk script: the nurse_query_logs tool over REST, a metric query of the last
-- 5 seconds (shorter than the warm-up) grouped by writer.
dofile(os.getenv("LOGNURSE_LOAD_DIR") .. "/common.lua")

local body = '{"query":"sum by (writer) (count_over_time({service_name=\\"load\\"} |= \\"path=/api/v1/items/1\\" [5s]))","since":"5s"}'

function request()
  return wrk.format("POST", "/api/nurse/logs/query", {["Content-Type"] = "application/json"}, body)
end
