-- wrk_queries.lua - GET PATH?PARAM=<query> for a rotating list of queries; JSON latency percentiles at the end.
-- usage: wrk ... -s bench/wrk_queries.lua URL -- QUERIES_FILE PATH PARAM [EXTRA]
-- With PARAM "embeddings": POST PATH {"model": EXTRA, "input": "<query>"} instead.
-- With PARAM "bodies": each line of QUERIES_FILE is a JSON body, POSTed to PATH in turn
-- (the peers section: the same script drives ragd and Chroma).
-- With PARAM "mixed": rotate GET hybrid, GET keyword, POST vector with a url_prefix
-- filter, and POST /v1/embeddings (model EXTRA) on the rotating queries (the soak test).
local queries, raw, path, param, extra = {}, {}, "/v1/search", "q", "&k=10"
local idx = 0

local function jsonstr(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end) .. '"'
end

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  local bodies = args[3] == "bodies"
  for line in io.lines(args[1]) do
    if #line > 0 and bodies then
      table.insert(raw, line)
      table.insert(queries, "")
    elseif #line > 0 then
      table.insert(queries, urlencode(line))
      table.insert(raw, jsonstr(line))
    end
  end
  path = args[2] or path
  param = args[3] or param
  extra = args[4] or ""
  idx = math.random(#queries)
end

local shape = 0

function request()
  idx = idx % #queries + 1
  if param == "mixed" then
    shape = shape % 4 + 1
    if shape == 1 then return wrk.format("GET", "/v1/search?q=" .. queries[idx] .. "&k=10") end
    if shape == 2 then return wrk.format("GET", "/v1/search?mode=keyword&k=5&q=" .. queries[idx]) end
    if shape == 3 then
      return wrk.format("POST", "/v1/search", {["Content-Type"] = "application/json"},
                        '{"query": ' .. raw[idx] .. ', "k": 8, "mode": "vector", "filter": {"url_prefix": "file:///"}}')
    end
    return wrk.format("POST", "/v1/embeddings", {["Content-Type"] = "application/json"},
                      '{"model": "' .. extra .. '", "input": ' .. raw[idx] .. '}')
  end
  if param == "bodies" then
    return wrk.format("POST", path, {["Content-Type"] = "application/json"}, raw[idx])
  end
  if param == "embeddings" then
    return wrk.format("POST", path, {["Content-Type"] = "application/json"},
                      '{"model": "' .. extra .. '", "input": ' .. raw[idx] .. '}')
  end
  return wrk.format("GET", path .. "?" .. param .. "=" .. queries[idx] .. extra)
end

function done(summary, latency, requests)
  local p = {}
  for _, q in ipairs({1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.9}) do
    table.insert(p, string.format('"%s": %.1f', q, latency:percentile(q)))
  end
  io.write(string.format('RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "non2xx": %d, "percentiles_us": {%s}}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, table.concat(p, ", ")))
end
