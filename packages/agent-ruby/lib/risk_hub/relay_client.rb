# frozen_string_literal: true

require 'net/http'
require 'json'

module RiskHub
  # One keep-alive HTTP connection to the relay (docs/relay-protocol.md); not thread-safe, each
  # background thread has its own. Every call is bounded by the http_timeout option.
  class RelayClient
    Response = Struct.new(:status, :headers, :body)

    def initialize(options)
      @uri = options.relay_uri
      @token = options.token
      @timeout = options.http_timeout
      @base = @uri.path.to_s.sub(%r{/+\z}, '')
      @http = nil
    end

    def post_json(path, payload)
      post_body(path, JSON.generate(payload))
    end

    # A POST of JSON text already written.
    def post_body(path, body)
      req = Net::HTTP::Post.new(@base + path)
      req['content-type'] = 'application/json'
      req.body = body
      request(req)
    end

    def get(path, headers = {})
      req = Net::HTTP::Get.new(@base + path)
      headers.each { |k, v| req[k] = v }
      request(req)
    end

    def close
      @http&.finish if @http&.started?
    rescue StandardError
      nil
    ensure
      @http = nil
    end

    private

    def request(req)
      req['authorization'] = "Bearer #{@token}"
      req['user-agent'] = "risk-hub-ruby/#{VERSION}"
      res = connection.request(req)
      Response.new(res.code.to_i, res.to_hash, res.body)
    rescue StandardError
      close # a broken keep-alive connection is reopened next time
      raise
    end

    def connection
      return @http if @http&.started?

      http = Net::HTTP.new(@uri.host, @uri.port)
      http.use_ssl = @uri.scheme == 'https'
      http.open_timeout = @timeout
      http.read_timeout = @timeout
      http.write_timeout = @timeout if http.respond_to?(:write_timeout=)
      http.keep_alive_timeout = 30
      http.start
      @http = http
    end
  end
end
