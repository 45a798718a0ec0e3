# frozen_string_literal: true

require 'uri'
require 'json'

module RiskHub
  # Invalid options: raised by Agent.new only, with one line saying which option and why.
  class ConfigError < ArgumentError; end

  # The agent's options, validated once and frozen.
  class Options
    DEFAULTS = {
      relay_url: 'http://127.0.0.1:8787',
      environment: 'production',
      max_queue: 10_000,          # events held at most; beyond, the oldest are dropped and counted
      batch_size: 500,            # events per POST /v1/events (the relay's bound)
      linger: 0.05,               # seconds the sender waits to fill a batch
      http_timeout: 1.0,          # seconds, connect and read, for every call to the relay
      flush_timeout: 2.0,         # seconds close() (and the at_exit hook) may take
      decisions: true,            # poll GET /v1/decisions and enforce them
      poll_interval: 1.0,         # seconds between two polls
      block_status: 403,
      block_body: nil,            # nil: {"error":"blocked","reason":<the decision's reason>}
      on_block: nil,              # ->(env, decision) { rack_response } answers a blocked request instead
      on_challenge: nil,          # ->(env, decision) { rack_response or nil }; nil lets the request go on
      user: nil,                  # ->(env) { key or {key:, identifiers:} or nil }, called before the app
      skip: nil,                  # ->(env) { true } for requests not to report (health checks)
      logger: :stderr,            # anything with #warn, :stderr, or nil for silence
      at_exit: true               # flush (bounded by flush_timeout) when the process exits
    }.freeze

    attr_reader(*DEFAULTS.keys, :application, :token)

    def initialize(opts)
      raise ConfigError, "risk-hub agent: options must be a Hash, got #{opts.class}" unless opts.is_a?(Hash)

      opts = opts.transform_keys(&:to_sym)
      unknown = opts.keys - DEFAULTS.keys - %i[application token]
      raise ConfigError, "risk-hub agent: unknown option #{unknown.first}" unless unknown.empty?

      merged = DEFAULTS.merge(opts)
      @application = opts[:application]
      @token = opts[:token]
      DEFAULTS.each_key { |k| instance_variable_set("@#{k}", merged[k]) }
      validate
      @relay_uri = URI.parse(@relay_url)
      freeze
    end

    # The relay's base URL, parsed.
    attr_reader :relay_uri

    private

    def fail!(msg)
      raise ConfigError, "risk-hub agent: #{msg}"
    end

    def validate
      identifier(:application, @application)
      identifier(:environment, @environment)
      fail!("option token must be a non-empty string without spaces (the relay's token of #{@application})") unless @token.is_a?(String) && @token.match?(/\A\S+\z/)
      validate_url
      positive_integer(:max_queue)
      positive_integer(:batch_size)
      fail!("option batch_size must be at most 500 (the relay's bound), got #{@batch_size}") if @batch_size > 500
      positive_integer(:block_status)
      %i[linger http_timeout flush_timeout poll_interval].each { |k| positive_number(k) }
      %i[on_block on_challenge user skip].each do |k|
        v = instance_variable_get("@#{k}")
        fail!("option #{k} must respond to call, got #{v.class}") unless v.nil? || v.respond_to?(:call)
      end
      %i[decisions at_exit].each do |k|
        v = instance_variable_get("@#{k}")
        fail!("option #{k} must be true or false, got #{v.inspect}") unless [true, false].include?(v)
      end
      fail!("option logger must respond to warn, or be :stderr or nil, got #{@logger.class}") unless @logger.nil? || @logger == :stderr || @logger.respond_to?(:warn)
      @block_body = @block_body.nil? ? nil : @block_body.to_s
    end

    def identifier(name, value)
      return if Identity.identifier?(value)

      shown = value.is_a?(String) ? value[0, 80].inspect : value.inspect
      fail!("option #{name} must match #{Identity::IDENTIFIER_RULE} (1-64 letters, digits, '.', '_', '-'), got #{shown}")
    end

    def validate_url
      uri = URI.parse(@relay_url.to_s)
      ok = %w[http https].include?(uri.scheme) && uri.host && !uri.host.empty? && uri.query.nil?
      fail!("option relay_url must be an http(s) URL like http://127.0.0.1:8787, got #{@relay_url.inspect}") unless ok
    rescue URI::InvalidURIError
      fail!("option relay_url must be an http(s) URL like http://127.0.0.1:8787, got #{@relay_url.inspect}")
    end

    def positive_integer(name)
      v = instance_variable_get("@#{name}")
      fail!("option #{name} must be a positive integer, got #{v.inspect}") unless v.is_a?(Integer) && v.positive?
    end

    def positive_number(name)
      v = instance_variable_get("@#{name}")
      fail!("option #{name} must be a positive number of seconds, got #{v.inspect}") unless v.is_a?(Numeric) && v.positive? && v.finite?
    end
  end
end
