-- Edit one of the user's own messages per request, with a text no other request had (the
-- second wrk started in, the thread, its counter): every request changes the message, so
-- each writes a history row and an edit notification, as a real edit does. The messages
-- rotate through BENCH_PATHS (comma-separated paths, one per message, each in another
-- conversation) so concurrent edits do not all queue on one row's lock. BENCH_METHOD is
-- the method (PATCH for the API); a form post for the pages when BENCH_EDIT_FORM is set,
-- else JSON. Authorization, cookies, CSRF token and Content-Type come from -H.
local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS") or "", "[^,]+") do
  paths[#paths + 1] = path
end
local method = os.getenv("BENCH_METHOD") or "PATCH"
local form = (os.getenv("BENCH_EDIT_FORM") or "") ~= ""
local started = os.time()

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local counter = 0

function request()
  counter = counter + 1
  local path = paths[((counter * 7 + thread_id * 13) % #paths) + 1]
  local key = "bench-" .. started .. "-" .. thread_id .. "-" .. counter
  local body
  if form then
    body = "content=benchmark+edit+" .. key
  else
    body = '{"content": "benchmark edit ' .. key .. '"}'
  end
  return wrk.format(method, path, nil, body)
end
