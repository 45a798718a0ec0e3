# frozen_string_literal: true

require 'json'

module RiskHub
  # One active decision of a user, as GET /v1/decisions gives it.
  Decision = Struct.new(:user_key, :action, :until_ms, :reason, :decision_id, :simulated, keyword_init: true) do
    def expired?(now_ms = (Time.now.to_f * 1000).to_i)
      !until_ms.nil? && until_ms <= now_ms
    end

    # BLOCK or CHALLENGE, not simulated, not expired: the decisions a request can feel.
    def enforceable?(now_ms = (Time.now.to_f * 1000).to_i)
      !simulated && %w[BLOCK CHALLENGE].include?(action) && !expired?(now_ms)
    end
  end

  # The application's decisions, keyed by user key: replaced whole by each poll that brings a new
  # version (a frozen Hash swapped atomically, so a request's lookup takes no lock).
  class DecisionStore
    MAX_DECISIONS = 1_000_000
    ACTIONS = %w[MONITOR CHALLENGE BLOCK].freeze

    attr_reader :version

    def initialize
      @by_user = {}.freeze
      @version = nil
    end

    def [](user_key)
      d = @by_user[user_key]
      d.nil? || d.expired? ? nil : d
    end

    def size
      @by_user.size
    end

    # Replaces the decisions with a parsed GET /v1/decisions answer; returns how many were kept.
    def replace(payload)
      list = payload.is_a?(Hash) ? payload['decisions'] : nil
      raise ArgumentError, 'decisions answer without a decisions list' unless list.is_a?(Array)

      now = (Time.now.to_f * 1000).to_i
      fresh = {}
      list.each do |d|
        break if fresh.size >= MAX_DECISIONS
        next unless d.is_a?(Hash) && d['user_key'].is_a?(String) && ACTIONS.include?(d['action'])

        until_ms = d['until'].is_a?(Numeric) ? d['until'].to_i : nil
        next if !until_ms.nil? && until_ms <= now

        fresh[d['user_key']] = Decision.new(user_key: d['user_key'], action: d['action'], until_ms: until_ms,
                                            reason: d['reason'].to_s, decision_id: d['decision_id'].to_s,
                                            simulated: d['simulated'] == true).freeze
      end
      @by_user = fresh.freeze
      @version = payload['version']&.to_s
      fresh.size
    end
  end

  # The background thread polling GET /v1/decisions (ETag / If-None-Match, 304 = unchanged). When the
  # relay cannot be reached the store keeps what it has (each decision still ends at its `until`).
  class DecisionPoller
    def initialize(options, store, stats)
      @options = options
      @store = store
      @stats = stats
      @stop = false
      @mutex = Mutex.new
      @wakeup = ConditionVariable.new
      @thread = nil
    end

    def start
      @stop = false
      @thread = Thread.new { run }
      @thread.name = 'risk-hub-decisions' if @thread.respond_to?(:name=)
      @thread.report_on_exception = false
      self
    end

    def alive?
      @thread&.alive?
    end

    def stop(timeout)
      @mutex.synchronize do
        @stop = true
        @wakeup.broadcast
      end
      @thread&.join(timeout)
      @thread&.kill if @thread&.alive?
    end

    # One poll (also used by tests to avoid waiting).
    def poll_once(client)
      headers = {}
      headers['if-none-match'] = %("#{@store.version}") if @store.version
      path = "/v1/decisions?environment=#{URI.encode_www_form_component(@options.environment)}"
      res = client.get(path, headers)
      case res.status
      when 304 then :unchanged
      when 200
        @store.replace(JSON.parse(res.body.to_s))
        @stats.bump(:decision_polls)
        :replaced
      else
        @stats.error("GET /v1/decisions answered #{res.status}")
        :error
      end
    rescue StandardError => e
      @stats.error("GET /v1/decisions: #{e.class}: #{e.message}")
      :error
    end

    private

    def run
      client = RelayClient.new(@options)
      until @stop
        poll_once(client)
        @mutex.synchronize { @wakeup.wait(@mutex, @options.poll_interval) unless @stop }
      end
    ensure
      client&.close
    end
  end
end
