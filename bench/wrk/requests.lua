-- wrk script for FreshLoop's HTTP benchmarks (bench/_http.py writes the request file).
--
-- Arguments after `--`: <request file> <once|cycle> <threads> <nonce>
-- Each line of the request file is "path<TAB>bearer token or empty<TAB>JSON body or empty"
-- (an empty body is a GET). Thread N takes the lines N, N+threads, N+2*threads... (all of
-- them when there are fewer lines than threads).
--   once:  each line is sent exactly once (a buyer taps once); the thread stops when it has
--          as many answers as lines, and leaves "<request file>.done.<thread>" behind.
--   cycle: the lines are sent round and round for the run's duration, each request with a
--          fresh Idempotency-Key.
-- At the end one line "WRK {json}" carries requests, duration, latency percentiles (each
-- request's own, send to answer), socket errors and the count of every status code.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  local path = args[1]
  mode = args[2]
  local thread_count = tonumber(args[3])
  nonce = args[4]
  done_marker = args[1] .. ".done."
  lines = {}
  local all = {}
  for line in io.lines(path) do
    local target, token, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    table.insert(all, { target, token, body })
  end
  for index, line in ipairs(all) do
    if (index - 1) % thread_count == tid - 1 then
      table.insert(lines, line)
    end
  end
  if #lines == 0 then
    lines = all -- fewer lines than threads (one URL): every thread sends them all
  end
  sent = 0
  answered = 0
  statuses = {}
end

function request()
  if tid == 1 and not verified then
    -- wrk calls the first thread's request() once before any connection, to check it: that
    -- call must not use up a line.
    verified = true
    return wrk.format("GET", "/")
  end
  sent = sent + 1
  local number = sent
  if number > #lines then
    if mode == "once" then
      number = #lines -- never sent: delay() holds it back until the thread stops
    else
      number = ((sent - 1) % #lines) + 1
    end
  end
  local line = lines[number]
  local key = nonce .. "-" .. tid .. "-" .. (mode == "once" and number or sent)
  local headers = { ["Idempotency-Key"] = key }
  if line[2] ~= "" then
    headers["Authorization"] = "Bearer " .. line[2]
  end
  if line[3] == "" then
    return wrk.format("GET", line[1], headers)
  end
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", line[1], headers, line[3])
end

function delay()
  -- In `once` mode a connection with nothing left to send waits (a minute: the thread stops
  -- long before) rather than sending anything that would count in the latency figures.
  if mode == "once" and sent >= #lines then
    return 60000
  end
  return 0
end

function response(status, headers, body)
  if status >= 400 and not statuses[status] and os.getenv("FRESHLOOP_WRK_SHOW_ERRORS") then
    io.stderr:write("wrk: first " .. status .. " answer: " .. string.sub(body or "", 1, 300) .. "\n")
  end
  statuses[status] = (statuses[status] or 0) + 1
  answered = answered + 1
  if mode == "once" and answered >= #lines and not finished then
    -- wrk's main thread sleeps out the whole duration; this file tells the caller
    -- (bench/_http.py) that this thread is done, and it interrupts wrk once all are.
    finished = true
    io.open(done_marker .. tid, "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local counted = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counted[tostring(status)] = (counted[tostring(status)] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counted) do
    table.insert(parts, string.format('"%s": %d', status, count))
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"socket_errors": %d, "timeouts": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, errors.connect + errors.read + errors.write, errors.timeout,
    table.concat(parts, ", ")
  ))
end
