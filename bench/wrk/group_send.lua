-- POST a new message per request to wrk's URL (a group's messages): a body and an
-- Idempotency-Key no other request had (the thread, its counter and the second wrk
-- started in). Authorization and Content-Type come from -H.
local started = os.time()

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local counter = 0

function request()
  counter = counter + 1
  local key = "bench-" .. started .. "-" .. thread_id .. "-" .. counter
  local body = '{"content": "benchmark group message ' .. key .. '"}'
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Idempotency-Key"] = key
  return wrk.format("POST", nil, headers, body)
end
