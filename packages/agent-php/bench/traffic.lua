-- wrk's request generator for bench.php --app=shop: the traffic of the Node agent's bench (bench/agent.ts,
-- variety "high"): browser-like GETs (12 Chrome user agents, accept, accept-language, referer), a
-- session cookie that changes every 25 requests on 2 requests in 3, searches of two random words (half
-- with a number from a large range, a page on one in 3), file downloads, profiles of 5,000 users, the
-- home page, and 2% attacks (SQLi, XSS, path traversal).
local WORDS = { 'red', 'blue', 'running', 'shoes', 'wool', 'socks', 'espresso', 'machine', 'tea', 'jacket', 'lamp',
  'keyboard', 'yoga', 'mat', 'bottle', 'charger', 'skillet', 'backpack', 'hobbit', 'grinder' }
local FILES = { 'readme.txt', 'report.pdf', 'price-list.csv' }
local ATTACKS = { "/search?q=1'%20OR%20'1'%3D'1", '/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E', '/files?name=..%2F..%2Fetc%2Fpasswd' }
local UAS = {}
for i = 0, 11 do
  UAS[i + 1] = string.format('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.0 Safari/537.36', 110 + i, i * 37)
end
local ATTACK_EVERY = tonumber(os.getenv('ATTACK_EVERY') or '50') -- 2%
local n = 0
local referer

math.randomseed(os.time())

local function rnd(k) return math.random(0, k - 1) end

local function benign(i)
  local m = i % 5
  if m == 0 or m == 1 then
    local second = (i % 2 == 0) and tostring(rnd(1000000)) or WORDS[rnd(#WORDS) + 1]
    return '/search?q=' .. WORDS[rnd(#WORDS) + 1] .. '+' .. second .. ((i % 3 == 0) and ('&page=' .. (1 + rnd(9))) or '')
  elseif m == 2 then
    return '/files?name=' .. FILES[rnd(3) + 1]
  elseif m == 3 then
    return '/users/u-' .. (1000 + rnd(5000))
  end
  return '/'
end

request = function()
  local i = n
  n = n + 1
  local path
  if ATTACK_EVERY > 0 and i % ATTACK_EVERY == 0 then
    path = ATTACKS[(i % 3) + 1]
  else
    path = benign(i)
  end
  referer = referer or ('http://' .. wrk.host .. ':' .. wrk.port .. '/')
  local headers = {
    ['User-Agent'] = UAS[(i % 12) + 1],
    ['Accept'] = 'text/html,application/xhtml+xml',
    ['Accept-Language'] = 'en-US,en;q=0.9',
    ['Referer'] = referer,
  }
  if i % 3 ~= 0 then
    local s = math.floor(i / 25)
    headers['Cookie'] = 'theme=dark; sid=s' .. s .. 'x' .. ((s * 7919) % 100000)
  end
  return wrk.format('GET', path, headers)
end
