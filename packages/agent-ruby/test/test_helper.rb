# frozen_string_literal: true

# Loads the agent from lib/ (development) or, with RISK_HUB_USE_INSTALLED_GEM=1, from the gem
# installed from the built .gem file (CI), and checks which one it got.
if ENV['RISK_HUB_USE_INSTALLED_GEM'] == '1'
  gem 'risk_hub_agent'
  require 'risk_hub'
  loaded = $LOADED_FEATURES.find { |f| f.end_with?('/risk_hub.rb') }
  abort "risk_hub was loaded from #{loaded}, not from the installed gem" if loaded.start_with?(File.expand_path('../lib', __dir__))
  warn "risk_hub loaded from the installed gem: #{loaded}"
else
  $LOAD_PATH.unshift File.expand_path('../lib', __dir__)
  require 'risk_hub'
end

require 'minitest/autorun'
require 'json'
require 'webrick'
require 'rack'
require 'rack/mock'

module TestSupport
  # Waits (bounded: at most `tries` x 20 ms) until the block is truthy; returns its last value.
  def eventually(tries = 250)
    tries.times do
      v = yield
      return v if v

      sleep 0.02
    end
    yield
  end

  def repo_root
    File.expand_path('../../..', __dir__)
  end

  # The shared conformance vectors (RISK_HUB_VECTORS_DIR overrides, to try the loaders).
  def vectors_dir
    ENV['RISK_HUB_VECTORS_DIR'] || File.join(repo_root, 'test/vectors')
  end

  def new_agent(relay, **opts)
    RiskHub::Agent.new(application: 'shop', environment: 'test', token: 'secret-token', relay_url: relay.url,
                       logger: nil, at_exit: false, linger: 0.01, poll_interval: 0.05, **opts)
  end
end

# A tiny stand-in for the relay (docs/relay-protocol.md): records POST /v1/events, serves
# GET /v1/decisions with a version / If-None-Match, answers /v1/inspect with nothing.
class FakeRelay
  attr_reader :batches, :decision_requests, :auth_headers
  attr_accessor :events_status, :decisions, :version

  def initialize
    @batches = []
    @decision_requests = []
    @auth_headers = []
    @events_status = 202
    @decisions = []
    @version = '1'
    @mutex = Mutex.new
    @server = WEBrick::HTTPServer.new(BindAddress: '127.0.0.1', Port: 0, Logger: WEBrick::Log.new(File::NULL),
                                      AccessLog: [])
    @server.mount_proc('/v1/events') { |req, res| handle_events(req, res) }
    @server.mount_proc('/v1/decisions') { |req, res| serve_decisions(req, res) }
    @server.mount_proc('/v1/inspect') { |_req, res| json(res, 'detections' => []) }
    @server.mount_proc('/healthz') { |_req, res| json(res, 'status' => 'ok') }
    @thread = Thread.new { @server.start }
  end

  def url
    "http://127.0.0.1:#{@server.config[:Port]}"
  end

  def events
    @mutex.synchronize { @batches.flat_map { |b| b['events'] } }
  end

  def stop
    @server.shutdown
    @thread.join(2)
  end

  private

  def handle_events(req, res)
    @mutex.synchronize do
      @auth_headers << req['authorization']
      @batches << JSON.parse(req.body)
    end
    res.status = @events_status
    res['content-type'] = 'application/json'
    n = JSON.parse(req.body)['events'].size
    res.body = JSON.generate('accepted' => n, 'rejected' => 0, 'detections' => 0)
  end

  def json(res, value)
    res['content-type'] = 'application/json'
    res.body = JSON.generate(value)
  end

  def serve_decisions(req, res)
    @mutex.synchronize { @decision_requests << { query: req.query_string, if_none_match: req['if-none-match'] } }
    if req['if-none-match'] == %("#{@version}")
      res.status = 304
      return
    end
    res['content-type'] = 'application/json'
    res['etag'] = %("#{@version}")
    res.body = JSON.generate('version' => @version, 'decisions' => @decisions)
  end
end

# A real HTTP server (Puma, as in production) running a Rack app on a free loopback port.
class RealServer
  attr_reader :port

  def initialize(app)
    require 'puma'
    require 'puma/server'
    @server = Puma::Server.new(app)
    @server.add_tcp_listener('127.0.0.1', 0)
    @port = @server.connected_ports.first
    @server.run
  end

  def url
    "http://127.0.0.1:#{@port}"
  end

  def stop
    @server.stop(true)
  end
end
