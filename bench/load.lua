-- wrk script for bench/load.py: prints one JSON line with what the benchmark reports.
-- Latencies are in microseconds; "bad" counts socket errors and HTTP statuses >= 400.
-- With LOAD_PATH_FORMATS set (paths holding %05d or %04d, one a line), each request asks one of
-- them, at random, with a random number there: a new search each time, so that nothing kept
-- between requests answers it (except a draw that repeats one: load.py counts those).
-- The numbers are drawn from 1 to LOAD_PATH_MAX (the registry's projects) after seeding with
-- LOAD_SEED, which load.py makes new for each run: unseeded, every run drew the same numbers in
-- the same order, so a measured run asked again the searches its warm-up had just asked, and
-- found them kept.
local path_formats = os.getenv("LOAD_PATH_FORMATS")
if path_formats then
  local formats = {}
  for line in string.gmatch(path_formats, "[^\n]+") do
    table.insert(formats, line)
  end
  math.randomseed(tonumber(os.getenv("LOAD_SEED")))
  local highest = tonumber(os.getenv("LOAD_PATH_MAX"))
  request = function()
    local path_format = formats[math.random(1, #formats)]
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
