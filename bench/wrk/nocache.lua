-- Every request carries a query string no other request had (the second wrk started in,
-- the thread, its counter): each one misses the page cache (the view still looks it up
-- and stores its answer, as on a real miss), in this run and in any run after it.
local started = os.time()
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

local counter = 0

function request()
  counter = counter + 1
  local sep = string.find(wrk.path, "?", 1, true) and "&" or "?"
  local path = wrk.path .. sep .. "bench_nocache=" .. started .. "-" .. thread_id .. "-" .. counter
  return wrk.format(nil, path)
end
