-- wrk script: Loki query_range over the lines the pushes write, a filtered log
-- query of the last 5 seconds (shorter than the warm-up, so that the data it
-- reads stops growing), limited to 100 lines.
dofile(os.getenv("LOGNURSE_LOAD_DIR") .. "/common.lua")

local path = "/loki/api/v1/query_range?query=" ..
  "%7Bservice_name%3D%22load%22%7D%20%7C%3D%20%22user%3Du7%20%22&since=5s&limit=100"

function request()
  return wrk.format("GET", path)
end
