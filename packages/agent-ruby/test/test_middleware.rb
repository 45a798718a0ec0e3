# frozen_string_literal: true

require_relative 'test_helper'
require_relative 'sample_app'

class MiddlewareTest < Minitest::Test
  include TestSupport

  def setup
    @relay = FakeRelay.new
  end

  def teardown
    @agent&.close(1)
    @relay.stop
  end

  def app_with(**opts)
    @agent = new_agent(@relay, **opts)
    agent = @agent
    Rack::Builder.new do
      use RiskHub::Middleware, agent
      run SampleApp
    end.to_app
  end

  def request_events
    @relay.events.select { |e| e['kind'] == 'request' }
  end

  def test_request_event_carries_what_the_relay_inspects
    app = app_with
    res = Rack::MockRequest.new(app).post('/comments?q=%27%20OR%201%3D1--&q=two&tag=a',
                                          'CONTENT_TYPE' => 'application/json',
                                          'HTTP_USER_AGENT' => 'curl/8.5', 'HTTP_COOKIE' => 'sid=abc; theme=dark',
                                          'HTTP_AUTHORIZATION' => 'Bearer secret', 'REMOTE_ADDR' => '203.0.113.9',
                                          input: JSON.generate('comment' => '<script>alert(1)</script>', 'n' => [1, { 'x' => true }]))
    assert_equal 200, res.status
    assert_equal({ 'received' => 58 }, JSON.parse(res.body), 'the app still reads the whole body')
    ev = eventually { request_events.first }
    refute_nil ev
    assert_match(/\A\h{8}-\h{4}-4\h{3}-/, ev['id'])
    assert_kind_of Integer, ev['at']
    assert_nil ev['user']
    r = ev['request']
    assert_equal 'POST', r['method']
    assert_equal '/comments?q=%27%20OR%201%3D1--&q=two&tag=a', r['uri']
    assert_equal '203.0.113.9', r['ip']
    assert_equal 'curl/8.5', r['headers']['user-agent']
    assert_equal 'application/json', r['headers']['content-type']
    refute r['headers'].key?('cookie')
    refute r['headers'].key?('authorization')
    assert_equal({ 'q' => ["' OR 1=1--", 'two'], 'tag' => ['a'] }, r['query'])
    assert_equal({ 'comment' => '<script>alert(1)</script>', 'n' => [1, { 'x' => true }] }, r['body'])
    assert_equal({ 'sid' => 'abc', 'theme' => 'dark' }, r['cookies'])
    batch = @relay.batches.first
    assert_equal 'shop', batch['application_id']
    assert_equal 'test', batch['environment']
    assert_equal 'risk-hub-ruby', batch['agent']['name']
    assert_equal 'Bearer secret-token', @relay.auth_headers.first
  end

  # Query and cookie pieces as String#split gives them (empty pieces, no '=', '=' in a value, bad escapes,
  # spaces kept in a cookie's value and stripped from its name), with or without a ';' in the query.
  def test_query_and_cookie_pieces
    app = app_with
    env = Rack::MockRequest.env_for('/search', 'HTTP_COOKIE' => ' a=1;b = 2 ; c=%41;;=z; d; e=%zz; f=x=y;')
    env['QUERY_STRING'] = 'a=1&&=x&c&a=%41+b&d=%ZZ&e=x=y&&' # %ZZ: Rack::MockRequest's URI parser refuses it
    env['REQUEST_URI'] = "/search?#{env['QUERY_STRING']}"
    app.call(env) # Sinatra answers 400 (its own query parser refuses %ZZ); the agent reports it as sent
    Rack::MockRequest.new(app).get('/search?a=1;b=2&a=3')
    first = eventually { request_events.find { |e| e['request']['uri'].include?('&&') } }
    assert_equal({ 'a' => ['1', 'A b'], 'c' => [''], 'd' => ['%ZZ'], 'e' => ['x=y'] }, first['request']['query'])
    assert_equal({ 'a' => '1', 'b' => ' 2 ', 'c' => 'A', 'd' => '', 'e' => '%zz', 'f' => 'x=y' }, first['request']['cookies'])
    second = eventually { request_events.find { |e| e['request']['uri'].include?(';') } }
    assert_equal({ 'a' => %w[1 3], 'b' => ['2'] }, second['request']['query'])
    assert_equal({}, second['request']['cookies'])
  end

  def test_form_body_and_sinatra_path_params
    app = app_with
    Rack::MockRequest.new(app).get('/orders/42%20OR%201=1')
    Rack::MockRequest.new(app).post('/login', params: { 'username' => 'alice', 'password' => 'nope' })
    order = eventually { request_events.find { |e| e['request']['uri'].start_with?('/orders') } }
    assert_equal({ 'id' => '42 OR 1=1' }, order['request']['path_params'])
    login_req = eventually { request_events.find { |e| e['request']['uri'] == '/login' } }
    assert_equal({ 'username' => 'alice', 'password' => 'nope' }, login_req['request']['body'])
  end

  def test_identify_ties_events_to_the_user
    app = app_with
    Rack::MockRequest.new(app).get('/search?q=x', 'HTTP_X_USER' => 'u-1001')
    ev = eventually { request_events.first }
    assert_equal({ 'key' => 'u-1001', 'identifiers' => { 'login' => 'u-1001' } }, ev['user'])
  end

  def test_user_resolver_option
    app = app_with(user: ->(env) { env['HTTP_X_ACCOUNT'] })
    Rack::MockRequest.new(app).get('/health', 'HTTP_X_ACCOUNT' => 'acct-7')
    assert_equal 'acct-7', eventually { request_events.first }['user']['key']
  end

  def test_logins_and_custom_events
    app = app_with
    m = Rack::MockRequest.new(app)
    assert_equal 401, m.post('/login', params: { 'username' => 'carol', 'password' => 'x' }, 'REMOTE_ADDR' => '198.51.100.7').status
    assert_equal 200, m.post('/login', params: { 'username' => 'alice', 'password' => 'wonderland' }).status
    m.post('/pay', 'HTTP_X_USER' => 'bob')
    logins = eventually { (l = @relay.events.select { |e| e['kind'] == 'login' }).size == 2 && l }
    assert logins
    fail_ev = logins.find { |e| e['success'] == false }
    assert_equal 'carol', fail_ev['user']['key']
    assert_equal({ 'method' => 'POST', 'uri' => '/login', 'ip' => '198.51.100.7' }, fail_ev['request'])
    assert_equal 'alice', logins.find { |e| e['success'] }['user']['key']
    custom = eventually { @relay.events.find { |e| e['kind'] == 'custom' } }
    assert_equal 'payment_fraud', custom['type']
    assert_equal 'HIGH', custom['severity']
    assert_nil custom['points']
    assert_equal 'bob', custom['user']['key']
    success_req = eventually { request_events.find { |e| e['request']['uri'] == '/login' && e['user'] } }
    assert_equal 'alice', success_req['user']['key'], 'a successful login identifies the request'
  end

  def test_invalid_custom_events_and_user_keys_are_dropped_and_counted
    @agent = new_agent(@relay)
    assert_nil @agent.report(type: '', severity: 'HIGH')
    assert_nil @agent.report(type: 'x', severity: 'SEVERE')
    assert_nil @agent.report(type: 'x', severity: 'LOW', user: 'é' * 129)
    refute @agent.track_login(false, 'x' * 257)
    refute @agent.track_login(false, '   ')
    assert_equal 5, @agent.stats[:dropped_invalid]
    refute_nil @agent.report(type: 'x', severity: 'low', user: 'é' * 128, points: 3)
  end

  def block(user, action = 'BLOCK', **extra)
    { 'user_key' => user, 'action' => action, 'until' => ((Time.now.to_f + 3600) * 1000).to_i,
      'reason' => 'tier 3: +53 points in 24 h (above 50)', 'decision_id' => "d-#{user}", 'simulated' => false }.merge(extra)
  end

  def test_block_decision_answers_403_and_reports_the_enforcement
    @relay.decisions = [block('mallory')]
    app = app_with
    assert_equal 1, eventually { @agent.decisions.size == 1 && 1 }
    res = Rack::MockRequest.new(app).get('/search?q=1', 'HTTP_X_USER' => 'mallory')
    assert_equal 403, res.status
    assert_equal({ 'error' => 'blocked', 'reason' => 'tier 3: +53 points in 24 h (above 50)' }, JSON.parse(res.body))
    assert_equal 200, Rack::MockRequest.new(app).get('/search?q=1', 'HTTP_X_USER' => 'alice').status
    assert_equal 200, Rack::MockRequest.new(app).get('/search?q=1').status
    enf = eventually { @relay.events.find { |e| e['kind'] == 'enforcement' } }
    assert_equal 'BLOCK', enf['action']
    assert_equal 'd-mallory', enf['decision_id']
    assert_equal 'mallory', enf['user']['key']
    assert_equal '/search?q=1', enf['request']['uri']
    assert_equal 1, @agent.stats[:enforced]
    assert eventually { request_events.any? { |e| e['user'] && e['user']['key'] == 'mallory' } }, 'the blocked request is still reported'
  end

  def test_on_block_handler_and_custom_body
    @relay.decisions = [block('mallory')]
    app = app_with(on_block: ->(_env, d) { [451, { 'content-type' => 'text/plain' }, ["no: #{d.decision_id}"]] })
    eventually { @agent.decisions.size == 1 }
    res = Rack::MockRequest.new(app).get('/health', 'HTTP_X_USER' => 'mallory')
    assert_equal 451, res.status
    assert_equal 'no: d-mallory', res.body
  end

  def test_challenge_monitor_simulated_and_expired
    @relay.decisions = [block('c', 'CHALLENGE'), block('m', 'MONITOR'), block('s', 'BLOCK', 'simulated' => true),
                        block('e', 'BLOCK', 'until' => 1000)]
    app = app_with
    eventually { @agent.decisions.size == 3 }
    %w[c m s e].each do |u|
      assert_equal 200, Rack::MockRequest.new(app).get('/health', 'HTTP_X_USER' => u).status, u
    end
    assert_equal 0, @agent.stats[:enforced]
  end

  def test_challenge_hook_answers
    @relay.decisions = [block('c', 'CHALLENGE')]
    app = app_with(on_challenge: ->(_env, _d) { [302, { 'location' => '/mfa' }, []] })
    eventually { @agent.decisions.size == 1 }
    res = Rack::MockRequest.new(app).get('/health', 'HTTP_X_USER' => 'c')
    assert_equal 302, res.status
    assert_equal '/mfa', res['location']
  end

  def test_decisions_polled_with_if_none_match_and_kept_when_the_relay_goes_away
    @relay.decisions = [block('mallory')]
    app = app_with
    eventually { @agent.decisions.size == 1 }
    assert eventually { @relay.decision_requests.any? { |r| r[:if_none_match] == '"1"' } }
    assert_equal 'environment=test', @relay.decision_requests.first[:query]
    @relay.stop
    sleep 0.2
    assert_equal 403, Rack::MockRequest.new(app).get('/health', 'HTTP_X_USER' => 'mallory').status
    @relay = FakeRelay.new # teardown stops it
  end

  def test_hostile_requests_never_crash_the_app
    app = app_with
    m = Rack::MockRequest.new(app)
    deep = ('[' * 5000) + (']' * 5000)
    assert_equal 200, m.post('/comments', 'CONTENT_TYPE' => 'application/json', input: deep).status
    assert_equal 200, m.post('/comments', 'CONTENT_TYPE' => 'application/json', input: "{\"a\":\"\xff\xfe\"}".b).status
    assert_equal 200, m.post('/comments', 'CONTENT_TYPE' => 'application/json', input: '{"__proto__":{"x":1},"constructor":1}').status
    assert_equal 200, m.post('/comments', 'CONTENT_TYPE' => 'application/json', input: JSON.generate('a' => 'x' * 70_000)).status
    refute_equal 500, m.get("/search", "QUERY_STRING" => "q=%E0%A4%A&%ff=%ff").status # Sinatra answers 400 to this query itself
    nested20 = (1..25).reduce('"leaf"') { |acc, _| %({"k":#{acc}}) }
    assert_equal 200, m.post('/comments', 'CONTENT_TYPE' => 'application/json', input: nested20).status
    evs = eventually { (r = request_events).size == 6 && r }
    assert evs, 'every hostile request reported'
    bodies = evs.map { |e| e['request']['body'] }
    assert_nil bodies[0], 'too deep for the parser: no body'
    assert_equal({ 'a' => "\uFFFD\uFFFD" }, bodies[1])
    assert_equal({ '__proto__' => { 'x' => 1 }, 'constructor' => 1 }, bodies[2])
    assert_nil bodies[3], 'over 64 KiB: no body'
    assert_equal ["\uFFFD"], evs[4]['request']['query']["\uFFFD"]
    depth = 0
    node = bodies[5]
    while node.is_a?(Hash)
      depth += 1
      node = node['k']
    end
    assert_equal 20, depth, 'containers below depth 20 are cut'
    assert_operator @agent.stats[:truncated], :>=, 3
  end

  def test_strings_cut_at_16_kib
    app = app_with
    Rack::MockRequest.new(app).post('/comments', 'CONTENT_TYPE' => 'application/json', input: JSON.generate('a' => 'é' * 10_000))
    ev = eventually { request_events.first }
    assert_equal 16 * 1024, ev['request']['body']['a'].bytesize
  end

  def test_skip_option
    app = app_with(skip: ->(env) { env['PATH_INFO'] == '/health' })
    Rack::MockRequest.new(app).get('/health')
    Rack::MockRequest.new(app).get('/search?q=1')
    eventually { request_events.size == 1 }
    assert_equal ['/search?q=1'], request_events.map { |e| e['request']['uri'] }
  end

  def test_batches_of_at_most_batch_size
    @agent = new_agent(@relay, batch_size: 7, linger: 0.2)
    20.times { |i| @agent.report(type: 'x', severity: 'LOW', user: "u#{i}") }
    assert @agent.flush(5)
    assert_equal 20, @relay.events.size
    assert(@relay.batches.all? { |b| b['events'].size <= 7 })
  end
end
