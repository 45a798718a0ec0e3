# frozen_string_literal: true

# The agent's overhead on a small Sinatra app served by Puma: requests/s and CPU per request with and
# without RiskHub::Middleware, measured with wrk (bounded: ROUNDS x 2 runs of SECONDS each).
#   ruby bench/bench.rb [--seconds 8] [--rounds 2] [--connections 4]
# The relay is a stand-in sink in its own process (202 to every batch, no decisions), so the figures
# are the agent's cost in the app process: snapshot, queue, JSON building and HTTP sends included.
require 'optparse'
require 'socket'
require 'json'

opts = { seconds: 8, rounds: 2, connections: 4 }
OptionParser.new do |o|
  o.on('--seconds N', Integer) { |v| opts[:seconds] = v }
  o.on('--rounds N', Integer) { |v| opts[:rounds] = v }
  o.on('--connections N', Integer) { |v| opts[:connections] = v }
end.parse!
abort 'bench: wrk is needed (apt-get install wrk)' unless system('command -v wrk >/dev/null')

LIB = File.expand_path('../lib', __dir__)
TEST = File.expand_path('../test', __dir__)

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

# The relay stand-in: a minimal HTTP/1.1 keep-alive server answering 202 / 304, counting events.
def start_sink(port)
  fork do
    $0 = 'risk-hub-bench-sink'
    server = TCPServer.new('127.0.0.1', port)
    loop do
      client = server.accept
      Thread.new(client) do |c|
        loop do
          line = c.gets or break
          headers = {}
          while (h = c.gets) && h != "\r\n"
            k, v = h.split(':', 2)
            headers[k.downcase] = v.strip
          end
          body = c.read(headers['content-length'].to_i)
          if line.start_with?('POST')
            n = body.scan('"kind"').size
            out = JSON.generate('accepted' => n, 'rejected' => 0, 'detections' => 0)
            c.write("HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: #{out.bytesize}\r\n\r\n#{out}")
          else
            out = '{"version":"1","decisions":[]}'
            c.write("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: #{out.bytesize}\r\n\r\n#{out}")
          end
        end
      rescue StandardError
        nil
      ensure
        c.close
      end
    end
  end
end

def start_app(port, with_agent, relay)
  fork do
    $LOAD_PATH.unshift LIB
    require 'risk_hub'
    require 'puma'
    require 'puma/server'
    require File.join(TEST, 'sample_app')
    app = if with_agent
            agent = RiskHub::Agent.new(application: 'bench', token: 'bench', relay_url: relay, logger: nil)
            Rack::Builder.new do
              use RiskHub::Middleware, agent
              run SampleApp
            end.to_app
          else
            SampleApp
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

def run_once(with_agent, relay, opts)
  port = free_port
  pid = start_app(port, with_agent, relay)
  wait_port(port)
  system("wrk -t1 -c#{opts[:connections]} -d2s 'http://127.0.0.1:#{port}/search?q=hello' >/dev/null") # warm-up
  cpu0 = cpu_seconds(pid)
  out = `wrk -t1 -c#{opts[:connections]} -d#{opts[:seconds]}s 'http://127.0.0.1:#{port}/search?q=hello%20world&page=2'`
  cpu1 = cpu_seconds(pid)
  total = out[/(\d+) requests in/, 1].to_i
  rps = out[%r{Requests/sec:\s+([\d.]+)}, 1].to_f
  { rps: rps, cpu_us: total.positive? ? (cpu1 - cpu0) * 1e6 / total : 0, requests: total }
ensure
  if pid
    Process.kill('TERM', pid)
    Process.wait(pid)
  end
end

sink_port = free_port
sink = start_sink(sink_port)
wait_port(sink_port)
relay = "http://127.0.0.1:#{sink_port}"
results = { without: [], with: [] }
begin
  opts[:rounds].times do
    results[:without] << run_once(false, relay, opts)
    results[:with] << run_once(true, relay, opts)
  end
ensure
  Process.kill('TERM', sink)
  Process.wait(sink)
end

best = results.transform_values { |runs| runs.max_by { |r| r[:rps] } }
cpu = results.transform_values { |runs| runs.map { |r| r[:cpu_us] }.min }
puts format('ruby %s, Sinatra + Puma (4 threads), wrk -c%d, %d s x %d rounds (best round)', RUBY_VERSION, opts[:connections], opts[:seconds], opts[:rounds])
puts format('without agent: %8.0f req/s  %6.1f µs CPU/request', best[:without][:rps], cpu[:without])
puts format('with agent:    %8.0f req/s  %6.1f µs CPU/request', best[:with][:rps], cpu[:with])
puts format('overhead:      %7.1f %% req/s   %+6.1f %% CPU/request',
            100.0 * (1 - best[:with][:rps] / best[:without][:rps]), 100.0 * (cpu[:with] / cpu[:without] - 1))
