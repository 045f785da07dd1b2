-- A POST with an empty body (Content-Length: 0, as a browser's) to wrk's URL: wrk alone
-- sends GETs. Authorization and the other headers come from -H.
wrk.method = "POST"
wrk.body = ""
