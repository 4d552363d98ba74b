-- wrk script: Loki query_range over the lines the pushes write, a filtered log
-- query of the last minute, limited to 100 lines.
dofile(os.getenv("LOGNURSE_LOAD_DIR") .. "/common.lua")

local path = "/loki/api/v1/query_range?query=" ..
  "%7Bservice_name%3D%22load%22%7D%20%7C%3D%20%22user%3Du7%20%22&since=1m&limit=100"

function request()
  return wrk.format("GET", path)
end
