# frozen_string_literal: true

require_relative 'test_helper'
require_relative 'sample_app'
require 'net/http'
require 'socket'
require 'securerandom'

# End to end against a REAL relay (docs/relay-protocol.md) in front of the real broker. Runs when
# RISK_HUB_RELAY_URL is set; RISK_HUB_RELAY_TOKEN (the application's token), RISK_HUB_RELAY_APPLICATION
# (default "shop") and RISK_HUB_RELAY_ENVIRONMENT (default "production") say who this app is.
# RISK_HUB_E2E_BLOCKED_USER (optional): a user the harness has blocked; a request of theirs must get 403.
class EndToEndTest < Minitest::Test
  include TestSupport

  RELAY = ENV['RISK_HUB_RELAY_URL']

  # A Sinatra app that answers every path (the corpus's URIs are arbitrary), with the agent in front.
  class CorpusApp < Sinatra::Base
    set :environment, :production
    set :show_exceptions, false
    set :host_authorization, { permitted_hosts: [] } if respond_to?(:host_authorization)
    before do
      user = request.env['HTTP_X_USER']
      env['risk_hub.agent']&.identify(env, user) if user
    end
    # The corpus's two routes with a parameter (requests.json "route"); everything else is not_found.
    %w[/users/:id /files/:name].each do |route|
      get(route) { 'ok' }
      post(route) { 'ok' }
    end
    # test/vectors/e2e-traffic.json's login burst: every login fails, tracked for the login tried.
    post('/login') do
      env['risk_hub.agent']&.track_login(false, params['username'].to_s, env)
      halt 401, 'no'
    end
    not_found { 'ok' }
    error { 'error' }
  end

  def setup
    skip 'RISK_HUB_RELAY_URL is not set: the end-to-end test needs a running relay' if RELAY.nil? || RELAY.empty?
  end

  def teardown
    @server&.stop
    @agent&.close(2)
    @capture&.stop
  end

  def agent_options
    { application: ENV.fetch('RISK_HUB_RELAY_APPLICATION', 'shop'), environment: ENV.fetch('RISK_HUB_RELAY_ENVIRONMENT', 'production'),
      token: ENV.fetch('RISK_HUB_RELAY_TOKEN', 'dev-token'), logger: nil, at_exit: false }
  end

  def serve(agent)
    @server = RealServer.new(Rack::Builder.new do
      use RiskHub::Middleware, agent
      run CorpusApp
    end.to_app)
  end

  def relay_post(path, payload)
    uri = URI.join(RELAY, path)
    req = Net::HTTP::Post.new(uri, 'content-type' => 'application/json', 'authorization' => "Bearer #{agent_options[:token]}")
    req.body = JSON.generate(payload)
    Net::HTTP.start(uri.host, uri.port, read_timeout: 10) { |h| h.request(req) }
  end

  # One corpus request, sent raw over TCP (the corpus may hold what Net::HTTP would refuse to send).
  def send_raw(port, vector)
    body = vector['body'].to_s.b
    lines = ["#{vector['method']} #{vector['uri']} HTTP/1.1", "host: 127.0.0.1:#{port}", 'connection: close']
    skip_names = %w[host connection content-length]
    skip_names << 'content-type' if vector['content_type'] # sent once, below
    (vector['headers'] || {}).each { |k, v| lines << "#{k}: #{v}" unless skip_names.include?(k.downcase) }
    lines << "content-type: #{vector['content_type']}" if vector['content_type']
    lines << "content-length: #{body.bytesize}"
    sock = TCPSocket.new('127.0.0.1', port)
    sock.write(lines.join("\r\n") + "\r\n\r\n" + body)
    sock.read
  ensure
    sock&.close
  end

  def test_relay_healthz
    assert_equal '200', Net::HTTP.get_response(URI.join(RELAY, '/healthz')).code
  end

  # The corpus through a real Sinatra app: the relay JSON this integration builds gets the expected verdicts.
  def test_conformance_corpus
    path = File.join(vectors_dir, 'requests.json')
    skip 'test/vectors/requests.json is not in this checkout yet' unless File.exist?(path)

    vectors = JSON.parse(File.read(path))
    vectors = vectors['requests'] if vectors.is_a?(Hash)
    @capture = FakeRelay.new
    @agent = RiskHub::Agent.new(**agent_options, relay_url: @capture.url, decisions: false, linger: 0.01)
    serve(@agent)
    failures = []
    vectors.each do |v|
      before = @capture.events.size
      send_raw(@server.port, v)
      assert @agent.flush(5)
      ev = eventually { @capture.events[before..].find { |e| e['kind'] == 'request' } }
      if ev.nil?
        failures << "#{v['name']}: no request event"
        next
      end
      res = relay_post('/v1/inspect', 'request' => ev['request'])
      assert_equal '200', res.code, "#{v['name']}: /v1/inspect answered #{res.code} #{res.body}"
      got = JSON.parse(res.body)['detections'].map { |d| d['attack_type'] }.uniq.sort
      failures << "#{v['name']}: expected #{v['expect'].sort.uniq} got #{got}" unless got == v['expect'].sort.uniq
    end
    assert_empty failures, failures.join("\n")
    warn "conformance: #{vectors.size} corpus requests, verdicts equal to the Node agent's"
  end

  # test/vectors/e2e-traffic.json through the real Sinatra app (corpus attacks for one user, a burst of
  # failed logins for that user) and a custom event for another user: all accepted, none rejected; with
  # RISK_HUB_SCORER_URL, the scorer holds for the user what the same traffic gives through the Node agent.
  def test_events_accepted_by_the_relay_and_decisions_polled
    traffic = JSON.parse(File.read(File.join(vectors_dir, 'e2e-traffic.json')))
    corpus = JSON.parse(File.read(File.join(vectors_dir, 'requests.json'))).to_h { |v| [v['name'], v] }
    @agent = RiskHub::Agent.new(**agent_options, relay_url: RELAY, poll_interval: 0.2)
    serve(@agent)
    user = "e2e-ruby-#{SecureRandom.hex(4)}"
    traffic['attacks'].each do |name|
      v = corpus.fetch(name)
      send_raw(@server.port, v.merge('headers' => (v['headers'] || {}).merge('x-user' => user)))
    end
    burst = traffic['login_burst']
    burst['failures'].times do
      send_raw(@server.port, 'method' => 'POST', 'uri' => burst['path'], 'headers' => {},
                             'content_type' => 'application/x-www-form-urlencoded', 'body' => "username=#{user}&password=wrong")
    end
    refute_nil @agent.report(type: 'payment_fraud', severity: 'HIGH', user: "#{user}-payer") # another user: the score stays the vector's
    assert @agent.flush(10)
    s = @agent.stats
    assert_equal 0, s[:dropped_send], s[:last_error].to_s
    assert_equal traffic['attacks'].size + (2 * burst['failures']) + 1, s[:sent], 'request events (the logins\' too), login events, the custom event'
    assert_equal 0, s[:rejected]
    assert_operator s[:detections], :>=, traffic['attacks'].size, 'the relay found the attacks'
    scorer = ENV['RISK_HUB_SCORER_URL']
    assert_scored_like_the_node_agent(scorer, user, traffic['expect']) unless scorer.nil? || scorer.empty?
    assert_includes %i[replaced unchanged], @agent.poll_decisions_now
    blocked = ENV['RISK_HUB_E2E_BLOCKED_USER']
    return if blocked.nil? || blocked.empty?

    assert eventually { @agent.decisions[blocked] }
    res = Net::HTTP.start('127.0.0.1', @server.port) { |h| h.get('/orders', 'x-user' => blocked) }
    assert_equal '403', res.code
  end

  # The scorer's view of the user equals e2e-traffic.json's `expect` (bounded wait: it consumes asynchronously).
  def assert_scored_like_the_node_agent(scorer, user, expect)
    o = agent_options
    uri = URI.join(scorer, "/v1/users/#{o[:application]}/#{o[:environment]}/#{user}/risk")
    count = ->(r) { r.fetch('contributions', []).size + r.fetch('contributions_truncated', 0) }
    risk = {}
    120.times do
      res = Net::HTTP.get_response(uri)
      risk = res.code == '200' ? JSON.parse(res.body) : {}
      break if count.call(risk) >= expect['contributions']

      sleep 0.5
    end
    keys = %w[increase_24h risk_score tier alerted_tier]
    got = risk.slice(*keys).merge('contributions' => count.call(risk))
    assert_equal expect.slice(*keys).merge('contributions' => expect['contributions']), got, JSON.generate(risk)
  end
end
