# frozen_string_literal: true

module RiskHub
  # Rack middleware: `use RiskHub::Middleware, agent` (Sinatra, Rails, Hanami, any Rack app).
  #
  # Before the app: snapshot of the request (a few env strings, a JSON/form body of at most 64 KiB),
  # the `user` option's resolver if any (then the user's decision is enforced before the app runs).
  # Inside the app: `agent.identify(env, user)` ties the request to the signed-in user and enforces
  # that user's BLOCK / CHALLENGE decision at once (a throw back to this middleware, which answers).
  # After the app: the request event is queued; it is built and sent on the agent's thread.
  class Middleware
    ENV_ACTIVE = 'risk_hub.middleware'

    def initialize(app, agent)
      raise ConfigError, "risk-hub agent: RiskHub::Middleware needs a RiskHub::Agent, got #{agent.class}" unless agent.is_a?(Agent)

      @app = app
      @agent = agent
    end

    def call(env)
      snapshot = prepare(env)
      response = catch(Agent::ENFORCED) do
        resolve_user(env)
        @app.call(env)
      end
      finish(env, snapshot)
      response
    end

    private

    def prepare(env)
      env['risk_hub.agent'] = @agent
      env[ENV_ACTIVE] = true
      @agent.ensure_threads
      RequestFacts.snapshot(env)
    rescue StandardError
      nil
    end

    def resolve_user(env)
      resolver = @agent.options.user
      return if resolver.nil?

      user = begin
        resolver.call(env)
      rescue StandardError
        nil
      end
      @agent.identify(env, user) unless user.nil?
    end

    def finish(env, snapshot)
      env.delete(ENV_ACTIVE) # an identify after the response (streaming bodies) must not throw
      @agent.record_request(env, snapshot) if snapshot
    rescue StandardError
      nil
    end
  end
end
