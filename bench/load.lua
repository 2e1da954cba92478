-- wrk script for bench/load.py: prints one JSON line with what the benchmark reports.
-- Latencies are in microseconds; "bad" counts socket errors and HTTP statuses >= 400.
-- With LOAD_PATH_FORMAT set (a path holding %05d), each request asks that path with a random
-- number there: a new search each time, so that nothing kept between requests answers it.
-- The numbers are drawn from 1 to LOAD_PATH_MAX (the registry's projects) after seeding with
-- LOAD_SEED, which load.py makes new for each run: unseeded, every run drew the same numbers in
-- the same order, so a measured run asked again the searches its warm-up had just asked, and
-- found them kept.
local path_format = os.getenv("LOAD_PATH_FORMAT")
if path_format then
  math.randomseed(tonumber(os.getenv("LOAD_SEED")))
  local highest = tonumber(os.getenv("LOAD_PATH_MAX"))
  request = function()
    return wrk.format(nil, string.format(path_format, math.random(1, highest)))
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bad": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
