-- The traffic of bench/agent.ts (the Node agent's benchmark) for wrk: browser-like GETs on the shop
-- (2/5 search, 1/5 file download, 1/5 profile, 1/5 home page), 1 request in 50 an attack (SQL injection,
-- XSS, traversal), 12 user agents, a session cookie on 2 requests in 3 that changes every 25 requests,
-- half the searches with a number from a large range and profiles from 5,000 ids (values never seen).
local words = {"red", "blue", "running", "shoes", "wool", "socks", "espresso", "machine", "tea", "jacket",
  "lamp", "keyboard", "yoga", "mat", "bottle", "charger", "skillet", "backpack", "hobbit", "grinder"}
local files = {"readme.txt", "report.pdf", "price-list.csv"}
local attacks = {"/search?q=1'%20OR%20'1'%3D'1", "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/files?name=..%2F..%2Fetc%2Fpasswd"}
local uas = {}
for i = 0, 11 do
  uas[i] = string.format("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.0 Safari/537.36", 110 + i, i * 37)
end
local n = -1
local referer

init = function(args)
  math.randomseed(os.time())
  referer = "http://" .. wrk.host .. ":" .. wrk.port .. "/"
end

local function word() return words[math.random(#words)] end

local function benign(k)
  local m = k % 5
  if m == 0 or m == 1 then
    local second = (k % 2 == 0) and tostring(math.random(0, 999999)) or word()
    local page = (k % 3 == 0) and ("&page=" .. math.random(1, 9)) or ""
    return "/search?q=" .. word() .. "+" .. second .. page
  elseif m == 2 then
    return "/files?name=" .. files[math.random(3)]
  elseif m == 3 then
    return "/users/u-" .. (1000 + math.random(0, 4999))
  end
  return "/"
end

request = function()
  n = n + 1
  local path
  if n % 50 == 0 then path = attacks[(n % 3) + 1] else path = benign(n) end
  local h = {
    ["User-Agent"] = uas[n % 12],
    ["Accept"] = "text/html,application/xhtml+xml",
    ["Accept-Language"] = "en-US,en;q=0.9",
    ["Referer"] = referer,
  }
  if n % 3 ~= 0 then
    local s = math.floor(n / 25)
    h["Cookie"] = "theme=dark; sid=s" .. s .. "x" .. ((s * 7919) % 100000)
  end
  return wrk.format("GET", path, h)
end
