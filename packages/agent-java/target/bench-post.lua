wrk.method = "POST"
wrk.body = '{"comment":"a nice laptop, would buy again","rating":5,"tags":["a","b"]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-User"] = "u-1001"
