# frozen_string_literal: true

# What the agent costs the garbage collector on Puma: the demo shop (bench/shop_app.rb) served by Puma
# (4 threads) in this process, without or with RiskHub::Middleware, under wrk and bench/shop.lua for
# SECONDS after a 2 s warm-up; GC.stat deltas per request (objects allocated, GC time, minor and full
# collections and why the full ones ran). Run it alternately for each variant.
#   ruby bench/gc_puma.rb without|with [--seconds 5] [--lib DIR]   (--lib: another checkout's lib/)
require 'optparse'
require 'socket'

opts = { seconds: 5, lib: File.expand_path('../lib', __dir__) }
variant = ARGV.shift
abort 'usage: ruby bench/gc_puma.rb without|with [--seconds 5] [--lib DIR]' unless %w[without with].include?(variant)
OptionParser.new do |o|
  o.on('--seconds N', Integer) { |v| opts[:seconds] = v }
  o.on('--lib DIR', String) { |v| opts[:lib] = File.expand_path(v) }
end.parse!
$LOAD_PATH.unshift opts[:lib]
require 'risk_hub'
require 'puma'
require 'puma/server'
require File.expand_path('shop_app', __dir__)

# The relay stand-in: 202 to every POST (keep-alive).
server = TCPServer.new('127.0.0.1', 0)
relay_port = server.addr[1]
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
at_exit do
  Process.kill('TERM', sink)
  Process.wait(sink)
rescue StandardError
  nil
end

app = ShopApp
if variant == 'with'
  agent = RiskHub::Agent.new(application: 'bench', token: 'bench', relay_url: "http://127.0.0.1:#{relay_port}", logger: nil, at_exit: false)
  app = Rack::Builder.new do
    use RiskHub::Middleware, agent
    run ShopApp
  end.to_app
end
probe = TCPServer.new('127.0.0.1', 0)
port = probe.addr[1]
probe.close
puma = Puma::Server.new(app, Puma::Events.null, min_threads: 1, max_threads: 4)
puma.add_tcp_listener('127.0.0.1', port)
puma.run
lua = File.expand_path('shop.lua', __dir__)
system("wrk -t1 -c8 -d2s -s #{lua} http://127.0.0.1:#{port} > /dev/null")
reasons = Hash.new(0)
watch = Thread.new do
  last = GC.stat(:major_gc_count)
  loop do
    sleep 0.002
    m = GC.stat(:major_gc_count)
    next if m == last

    reasons[GC.latest_gc_info(:major_by)] += m - last
    last = m
  end
end
g0 = GC.stat
t0 = GC.total_time
c0 = Process.times
out = `wrk -t1 -c8 -d#{opts[:seconds]}s -s #{lua} http://127.0.0.1:#{port}`
c1 = Process.times
g1 = GC.stat
t1 = GC.total_time
watch.kill
n = [out[/(\d+) requests in/, 1].to_i, 1].max
puts format('%-7s %5d requests, load %s: CPU %.0f µs/request; %.0f objects/request; GC %.1f µs/request; %.1f minor + %.2f full GCs per 1,000 requests %s',
            variant, n, File.read('/proc/loadavg').split[0, 3].join(' '), (c1.utime + c1.stime - c0.utime - c0.stime) * 1e6 / n,
            (g1[:total_allocated_objects] - g0[:total_allocated_objects]).to_f / n, (t1 - t0) / 1e3 / n,
            (g1[:minor_gc_count] - g0[:minor_gc_count]) * 1000.0 / n, (g1[:major_gc_count] - g0[:major_gc_count]) * 1000.0 / n,
            reasons.empty? ? '' : reasons.inspect)
puma.stop(true)
