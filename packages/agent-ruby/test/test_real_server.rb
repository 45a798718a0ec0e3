# frozen_string_literal: true

require_relative 'test_helper'
require_relative 'sample_app'
require 'net/http'

# The Sinatra app served by Puma over real HTTP, the agent in front of it.
class RealServerTest < Minitest::Test
  include TestSupport

  def setup
    @relay = FakeRelay.new
    @relay.decisions = [{ 'user_key' => 'mallory', 'action' => 'BLOCK', 'until' => ((Time.now.to_f + 600) * 1000).to_i,
                          'reason' => 'manual', 'decision_id' => 'd1', 'simulated' => false }]
    @agent = new_agent(@relay)
    agent = @agent
    @server = RealServer.new(Rack::Builder.new do
      use RiskHub::Middleware, agent
      run SampleApp
    end.to_app)
  end

  def teardown
    @server.stop
    @agent.close(1)
    @relay.stop
  end

  def http
    Net::HTTP.start('127.0.0.1', @server.port) { |h| yield h }
  end

  def test_requests_logins_and_blocks_over_http
    eventually { @agent.decisions.size == 1 }
    http do |h|
      res = h.get('/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'user-agent' => 'sqlmap/1.7', 'cookie' => 'sid=1')
      assert_equal '200', res.code
      res = h.post('/login', 'username=carol&password=bad', 'content-type' => 'application/x-www-form-urlencoded')
      assert_equal '401', res.code
      res = h.get('/orders/7', 'x-user' => 'mallory')
      assert_equal '403', res.code
      assert_equal 'blocked', JSON.parse(res.body)['error']
      res = h.post('/comments', '{"c":"1\' OR \'1\'=\'1"}', 'content-type' => 'application/json')
      assert_equal '200', res.code
    end
    assert @agent.flush(5)
    evs = @relay.events
    search = evs.find { |e| e['kind'] == 'request' && e['request']['uri'].start_with?('/search') }
    assert_equal({ 'q' => ['<script>alert(1)</script>'] }, search['request']['query'])
    assert_equal 'sqlmap/1.7', search['request']['headers']['user-agent']
    assert_equal({ 'sid' => '1' }, search['request']['cookies'])
    assert_equal '127.0.0.1', search['request']['ip']
    assert(evs.any? { |e| e['kind'] == 'login' && e['success'] == false && e['user']['key'] == 'carol' })
    assert(evs.any? { |e| e['kind'] == 'enforcement' && e['user']['key'] == 'mallory' })
    comment = evs.find { |e| e['kind'] == 'request' && e['request']['uri'] == '/comments' }
    assert_equal({ 'c' => "1' OR '1'='1" }, comment['request']['body'])
  end
end
