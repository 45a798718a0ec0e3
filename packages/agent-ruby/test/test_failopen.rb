# frozen_string_literal: true

require_relative 'test_helper'
require_relative 'sample_app'
require 'socket'

# The relay down, silent or refusing: the application never notices.
class FailOpenTest < Minitest::Test
  include TestSupport

  def teardown
    @agent&.close(0.5)
    @relay&.stop
    @silent&.close
  end

  def app_for(agent)
    Rack::Builder.new do
      use RiskHub::Middleware, agent
      run SampleApp
    end.to_app
  end

  def closed_port
    s = TCPServer.new('127.0.0.1', 0)
    port = s.addr[1]
    s.close
    port
  end

  def test_relay_unreachable_requests_answered_errors_counted
    @agent = RiskHub::Agent.new(application: 'shop', token: 't', relay_url: "http://127.0.0.1:#{closed_port}",
                                logger: nil, at_exit: false, linger: 0.01, poll_interval: 0.05)
    app = app_for(@agent)
    20.times { assert_equal 200, Rack::MockRequest.new(app).get('/search?q=1').status }
    assert eventually { @agent.stats[:dropped_send] == 20 }
    assert_operator @agent.stats[:errors], :>, 0
    assert_match(/ECONNREFUSED|Connection refused/, @agent.stats[:last_error])
  end

  # A relay that accepts connections and never answers: the request path does not wait for it, and
  # close() returns within its bound, counting what it could not send.
  def test_silent_relay_and_bounded_close
    @silent = TCPServer.new('127.0.0.1', 0)
    @agent = RiskHub::Agent.new(application: 'shop', token: 't', relay_url: "http://127.0.0.1:#{@silent.addr[1]}",
                                logger: nil, at_exit: false, linger: 0.01, http_timeout: 0.3, decisions: false)
    app = app_for(@agent)
    50.times { assert_equal 200, Rack::MockRequest.new(app).get('/search?q=1').status }
    stats = @agent.close(0.5)
    assert @agent.closed?
    assert_equal 50, stats[:sent] + stats[:dropped_send] + stats[:dropped_shutdown] + stats[:queued]
    assert_equal 0, stats[:sent]
    assert_nil @agent.report(type: 'x', severity: 'LOW', user: 'u'), 'nothing is accepted after close'
  end

  def test_queue_full_drops_the_oldest
    @silent = TCPServer.new('127.0.0.1', 0)
    @agent = RiskHub::Agent.new(application: 'shop', token: 't', relay_url: "http://127.0.0.1:#{@silent.addr[1]}",
                                logger: nil, at_exit: false, max_queue: 10, batch_size: 5, http_timeout: 5, decisions: false)
    # The sender is stuck on its first batch (5 events); the queue keeps the newest 10 of the rest.
    ids = Array.new(40) { |i| @agent.report(type: 'x', severity: 'LOW', user: "u#{i}") }
    assert_equal 40, ids.compact.size
    assert eventually { @agent.stats[:dropped_queue_full] >= 25 }
    assert_operator @agent.stats[:queued], :<=, 10
  end

  def test_503_is_retried_once_then_dropped
    @relay = FakeRelay.new
    @relay.events_status = 503
    @agent = new_agent(@relay, decisions: false)
    @agent.report(type: 'x', severity: 'LOW', user: 'u')
    assert eventually { @agent.stats[:dropped_send] == 1 }
    assert_equal 2, @relay.batches.size
    assert_equal @relay.batches[0], @relay.batches[1], 'the retry sends the same events (same ids)'
  end

  def test_400_is_not_retried
    @relay = FakeRelay.new
    @relay.events_status = 400
    @agent = new_agent(@relay, decisions: false)
    @agent.report(type: 'x', severity: 'LOW', user: 'u')
    assert eventually { @agent.stats[:dropped_send] == 1 }
    assert_equal 1, @relay.batches.size
  end

  def test_a_throwing_user_resolver_and_hooks_do_not_break_requests
    @relay = FakeRelay.new
    @relay.decisions = [{ 'user_key' => 'm', 'action' => 'BLOCK', 'until' => nil, 'reason' => 'r', 'decision_id' => 'd', 'simulated' => false }]
    @agent = new_agent(@relay, user: ->(_env) { raise 'boom' }, on_block: ->(_e, _d) { raise 'hook boom' })
    app = app_for(@agent)
    eventually { @agent.decisions.size == 1 }
    assert_equal 200, Rack::MockRequest.new(app).get('/health').status
    assert_equal 403, Rack::MockRequest.new(app).get('/health', 'HTTP_X_USER' => 'm').status, 'a failing on_block still blocks'
  end

  # Puma and Unicorn fork workers after the app is loaded: the agent's threads are restarted in the child.
  def test_threads_restart_after_fork
    skip 'no fork here' unless Process.respond_to?(:fork)

    @relay = FakeRelay.new
    @agent = new_agent(@relay, decisions: false)
    pid = fork do
      @agent.report(type: 'from_child', severity: 'LOW', user: 'u')
      exit!(@agent.flush(3) ? 0 : 1)
    end
    Process.wait(pid)
    assert_equal 0, $?.exitstatus
    assert eventually { @relay.events.any? { |e| e['type'] == 'from_child' } }
  end
end
