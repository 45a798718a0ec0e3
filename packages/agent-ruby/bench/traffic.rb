# frozen_string_literal: true

# The traffic of bench/agent.ts (the Node agent's benchmark on examples/express-app), request by request:
# 2% attacks (SQLi, XSS, traversal), the rest browser-like (search, file download, profile, home page;
# 12 user agents, session cookies on 2 requests in 3 that change every 25 requests), "high" variety.
# bench/shop.lua is the same for wrk.
module ShopTraffic
  WORDS = %w[red blue running shoes wool socks espresso machine tea jacket lamp keyboard yoga mat bottle charger
             skillet backpack hobbit grinder].freeze
  UAS = Array.new(12) do |i|
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/#{110 + i}.0.#{i * 37}.0 Safari/537.36"
  end.freeze
  ATTACKS = ["/search?q=1'%20OR%20'1'%3D'1", '/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E', '/files?name=..%2F..%2Fetc%2Fpasswd'].freeze
  FILES = %w[readme.txt report.pdf price-list.csv].freeze

  module_function

  def path(n, rng)
    return ATTACKS[n % ATTACKS.size] if (n % 50).zero?

    case n % 5
    when 0, 1
      second = n.even? ? rng.rand(1_000_000) : WORDS[rng.rand(WORDS.size)]
      "/search?q=#{WORDS[rng.rand(WORDS.size)]}+#{second}#{(n % 3).zero? ? "&page=#{1 + rng.rand(9)}" : ''}"
    when 2 then "/files?name=#{FILES[rng.rand(3)]}"
    when 3 then "/users/u-#{1000 + rng.rand(5000)}"
    else '/'
    end
  end

  # The request's headers as Rack env entries (HTTP_*), as a browser sends them.
  def headers(n, host)
    h = { 'HTTP_HOST' => host, 'HTTP_USER_AGENT' => UAS[n % UAS.size], 'HTTP_ACCEPT' => 'text/html,application/xhtml+xml',
          'HTTP_ACCEPT_LANGUAGE' => 'en-US,en;q=0.9', 'HTTP_REFERER' => "http://#{host}/", 'HTTP_CONNECTION' => 'keep-alive' }
    h['HTTP_COOKIE'] = "theme=dark; sid=s#{n / 25}x#{(n / 25 * 7919) % 100_000}" unless (n % 3).zero?
    h
  end
end
