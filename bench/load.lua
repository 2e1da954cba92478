-- wrk script for bench/load.py: prints one JSON line with what the benchmark reports.
-- Latencies are in microseconds; "bad" counts socket errors and HTTP statuses >= 400.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bad": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
