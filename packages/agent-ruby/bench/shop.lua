-- wrk script: the traffic of bench/agent.ts (and bench/traffic.rb) against the Sinatra demo shop.
--   wrk -t1 -c8 -d5s -s bench/shop.lua http://127.0.0.1:PORT
local words = { "red", "blue", "running", "shoes", "wool", "socks", "espresso", "machine", "tea", "jacket", "lamp",
  "keyboard", "yoga", "mat", "bottle", "charger", "skillet", "backpack", "hobbit", "grinder" }
local uas = {}
for i = 0, 11 do
  uas[i + 1] = string.format("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.0 Safari/537.36", 110 + i, i * 37)
end
local attacks = { "/search?q=1'%20OR%20'1'%3D'1", "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/files?name=..%2F..%2Fetc%2Fpasswd" }
local files = { "readme.txt", "report.pdf", "price-list.csv" }
local n = 0
local host = nil

local function benign(k)
  local m = k % 5
  if m == 0 or m == 1 then
    local second
    if k % 2 == 0 then second = tostring(math.random(0, 999999)) else second = words[math.random(#words)] end
    local page = ""
    if k % 3 == 0 then page = "&page=" .. math.random(1, 9) end
    return "/search?q=" .. words[math.random(#words)] .. "+" .. second .. page
  elseif m == 2 then
    return "/files?name=" .. files[math.random(3)]
  elseif m == 3 then
    return "/users/u-" .. (1000 + math.random(0, 4999))
  end
  return "/"
end

request = function()
  if host == nil then host = wrk.headers["Host"] or (wrk.host .. ":" .. wrk.port) end
  local k = n
  n = n + 1
  local path
  if k % 50 == 0 then path = attacks[(k % 3) + 1] else path = benign(k) end
  local headers = {
    ["User-Agent"] = uas[(k % 12) + 1],
    ["Accept"] = "text/html,application/xhtml+xml",
    ["Accept-Language"] = "en-US,en;q=0.9",
    ["Referer"] = "http://" .. host .. "/",
  }
  if k % 3 ~= 0 then
    local s = math.floor(k / 25)
    headers["Cookie"] = string.format("theme=dark; sid=s%dx%d", s, (s * 7919) % 100000)
  end
  return wrk.format("GET", path, headers)
end
