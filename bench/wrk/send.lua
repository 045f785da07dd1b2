-- POST a new message per request, rotating the receiver through BENCH_PARTNERS
-- (comma-separated usernames) so concurrent sends do not all queue on one
-- conversation's rows. The Authorization and Content-Type headers come from -H.
local partners = {}
for name in string.gmatch(os.getenv("BENCH_PARTNERS") or "", "[^,]+") do
  partners[#partners + 1] = name
end

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local counter = 0

function request()
  counter = counter + 1
  local receiver = partners[((counter * 7 + thread_id * 13) % #partners) + 1]
  local body = '{"receiver": "' .. receiver .. '", "content": "benchmark message '
    .. thread_id .. "-" .. counter .. '"}'
  return wrk.format("POST", nil, nil, body)
end
