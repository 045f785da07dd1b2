-- POST a new message per request: a body and an Idempotency-Key no other request had
-- (the thread, its counter and the second wrk started in), the receiver rotating
-- through BENCH_PARTNERS (comma-separated usernames) so concurrent sends do not all
-- queue on one conversation's rows. JSON for the API; a form post for the pages when
-- BENCH_SEND_FORM is set. Authorization, cookies, CSRF token and Content-Type come from -H.
local partners = {}
for name in string.gmatch(os.getenv("BENCH_PARTNERS") or "", "[^,]+") do
  partners[#partners + 1] = name
end
local form = (os.getenv("BENCH_SEND_FORM") or "") ~= ""
local started = os.time()

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local counter = 0

function request()
  counter = counter + 1
  local receiver = partners[((counter * 7 + thread_id * 13) % #partners) + 1]
  local key = "bench-" .. started .. "-" .. thread_id .. "-" .. counter
  local body
  if form then
    body = "receiver=" .. receiver .. "&content=benchmark+message+" .. key
  else
    body = '{"receiver": "' .. receiver .. '", "content": "benchmark message ' .. key .. '"}'
  end
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  if not form then
    headers["Idempotency-Key"] = key
  end
  return wrk.format("POST", nil, headers, body)
end
