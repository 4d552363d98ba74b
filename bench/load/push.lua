-- wrk script: Loki JSON pushes of LOGNURSE_LOAD_LINES distinct lines each, one
-- stream per wrk thread, timestamps increasing within the stream.
dofile(os.getenv("LOGNURSE_LOAD_DIR") .. "/common.lua")

local lines_per_push = tonumber(os.getenv("LOGNURSE_LOAD_LINES") or "20")
local next_thread = 0
local base_init = init

function setup(thread)
  thread:set("id", next_thread)
  next_thread = next_thread + 1
  register_thread(thread)
end

function init(args)
  base_init(args)
  seq = 0
end

function request()
  local values = {}
  for i = 1, lines_per_push do
    seq = seq + 1
    -- The current second (wrk's Lua has no finer clock) and the sequence as nanoseconds:
    -- unique and increasing in the stream, and no number past a double's exact integers.
    local ts = string.format("%d%09d", os.time(), seq % 1e9)
    values[i] = string.format(
      '["%s","level=info writer=%d seq=%d msg=\\"load test line\\" user=u%d path=/api/v1/items/%d"]',
      ts, id, seq, seq % 97, seq % 1009)
  end
  local body = '{"streams":[{"stream":{"service_name":"load","writer":"w' .. id ..
    '"},"values":[' .. table.concat(values, ",") .. ']}]}'
  return wrk.format("POST", "/loki/api/v1/push", {["Content-Type"] = "application/json"}, body)
end
