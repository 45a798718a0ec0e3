# frozen_string_literal: true

# The agent's overhead on a small Sinatra app served by Puma: requests/s and CPU per request (the app
# process's user+sys from /proc, its sender thread included) without and with RiskHub::Middleware, as
# bench/agent.ts measures the Node agent: two app processes started once, warmed up, then driven by wrk
# in alternating rounds (without/with, then with/without…); medians of the rounds. Bounded: a warm-up
# of WARMUP s per app, then ROUNDS x 2 runs of SECONDS each.
#   ruby bench/bench.rb [--app shop|sample] [--seconds 5] [--rounds 6] [--warmup 4] [--connections 8] [--also LIB]
# --also LIB: a third app process with the agent loaded from another lib/ directory (another checkout,
# e.g. main's), in the same rotation: two versions of the agent compared under the same load.
# --app shop (default): the demo shop (bench/shop_app.rb, examples/express-app in Sinatra) under the
# traffic of bench/agent.ts (bench/shop.lua: 2% attacks, browser-like headers, session cookies).
# --app sample: the test suite's Sinatra app, GET /search that does nothing (the agent's floor).
# The relay is a stand-in sink in its own process (202 to every batch, no decisions), so the figures
# are the agent's cost in the app process: snapshot, queue, JSON building and HTTP sends included.
require 'optparse'
require 'socket'
require 'json'

opts = { app: 'shop', seconds: 5, rounds: 6, warmup: 4, connections: 8 }
OptionParser.new do |o|
  o.on('--app NAME', %w[shop sample]) { |v| opts[:app] = v }
  o.on('--seconds N', Integer) { |v| opts[:seconds] = v }
  o.on('--rounds N', Integer) { |v| opts[:rounds] = v }
  o.on('--warmup N', Integer) { |v| opts[:warmup] = v }
  o.on('--connections N', Integer) { |v| opts[:connections] = v }
  o.on('--also LIB', String) { |v| opts[:also] = File.expand_path(v) }
end.parse!
abort 'bench: wrk is needed (apt-get install wrk)' unless system('command -v wrk >/dev/null')

LIB = File.expand_path('../lib', __dir__)
TEST = File.expand_path('../test', __dir__)
LUA = File.expand_path('shop.lua', __dir__)

def free_port
  s = TCPServer.new('127.0.0.1', 0)
  s.addr[1]
ensure
  s&.close
end

def wait_port(port)
  200.times do
    TCPSocket.new('127.0.0.1', port).close
    return
  rescue Errno::ECONNREFUSED
    sleep 0.05
  end
  raise "nothing listens on #{port}"
end

# The relay stand-in: a minimal HTTP/1.1 keep-alive server answering 202 / 200.
def start_sink(port)
  fork do
    $0 = 'risk-hub-bench-sink'
    server = TCPServer.new('127.0.0.1', port)
    loop do
      client = server.accept
      Thread.new(client) do |c|
        loop do
          line = c.gets or break
          len = 0
          while (h = c.gets) && h != "\r\n"
            len = h.split(':', 2)[1].to_i if h.downcase.start_with?('content-length')
          end
          c.read(len)
          out = line.start_with?('POST') ? '{"accepted":1,"rejected":0,"detections":0}' : '{"version":"1","decisions":[]}'
          c.write("HTTP/1.1 #{line.start_with?('POST') ? '202 Accepted' : '200 OK'}\r\ncontent-type: application/json\r\ncontent-length: #{out.bytesize}\r\n\r\n#{out}")
        end
      rescue StandardError
        nil
      ensure
        c.close
      end
    end
  end
end

def start_app(port, with_agent, relay, app_name, lib = LIB)
  fork do
    $LOAD_PATH.unshift lib
    require 'risk_hub'
    require 'puma'
    require 'puma/server'
    if app_name == 'shop'
      require File.expand_path('shop_app', __dir__)
      inner = ShopApp
    else
      require File.join(TEST, 'sample_app')
      inner = SampleApp
    end
    app = if with_agent
            agent = RiskHub::Agent.new(application: 'bench', token: 'bench', relay_url: relay, logger: nil)
            Rack::Builder.new do
              use RiskHub::Middleware, agent
              run inner
            end.to_app
          else
            inner
          end
    server = Puma::Server.new(app, Puma::Events.null, min_threads: 1, max_threads: 4)
    server.add_tcp_listener('127.0.0.1', port)
    server.run.join
  end
end

CLK_TCK = Integer(`getconf CLK_TCK`.strip, exception: false) || 100

# utime + stime of a process, in seconds.
def cpu_seconds(pid)
  f = File.read("/proc/#{pid}/stat").split(') ').last.split
  (f[11].to_i + f[12].to_i).to_f / CLK_TCK
end

