-- wrk script: MSG91 sendhttp.php to one recipient, a different text per request so that the
-- duplicate check (311) never refuses. Key from the BENCH_KEY environment variable.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  counter = 0
  prefix = tostring(os.time()) .. "-" .. tostring(id)
end

function request()
  counter = counter + 1
  local path = "/api/sendhttp.php?authkey=" .. os.getenv("BENCH_KEY")
    .. "&mobiles=919876543210&sender=BENCHX&route=4&message=Bench+" .. prefix .. "-" .. counter
  return wrk.format("GET", path)
end

function response(status, headers, body)
  if status ~= 200 or not string.match(body, "^%x+$") then
    bad = (bad or 0) + 1
    if bad <= 3 then io.stderr:write("unexpected reply " .. status .. ": " .. body .. "\n") end
  end
end
