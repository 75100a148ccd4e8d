-- wrk script for `make bench` (tests/bench/bench.py runs it).
--
-- The request is built once, from the environment, and sent unchanged on
-- every connection (wrk's default request(), no per-request Lua):
--   BENCH_METHOD   GET (default) or POST
--   BENCH_TOKEN    bearer token for Authorization (optional)
--   BENCH_SESSION  value of X-Session-Id (optional)
--   BENCH_BODY     file whose bytes are the body, sent as application/json
-- No response() hook is defined: it would make wrk parse every response
-- in Lua and make the client slower. wrk counts a status >= 400 in
-- summary.errors.status, which the driver checks.
--
-- done() prints one line "BENCH_RESULT {json}" with the counts and exact
-- latency percentiles (microseconds) from wrk's histogram.

local function env(name)
	local v = os.getenv(name)
	if v == nil or v == "" then
		return nil
	end
	return v
end

wrk.method = env("BENCH_METHOD") or "GET"
local token = env("BENCH_TOKEN")
if token then
	wrk.headers["Authorization"] = "Bearer " .. token
end
local session = env("BENCH_SESSION")
if session then
	wrk.headers["X-Session-Id"] = session
end
local body = env("BENCH_BODY")
if body then
	local f = assert(io.open(body, "rb"))
	wrk.body = f:read("*a")
	f:close()
	wrk.headers["Content-Type"] = "application/json"
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
		'"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
		'"mean_us":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
		summary.requests, summary.duration, summary.bytes,
		e.connect, e.read, e.write, e.status, e.timeout,
		latency.mean, latency:percentile(50), latency:percentile(90),
		latency:percentile(99), latency:percentile(99.9), latency.max))
end
