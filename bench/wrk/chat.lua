-- wrk script: POST the same chat request on every call.
-- run.sh writes the body and the headers to files, and curl's pre-check
-- sends those same files, so what is checked is what is measured.

local function slurp(path)
    local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
    local s = f:read("*a")
    f:close()
    return s
end

wrk.method = "POST"
wrk.body = slurp(os.getenv("BENCH_BODY_FILE"))
wrk.headers["Content-Type"] = "application/json"
for line in slurp(os.getenv("BENCH_HEADERS_FILE")):gmatch("[^\r\n]+") do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then
        wrk.headers[name] = value
    end
end

-- One machine-readable line for run.sh; latency is in microseconds.
-- errors.status counts answers with status >= 400.
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "WRK requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d sockerr=%d\n",
        summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99),
        e.status, e.connect + e.read + e.write + e.timeout))
end
