wrk.method = "POST"
wrk.body = '{"comment":"a nice laptop, would buy again","rating":5,"tags":["a","b"],"author":{"name":"Alice","id":1001}}'
wrk.headers["Content-Type"] = "application/json"
