-- score_body.lua: POST the same JSON body (file in $KVIDX_WRK_BODY) to
-- /v1/score on every request. Used for the token_ids load run.
local f = assert(io.open(os.getenv("KVIDX_WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.path = "/v1/score"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

-- Count non-200 answers so the bench can refuse to report a broken run.
local bad = 0
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("non200 %d\n", summary.errors.status))
end
