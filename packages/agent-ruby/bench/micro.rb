# frozen_string_literal: true

# The agent's CPU per request in one process, without a server or wrk (the steady figure on a shared
# machine): the Sinatra sample app called N times through Rack with and without RiskHub::Middleware,
# alternated ROUNDS times; process CPU time, the sender thread's sends to a sink (another process)
# included. Medians printed.
#   ruby bench/micro.rb [--n 20000] [--rounds 5]
require 'optparse'
require 'socket'
require 'json'
$LOAD_PATH.unshift File.expand_path('../lib', __dir__)
require 'risk_hub'
require 'rack'
require 'rack/mock'
require File.expand_path('../test/sample_app', __dir__)

opts = { n: 20_000, rounds: 5 }
OptionParser.new do |o|
  o.on('--n N', Integer) { |v| opts[:n] = v }
  o.on('--rounds N', Integer) { |v| opts[:rounds] = v }
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

agent = RiskHub::Agent.new(application: 'bench', token: 'bench', relay_url: "http://127.0.0.1:#{port}", logger: nil, at_exit: false)
with = Rack::Builder.new do
  use RiskHub::Middleware, agent
  run SampleApp
end.to_app
headers = { 'HTTP_USER_AGENT' => 'wrk', 'HTTP_ACCEPT' => '*/*', 'HTTP_HOST' => '127.0.0.1:8080', 'HTTP_VERSION' => 'HTTP/1.1',
            'HTTP_COOKIE' => 'sid=8f14e45fceea167a5a36dedd4bea2543; theme=dark', 'HTTP_X_USER' => 'u-1001' }
# What Puma adds to the env besides the request.
puma = { 'SERVER_SOFTWARE' => 'puma', 'GATEWAY_INTERFACE' => 'CGI/1.2', 'REQUEST_PATH' => '/search', 'rack.after_reply' => [],
         'puma.socket' => nil, 'rack.hijack?' => true, 'puma.config' => nil }

def cpu
  Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
end

def run(app, n, headers, puma)
  t0 = cpu
  n.times do
    env = Rack::MockRequest.env_for('/search?q=hello%20world&page=2', headers).merge!(puma)
    app.call(env)[2].each { |_| nil }
  end
  (cpu - t0) * 1e6 / n
end

res = { without: [], with: [] }
run(SampleApp, 2000, headers, puma)
run(with, 2000, headers, puma)
opts[:rounds].times do |r|
  order = r.even? ? %i[without with] : %i[with without]
  order.each do |k|
    res[k] << run(k == :with ? with : SampleApp, opts[:n], headers, puma)
    agent.flush(5) if k == :with # the sender's share is charged to this run
  end
end
agent.close
Process.kill('TERM', sink)
Process.wait(sink)
med = ->(a) { a.sort[a.size / 2] }
puts format('ruby %s, Sinatra app through Rack in one process (env building included), %d requests x %d rounds', RUBY_VERSION, opts[:n], opts[:rounds])
res.each { |k, v| puts format('%-8s median %6.1f µs CPU/request (range %.1f-%.1f)', k, med.(v), v.min, v.max) }
puts format('agent: %+.1f µs per request (%+.1f %%); sent %d', med.(res[:with]) - med.(res[:without]),
            100 * (med.(res[:with]) / med.(res[:without]) - 1), agent.stats[:sent])
