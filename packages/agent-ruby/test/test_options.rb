# frozen_string_literal: true

require_relative 'test_helper'

class OptionsTest < Minitest::Test
  BASE = { application: 'shop', token: 't0k', logger: nil, at_exit: false, decisions: false,
           relay_url: 'http://127.0.0.1:9' }.freeze

  def error_for(**opts)
    e = assert_raises(RiskHub::ConfigError) { RiskHub::Agent.new(**BASE, **opts) }
    refute_includes e.message, "\n", 'one line'
    assert e.message.start_with?('risk-hub agent: option ') || e.message.start_with?('risk-hub agent: unknown option')
    e.message
  end

  def test_valid_options_start
    agent = RiskHub::Agent.new(**BASE)
    assert_equal 'production', agent.options.environment
    assert_equal 10_000, agent.options.max_queue
    assert agent.options.frozen?
    agent.close
  end

  def test_invalid_options_fail_with_one_clear_line
    assert_match(/option application must match/, error_for(application: 'shop/eu'))
    assert_match(/option application must match/, error_for(application: nil))
    assert_match(/option environment must match/, error_for(environment: 'prod env'))
    assert_match(/option token/, error_for(token: ''))
    assert_match(/option token/, error_for(token: nil))
    assert_match(/option relay_url/, error_for(relay_url: 'ftp://x'))
    assert_match(/option relay_url/, error_for(relay_url: 'not a url'))
    assert_match(/option max_queue must be a positive integer, got -5/, error_for(max_queue: -5))
    assert_match(/option batch_size must be at most 500/, error_for(batch_size: 501))
    assert_match(/option http_timeout/, error_for(http_timeout: 0))
    assert_match(/option on_block must respond to call/, error_for(on_block: 'nope'))
    assert_match(/option decisions must be true or false/, error_for(decisions: 'yes'))
    assert_match(/unknown option brokers/, error_for(brokers: 'kafka:9092'))
  end

  def test_config_error_is_an_argument_error
    assert_operator RiskHub::ConfigError, :<, ArgumentError
  end
end