# utime + stime of the agent's threads (named risk-hub-*), in seconds.
def agent_thread_seconds(pid)
  Dir.glob("/proc/#{pid}/task/*").sum do |t|
    next 0 unless File.read("#{t}/comm").start_with?('risk-hub')

    f = File.read("#{t}/stat").split(') ').last.split
    (f[11].to_i + f[12].to_i).to_f / CLK_TCK
  rescue Errno::ENOENT
    0
  end
end

def wrk(port, seconds, opts)
  target = opts[:app] == 'shop' ? "-s #{LUA} 'http://127.0.0.1:#{port}'" : "'http://127.0.0.1:#{port}/search?q=hello%20world&page=2'"
  out = `wrk -t1 -c#{opts[:connections]} -d#{seconds}s #{target}`
  { total: out[/(\d+) requests in/, 1].to_i, rps: out[%r{Requests/sec:\s+([\d.]+)}, 1].to_f,
    non2xx: out[/Non-2xx or 3xx responses: (\d+)/, 1].to_i, errors: out[/Socket errors:.*/] }
end

def measure(pid, port, opts)
  cpu0 = cpu_seconds(pid)
  th0 = agent_thread_seconds(pid)
  r = wrk(port, opts[:seconds], opts)
  cpu1 = cpu_seconds(pid)
  th1 = agent_thread_seconds(pid)
  n = [r[:total], 1].max
  r.merge(cpu_us: (cpu1 - cpu0) * 1e6 / n, thread_us: (th1 - th0) * 1e6 / n)
end

loads = [File.read('/proc/loadavg').split[0, 3].join(' ')]
sink_port = free_port
sink = start_sink(sink_port)
wait_port(sink_port)
relay = "http://127.0.0.1:#{sink_port}"
apps = {}
variants = opts[:also] ? %i[without with also] : %i[without with]
results = variants.to_h { |k| [k, []] }
begin
  variants.each do |k|
    port = free_port
    apps[k] = { port: port, pid: start_app(port, k != :without, relay, opts[:app], k == :also ? opts[:also] : LIB) }
    wait_port(port)
  end
  apps.each_value { |a| wrk(a[:port], opts[:warmup], opts) }
  opts[:rounds].times do |r|
    order = variants.rotate(r)
    order = order.reverse if r.odd?
    order.each do |k|
      res = measure(apps[k][:pid], apps[k][:port], opts)
      results[k] << res
      puts format('round %d %-7s %6.0f req/s  %6.1f µs CPU/request (agent threads %.1f)%s', r + 1, k, res[:rps], res[:cpu_us],
                  res[:thread_us], res[:errors] ? "  #{res[:errors]}" : '')
    end
  end
ensure
  apps.each_value do |a|
    Process.kill('TERM', a[:pid])
    Process.wait(a[:pid])
  end
  Process.kill('TERM', sink)
  Process.wait(sink)
end
loads << File.read('/proc/loadavg').split[0, 3].join(' ')

med = ->(a) { s = a.sort; s.size.odd? ? s[s.size / 2] : (s[s.size / 2 - 1] + s[s.size / 2]) / 2.0 }
rps = results.transform_values { |runs| runs.map { |x| x[:rps] } }
cpu = results.transform_values { |runs| runs.map { |x| x[:cpu_us] } }
puts format('ruby %s, %s app on Puma (4 threads), wrk -c%d, %d s x %d rounds alternated, medians; load %s → %s',
            RUBY_VERSION, opts[:app], opts[:connections], opts[:seconds], opts[:rounds], loads[0], loads[1])
puts "also: #{opts[:also]}" if opts[:also]
variants.each do |k|
  puts format('%-8s %8.0f req/s (%.0f-%.0f)  %6.1f µs CPU/request (%.1f-%.1f)', k, med.(rps[k]), rps[k].min, rps[k].max,
              med.(cpu[k]), cpu[k].min, cpu[k].max)
end
(variants - [:without]).each do |k|
  pair = results[k].each_index.map { |i| results[k][i][:rps] / results[:without][i][:rps] }
  cpair = results[k].each_index.map { |i| results[k][i][:cpu_us] / results[:without][i][:cpu_us] }
  puts format('overhead%s: %.1f %% req/s (median of round ratios; ratio of medians %.1f %%), %+.1f µs = %+.1f %% CPU/request ' \
              '(median of round ratios %+.1f %%)', k == :also ? ' (also)' : '',
              100 * (1 - med.(pair)), 100 * (1 - med.(rps[k]) / med.(rps[:without])), med.(cpu[k]) - med.(cpu[:without]),
              100 * (med.(cpu[k]) / med.(cpu[:without]) - 1), 100 * (med.(cpair) - 1))
  puts format("  the agent's own threads (sender, decisions): %.1f µs per request (median)", med.(results[k].map { |x| x[:thread_us] }))
end
puts format('non-2xx: %s (the shop answers 404 to unknown profiles)', variants.map { |k| "#{k} #{results[k].sum { |x| x[:non2xx] }}" }.join(', '))
