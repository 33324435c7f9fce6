-- wrk script for bench/load.sh. Reads from the environment:
--   BENCH_TOKEN   the bearer token sent with every request
--   BENCH_METHOD  GET (default) or POST
--   BENCH_BODY    the JSON body of a POST
-- and prints, when wrk is done, one line that load.sh parses:
--   RESULT requests=N seconds=S rps=R p50_ms=A p99_ms=B non2xx=N socket_errors=N
-- where non2xx counts every response whose status is not 2xx (wrk's own count covers
-- only statuses of 400 and over) and socket_errors adds connect, read, write and timeout errors.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  wrk.method = os.getenv("BENCH_METHOD") or "GET"
  wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "")
  wrk.headers["User-Agent"] = "casebridge-bench/wrk"
  local body = os.getenv("BENCH_BODY")
  if body and body ~= "" then
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
  end
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
  end
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.2f p99_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    bad, errors.connect + errors.read + errors.write + errors.timeout))
end
