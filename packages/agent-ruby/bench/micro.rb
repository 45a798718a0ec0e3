# frozen_string_literal: true

# The agent's CPU per request in one process, without a server or wrk (the steady figure on a shared
# machine): an app called N times through Rack with and without RiskHub::Middleware, alternated ROUNDS
# times; process CPU time, the sender thread's sends to a sink (another process) included. Medians
# printed, with what the garbage collector did per request (GC.stat deltas: objects allocated, GC time,
# minor and major collections).
#   ruby bench/micro.rb [--app shop|sample] [--n 20000] [--rounds 5]
# --app shop (default): the demo shop (bench/shop_app.rb, examples/express-app in Sinatra) under the
# traffic of bench/agent.ts (bench/traffic.rb: 2% attacks, browser-like headers, session cookies).
# --app sample: the test suite's Sinatra app, one GET /search that does nothing (the agent's floor).
require 'optparse'
require 'socket'
require 'json'
$LOAD_PATH.unshift File.expand_path('../lib', __dir__)
require 'risk_hub'
require 'rack'
require 'rack/mock'

opts = { n: 20_000, rounds: 5, app: 'shop' }
OptionParser.new do |o|
  o.on('--n N', Integer) { |v| opts[:n] = v }
  o.on('--rounds N', Integer) { |v| opts[:rounds] = v }
  o.on('--app NAME', %w[shop sample]) { |v| opts[:app] = v }
end.parse!

# The relay stand-in: 202 to every POST, an empty decisions list to every GET (keep-alive).
server = TCPServer.new('127.0.0.1', 0)
port = server.addr[1]
sink = fork do
  loop do
    Thread.new(server.accept) do |c|
      while (line = c.gets)
        len = 0
        while (h = c.gets) && h != "\r\n"
          len = h.split(':', 2)[1].to_i if h.downcase.start_with?('content-length')
        end
        c.read(len)
        out = line.start_with?('POST') ? '{"accepted":1,"rejected":0,"detections":0}' : '{"version":"1","decisions":[]}'
        c.write("HTTP/1.1 #{line.start_with?('POST') ? '202 Accepted' : '200 OK'}\r\ncontent-length: #{out.bytesize}\r\n\r\n#{out}")
      end
    rescue StandardError
      nil
    ensure
      c.close
    end
  end
end
server.close
at_exit do # the sink goes with this process, whatever happens
  Process.kill('TERM', sink)
  Process.wait(sink)
rescue StandardError
  nil
end

if opts[:app] == 'shop'
  require File.expand_path('shop_app', __dir__)
  require File.expand_path('traffic', __dir__)
  APP = ShopApp
else
  require File.expand_path('../test/sample_app', __dir__)
  APP = SampleApp
end

agent = RiskHub::Agent.new(application: 'bench', token: 'bench', relay_url: "http://127.0.0.1:#{port}", logger: nil, at_exit: false)
with = Rack::Builder.new do
  use RiskHub::Middleware, agent
  run APP
end.to_app
SAMPLE_HEADERS = { 'HTTP_USER_AGENT' => 'wrk', 'HTTP_ACCEPT' => '*/*', 'HTTP_HOST' => '127.0.0.1:8080', 'HTTP_VERSION' => 'HTTP/1.1',
                   'HTTP_COOKIE' => 'sid=8f14e45fceea167a5a36dedd4bea2543; theme=dark', 'HTTP_X_USER' => 'u-1001' }.freeze
# What Puma adds to the env besides the request.
PUMA = { 'REMOTE_ADDR' => '127.0.0.1', 'SERVER_SOFTWARE' => 'puma', 'GATEWAY_INTERFACE' => 'CGI/1.2', 'rack.after_reply' => [],
         'puma.socket' => nil, 'rack.hijack?' => true, 'puma.config' => nil }.freeze

def cpu
  Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
end

def env_for(shop, n, rng)
  if shop
    path = ShopTraffic.path(n, rng)
    env = Rack::MockRequest.env_for(path, ShopTraffic.headers(n, '127.0.0.1:8080'))
    env['REQUEST_PATH'] = path.split('?', 2)[0]
  else
    env = Rack::MockRequest.env_for('/search?q=hello%20world&page=2', SAMPLE_HEADERS.dup)
    env['REQUEST_PATH'] = '/search'
  end
  env.delete('CONTENT_LENGTH') # Puma sets none for a GET without a body
  env.merge!(PUMA)
end

GC_KEYS = %i[total_allocated_objects time minor_gc_count major_gc_count].freeze

def run(app, n, shop, agent = nil)
  rng = Random.new(42) # the same requests for both variants
  gc0 = GC.stat.slice(*GC_KEYS)
  t0 = cpu
  n.times do |i|
    env = env_for(shop, i, rng)
    app.call(env)[2].each { |_| nil }
  end
  agent&.flush(5) # the sender's share is charged to this run
  us = (cpu - t0) * 1e6 / n
  gc = GC.stat.slice(*GC_KEYS).to_h { |k, v| [k, (v - gc0[k]).to_f / n] }
  { us: us, objects: gc[:total_allocated_objects], gc_us: gc[:time] * 1000, minor: gc[:minor_gc_count] * 1000,
    major: gc[:major_gc_count] * 1000 }
end

shop = opts[:app] == 'shop'
res = { without: [], with: [] }
run(APP, 2000, shop)
run(with, 2000, shop, agent)
opts[:rounds].times do |r|
  order = r.even? ? %i[without with] : %i[with without]
  order.each do |k|
    res[k] << (k == :with ? run(with, opts[:n], shop, agent) : run(APP, opts[:n], shop))
  end
end
agent.close
med = ->(a) { a.sort[a.size / 2] }
m = res.transform_values { |runs| runs.first.keys.to_h { |k| [k, med.(runs.map { |x| x[k] })] } }
puts format('ruby %s, %s app through Rack in one process (env building included), %d requests x %d rounds, load %s',
            RUBY_VERSION, opts[:app], opts[:n], opts[:rounds], File.read('/proc/loadavg').split[0, 3].join(' '))
res.each do |k, v|
  us = v.map { |x| x[:us] }
  puts format('%-8s median %6.1f µs CPU/request (range %.1f-%.1f); per request: %.1f objects, GC %.1f µs, %.2f minor + %.3f major GCs per 1000',
              k, m[k][:us], us.min, us.max, m[k][:objects], m[k][:gc_us], m[k][:minor], m[k][:major])
end
puts format('agent: %+.1f µs per request (%+.1f %%), %+.1f objects, GC %+.1f µs; sent %d', m[:with][:us] - m[:without][:us],
            100 * (m[:with][:us] / m[:without][:us] - 1), m[:with][:objects] - m[:without][:objects],
            m[:with][:gc_us] - m[:without][:gc_us], agent.stats[:sent])
