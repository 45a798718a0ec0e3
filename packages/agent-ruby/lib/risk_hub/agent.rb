# frozen_string_literal: true

require 'json'

module RiskHub
  # Counters of one agent (thread-safe); Agent#stats returns a snapshot.
  class Stats
    attr_reader :last_error

    def initialize
      @mutex = Mutex.new
      @counts = Hash.new(0)
      @last_error = nil
    end

    def bump(name, n = 1)
      @mutex.synchronize { @counts[name] += n }
    end

    def error(message)
      @mutex.synchronize do
        @counts[:errors] += 1
        @last_error = message
      end
    end

    def to_h
      @mutex.synchronize { @counts.dup.merge(last_error: @last_error) }
    end
  end

  # The agent: validates its options, queues events (bounded, drop oldest), sends them to the relay from
  # a background thread, polls and enforces decisions. No public method raises into the application but
  # Agent.new (ConfigError on invalid options).
  class Agent
    SEVERITIES = %w[INFO LOW MEDIUM HIGH CRITICAL].freeze
    ENV_USER = 'risk_hub.user'
    ENV_SNAPSHOT = 'risk_hub.snapshot'
    # Thrown (Kernel#throw) from identify to the middleware's catch when a decision answers the request.
    ENFORCED = :risk_hub_enforced
    AGENT_INFO = { 'name' => 'risk-hub-ruby', 'version' => VERSION, 'language' => 'ruby' }.freeze

    attr_reader :options, :decisions

    def initialize(**opts)
      @options = Options.new(opts)
      @stats = Stats.new
      @queue = BoundedQueue.new(@options.max_queue, @options.batch_size)
      @decisions = DecisionStore.new
      @closed = false
      @challenge_logged = false
      @lifecycle = Mutex.new
      @pid = nil
      start_threads
      install_at_exit if @options.at_exit
    end

    # Ties this request to a signed-in user: `user` is the key (a String) or { key:, identifiers: }.
    # Enforces that user's decision at once when called inside RiskHub::Middleware (a BLOCK answers 403
    # and the rest of the application is skipped). Returns the user's active decision, or nil.
    def identify(env, user)
      u = normalize_user(user)
      return nil if u.nil?

      env[ENV_USER] = u
      decision = @decisions[u['key']]
      enforce!(env, u, decision) if decision&.enforceable? && env[Middleware::ENV_ACTIVE]
      decision
    rescue UncaughtThrowError
      raise
    rescue StandardError => e
      @stats.error("identify: #{e.class}: #{e.message}")
      nil
    end

    # The Rack response that enforces the identified user's decision on this request, or nil (for apps
    # that call it themselves instead of using the middleware's throw).
    def enforcement_response(env)
      u = env[ENV_USER]
      return nil if u.nil?

      decision = @decisions[u['key']]
      return nil unless decision&.enforceable?

      response_for(env, u, decision)
    rescue StandardError => e
      @stats.error("enforcement_response: #{e.class}: #{e.message}")
      nil
    end

    # A login attempt: failures count toward credential stuffing in the relay (same thresholds as the
    # Node agent). `user` is the login that was tried. A success also identifies the request.
    def track_login(success, user, env = nil)
      u = normalize_user(user)
      return false if u.nil?

      event = base_event('login', u)
      event['success'] = success ? true : false
      event['request'] = short_request(env) if env
      queued = enqueue(event)
      identify(env, u) if success && env # after the event is queued: a BLOCKed user's identify throws
      queued
    rescue UncaughtThrowError
      raise
    rescue StandardError => e
      @stats.error("track_login: #{e.class}: #{e.message}")
      false
    end

    # A custom event. Returns its event id, or nil when it was not accepted.
    def report(type:, severity:, user: nil, env: nil, points: nil)
      type = type.to_s
      severity = severity.to_s.upcase
      unless type.bytesize.between?(1, 64) && SEVERITIES.include?(severity) && (points.nil? || points.is_a?(Integer))
        @stats.bump(:dropped_invalid)
        return nil
      end
      u = user.nil? ? env&.[](ENV_USER) : normalize_user(user)
      return nil if !user.nil? && u.nil?

      event = base_event('custom', u)
      event.merge!('type' => type, 'severity' => severity, 'points' => points)
      event['request'] = short_request(env) if env
      enqueue(event) ? event['id'] : nil
    rescue StandardError => e
      @stats.error("report: #{e.class}: #{e.message}")
      nil
    end

    # The request event of a request the middleware saw (called after the app answered).
    def record_request(env, snapshot)
      return if @options.skip&.call(env)

      # Queued as the snapshot Array itself; the event (its id included) is made on the sender's thread.
      RequestFacts.record_path_params(snapshot, env)
      snapshot[RequestFacts::SNAP_AT] = now_ms
      snapshot[RequestFacts::SNAP_USER] = env[ENV_USER]
      enqueue(snapshot, threads_checked: true) # the middleware checked them before the app
    rescue StandardError => e
      @stats.error("request: #{e.class}: #{e.message}")
      nil
    end

    # Waits until the queue is empty and nothing is in flight, at most timeout seconds. True when it is.
    def flush(timeout = @options.flush_timeout)
      deadline = monotonic + timeout
      ensure_threads
      loop do
        return true if @queue.size.zero? && !@in_flight

        return false if monotonic >= deadline

        @queue.wake
        sleep 0.01
      end
    end

    # Stops polling, sends what is queued within timeout seconds, drops (and counts) the rest. Never raises.
    def close(timeout = @options.flush_timeout)
      @lifecycle.synchronize do
        return stats if @closed

        @closed = true
      end
      deadline = monotonic + timeout
      @poller&.stop(0.2)
      @sender_stop = true
      @queue.wake
      @sender&.join([deadline - monotonic, 0.01].max)
      if @sender&.alive?
        @sender.kill
        @sender.join(0.1)
        @stats.bump(:dropped_shutdown, @pending) if @pending.to_i.positive?
      end
      left = @queue.clear
      @stats.bump(:dropped_shutdown, left) if left.positive?
      stats
    rescue StandardError => e
      @stats.error("close: #{e.class}: #{e.message}")
      stats
    end

    def closed?
      @closed
    end

    # queued, sent, dropped (queue_full, invalid, shutdown, send), errors, decisions… as a Hash.
    def stats
      h = @stats.to_h
      {
        queued: @queue.size,
        sent: h[:sent] || 0,
        dropped_queue_full: @queue.dropped,
        dropped_invalid: h[:dropped_invalid] || 0,
        dropped_send: h[:dropped_send] || 0,
        dropped_shutdown: h[:dropped_shutdown] || 0,
        rejected: h[:rejected] || 0,
        truncated: h[:truncated] || 0,
        enforced: h[:enforced] || 0,
        detections: h[:detections] || 0,
        decisions: @decisions.size,
        decision_polls: h[:decision_polls] || 0,
        errors: h[:errors] || 0,
        last_error: h[:last_error]
      }
    end

    # For tests and the e2e conformance check: the relay `request` object this agent builds for env.
    def relay_request(env)
      snap = RequestFacts.snapshot(env)
      RequestFacts.record_path_params(snap, env)
      RequestFacts.to_relay(snap).first
    end

    # One poll of the decisions now (tests; the poller does it every poll_interval).
    def poll_decisions_now
      @poll_client ||= RelayClient.new(@options)
      @poller_for_now ||= DecisionPoller.new(@options, @decisions, @stats)
      @poller_for_now.poll_once(@poll_client)
    end

    # Called by the middleware: threads do not survive fork (Puma, Unicorn workers), restart them.
    def ensure_threads
      return if @pid == Process.pid && @sender&.alive?
      return if @closed

      @lifecycle.synchronize { start_threads unless @pid == Process.pid && @sender&.alive? }
    end

    def log_once_no_challenge_hook
      return if @challenge_logged

      @challenge_logged = true
      log('a CHALLENGE decision was not enforced: no on_challenge hook configured (the request went on)')
    end

    private

    def enforce!(env, user, decision)
      response = response_for(env, user, decision)
      throw ENFORCED, response if response
    end

    def response_for(env, user, decision)
      response = nil
      if decision.action == 'BLOCK'
        response = call_hook(@options.on_block, env, decision) if @options.on_block
        response ||= default_block(decision)
      elsif decision.action == 'CHALLENGE'
        if @options.on_challenge
          response = call_hook(@options.on_challenge, env, decision)
        else
          log_once_no_challenge_hook
        end
      end
      return nil if response.nil?

      @stats.bump(:enforced)
      event = base_event('enforcement', user)
      event.merge!('action' => decision.action, 'decision_id' => decision.decision_id, 'request' => short_request(env))
      enqueue(event)
      env['risk_hub.enforced'] = decision
      response
    end

    def call_hook(hook, env, decision)
      r = hook.call(env, decision)
      r.is_a?(Array) && r.size == 3 ? r : nil
    rescue StandardError => e
      @stats.error("decision hook: #{e.class}: #{e.message}")
      nil
    end

    def default_block(decision)
      body = @options.block_body || JSON.generate('error' => 'blocked', 'reason' => decision.reason)
      [@options.block_status, { 'content-type' => 'application/json', 'cache-control' => 'no-store' }, [body]]
    end

    def normalize_user(user)
      key, identifiers = case user
                         when Hash then [user[:key] || user['key'], user[:identifiers] || user['identifiers']]
                         else [user, nil]
                         end
      key = key.to_s if key.is_a?(Integer)
      if Identity.user_key_problem(key)
        @stats.bump(:dropped_invalid)
        return nil
      end
      { 'key' => key.dup.force_encoding(Encoding::UTF_8), 'identifiers' => Identity.bound_identifiers(identifiers) }
    end

    def base_event(kind, user)
      { 'kind' => kind, 'id' => Identity.event_id, 'at' => now_ms, 'user' => user }
    end

    # Epoch milliseconds (a third of Time.now's cost: no Time object).
    def now_ms
      Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
    end

    def short_request(env)
      return nil if env.nil?

      { 'method' => env['REQUEST_METHOD'].to_s[0, 16], 'uri' => Identity.truncate_utf8(RequestFacts.request_uri(env), 2048),
        'ip' => Identity.truncate_utf8(RequestFacts.client_ip(env), 64) }
    end

    def enqueue(event, threads_checked: false)
      if @closed
        @stats.bump(:dropped_shutdown)
        return false
      end
      ensure_threads unless threads_checked
      @queue.push(event)
      true
    end

    def start_threads
      @pid = Process.pid
      @sender_stop = false
      @in_flight = false
      @pending = 0
      @sender = Thread.new { send_loop }
      @sender.name = 'risk-hub-sender' if @sender.respond_to?(:name=)
      @sender.report_on_exception = false
      return unless @options.decisions

      @poller = DecisionPoller.new(@options, @decisions, @stats).start
    end

    # How often the sender, while it lingers to fill a batch, turns what was queued meanwhile into JSON:
    # a queued request holds its env's strings, and a few milliseconds later they are garbage that a
    # minor GC collects, where 50 ms in the queue made them survive enough collections to become old
    # (and old garbage costs full collections).
    ENCODE_TICK = 0.005

    def send_loop
      client = RelayClient.new(@options)
      json = JSON::State.new
      until @sender_stop && @queue.size.zero?
        items = @queue.take(@options.batch_size, 0.5, 0)
        next if items.empty?

        @in_flight = true
        batch = Batch.new(batch_prefix)
        begin
          @pending = items.size # counted as dropped_shutdown if close() has to kill this send
          encode(items, batch, json)
          deadline = monotonic + @options.linger
          while @pending < @options.batch_size && !@sender_stop && (left = deadline - monotonic).positive?
            sleep(left < ENCODE_TICK ? left : ENCODE_TICK)
            items = @queue.drain(@options.batch_size - @pending)
            @pending += items.size
            encode(items, batch, json)
          end
          send_batch(client, batch) if batch.count.positive?
          @pending = 0
        rescue StandardError => e
          @stats.error("sender: #{e.class}: #{e.message}")
          @stats.bump(:dropped_send, batch.count)
          @pending = 0
        ensure
          @in_flight = false # not @pending: close() reads it after killing this thread
        end
      end
    ensure
      client&.close
    end

    # The body of one POST /v1/events being written: {agent, application_id, environment, events}, the
    # events' JSON appended as they are made.
    class Batch
      attr_reader :body, :count

      def initialize(prefix)
        @body = String.new(prefix, capacity: 64 * 1024)
        @count = 0
      end

      # text: a JSON array of n events.
      def add(text, n)
        return if n.zero?

        text.setbyte(0, 0x2c) unless @count.zero? # '[' → ','
        @body << text
        @body.chop! # the closing ']'
        @count += n
      end

      def finish
        @body << (@count.zero? ? '[]}' : ']}')
      end
    end

    def batch_prefix
      @batch_prefix ||= JSON.generate('agent' => AGENT_INFO, 'application_id' => @options.application,
                                      'environment' => @options.environment, 'events' => [])[0...-3].freeze
    end

    # The events as JSON, one generator call for what the queue held; an event that cannot be made or
    # written is counted and left out.
    def encode(items, batch, json)
      events = []
      items.each do |item|
        events << finish(item)
      rescue StandardError => e
        drop_unwritable(e)
      end
      batch.add(json.generate(events), events.size)
    rescue StandardError
      events.each do |event|
        batch.add(json.generate([event]), 1)
      rescue StandardError => e
        drop_unwritable(e)
      end
    end

    def drop_unwritable(error)
      @stats.error("event JSON: #{error.class}: #{error.message}")
      @stats.bump(:dropped_send)
      @pending -= 1
    end

    def send_batch(client, batch)
      body = batch.finish
      2.times do |attempt|
        res = begin
          client.post_body('/v1/events', body)
        rescue StandardError => e
          @stats.error("POST /v1/events: #{e.class}: #{e.message}")
          nil
        end
        if res && res.status == 202
          accepted(res, batch.count)
          return
        end
        @stats.error("POST /v1/events answered #{res.status}") if res
        # Fail open: one retry for a network error or a 5xx (503 = the relay's queue is full), then drop.
        break if res && res.status < 500
        break if attempt == 1 || @sender_stop

        sleep 0.2
      end
      @stats.bump(:dropped_send, batch.count)
    end

    def accepted(res, count)
      @stats.bump(:sent, count)
      body = JSON.parse(res.body.to_s)
      @stats.bump(:rejected, body['rejected'].to_i) if body['rejected'].to_i.positive?
      @stats.bump(:detections, body['detections'].to_i) if body['detections'].to_i.positive?
    rescue JSON::ParserError
      nil
    end

    # A queued event as the relay takes it: a request's snapshot (an Array) becomes its event and request
    # object here, off the request's thread.
    def finish(snap)
      return snap unless snap.is_a?(Array)

      event = { 'kind' => 'request', 'id' => Identity.event_id, 'at' => snap[RequestFacts::SNAP_AT],
                'user' => snap[RequestFacts::SNAP_USER] }
      begin
        request, truncated = RequestFacts.to_relay(snap)
        @stats.bump(:truncated) if truncated
      rescue StandardError => e
        @stats.error("request event: #{e.class}: #{e.message}")
        env = snap[RequestFacts::SNAP_ENV]
        request = { 'method' => env['REQUEST_METHOD'].to_s, 'uri' => Identity.utf8(RequestFacts.request_uri(env)),
                    'ip' => RequestFacts.client_ip(env) }
      end
      event['request'] = request
      event
    end

    def install_at_exit
      agent = self
      at_exit { agent.close }
    end

    def log(message)
      logger = @options.logger
      return if logger.nil?

      line = "risk-hub agent: #{message}"
      logger == :stderr ? warn(line) : logger.warn(line)
    rescue StandardError
      nil
    end

    def monotonic
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
