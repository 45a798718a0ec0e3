# frozen_string_literal: true

require 'cgi/util'
require 'json'
require 'rack'

module RiskHub
  # What the relay needs of a request: a cheap snapshot taken on the request's thread (copies of a few
  # env strings and at most 64 KiB of body), and the relay JSON built from it on the sender's thread.
  module RequestFacts
    MAX_BODY_BYTES = 64 * 1024      # bodies above are not parsed (the relay gets no body)
    MAX_DEPTH = 20                  # deeper containers become nil
    MAX_STRING_BYTES = 16 * 1024    # longer strings are cut
    MAX_PARSE_NESTING = 64          # JSON deeper than this is refused by the parser (hostile bodies)
    MAX_ENTRIES = 256               # query names, cookies, headers, path params kept at most
    DROPPED_HEADERS = %w[cookie authorization proxy-authorization].freeze
    # What Rack::Request#ip reads besides the HTTP_* headers, and the two bare content headers.
    IP_KEYS = %w[REMOTE_ADDR CONTENT_TYPE CONTENT_LENGTH].freeze
    HEADER_NAMES = {} # HTTP_USER_AGENT → user-agent, memoised for the first 512 names seen

    module_function

    # The snapshot of a Rack env (request thread). Reads the body only when it is JSON or a form and
    # at most MAX_BODY_BYTES, then rewinds it so that the application reads it whole.
    def snapshot(env, read_body: true)
      # The Rack env's own names (HTTP_USER_AGENT…): renamed, and the client IP worked out, on the sender.
      cgi = env.select { |k, v| v.is_a?(String) && (k.start_with?('HTTP_') || IP_KEYS.include?(k)) }
      {
        method: env['REQUEST_METHOD'].to_s,
        uri: request_uri(env),
        cgi: cgi,
        query_string: env['QUERY_STRING'].to_s,
        raw_body: read_body ? read_body(env) : nil,
        path_params: nil
      }
    end

    # Where the route parameters are, once the app has routed (request thread: references only; the
    # sender resolves them with path_params_from).
    def path_params_source(env)
      env['risk_hub.path_params'] || env['action_dispatch.request.path_parameters'] || env['router.params'] ||
        env['rack.routing_args'] || (env['sinatra.route'] && [env['sinatra.route'], env['PATH_INFO']])
    end

    RAILS_ROUTING_KEYS = %w[controller action format].freeze

    # Route parameters (Rails, Sinatra, Hanami, or env['risk_hub.path_params'] set by the application).
    def path_params_from(source)
      case source
      when Hash then source.reject { |k, _| RAILS_ROUTING_KEYS.include?(k.to_s) }
      when Array then sinatra_params(*source)
      end
    end

    def path_params(env)
      path_params_from(path_params_source(env))
    end

    # Sinatra records the matched route as "VERB pattern" in env['sinatra.route']; the same Mustermann
    # pattern gives its parameters back.
    def sinatra_params(route, path_info)
      return nil unless route.is_a?(String) && defined?(::Mustermann)

      pattern = route.split(' ', 2)[1]
      return nil if pattern.nil? || !pattern.match?(/[:*{]/)

      params = ::Mustermann.new(pattern).params(path_info.to_s)
      params&.reject { |k, v| v.nil? || (k == 'splat' && v.empty?) }
    rescue StandardError
      nil
    end

    def request_uri(env)
      uri = env['REQUEST_URI']
      return uri if uri.is_a?(String) && !uri.empty?

      path = "#{env['SCRIPT_NAME']}#{env['PATH_INFO']}"
      qs = env['QUERY_STRING'].to_s
      qs.empty? ? path : "#{path}?#{qs}"
    end

    # The client address as Rack reports it (Rack::Request#ip: X-Forwarded-For from trusted proxies).
    def client_ip(env)
      Rack::Request.new(env).ip.to_s
    rescue StandardError
      env['REMOTE_ADDR'].to_s
    end

    def read_body(env)
      type = env['CONTENT_TYPE']
      return nil if type.nil? || type.empty? # a GET: no string made

      type = type.to_s.downcase
      return nil unless json_type?(type) || type.start_with?('application/x-www-form-urlencoded')

      length = env['CONTENT_LENGTH'].to_s
      return :too_large if !length.empty? && length.to_i > MAX_BODY_BYTES

      input = env['rack.input']
      return nil if input.nil?

      data = input.read(MAX_BODY_BYTES + 1)
      input.rewind if input.respond_to?(:rewind)
      return :too_large if data && data.bytesize > MAX_BODY_BYTES

      data
    rescue StandardError
      nil
    end

    def json_type?(type)
      type.start_with?('application/json') || type.match?(%r{\Aapplication/[^;]*\+json})
    end

    def header_name(cgi_name)
      HEADER_NAMES[cgi_name] || begin
        name = cgi_name[5..].downcase.tr('_', '-').freeze
        HEADER_NAMES[cgi_name] = name if HEADER_NAMES.size < 512
        name
      end
    end

    # The relay's `request` object (sender thread). Second value: whether something was cut.
    def to_relay(snap)
      unless snap[:headers]
        cgi = snap[:cgi]
        headers = {}
        cgi.each { |k, v| headers[header_name(k)] = v if k.start_with?('HTTP_') }
        headers['content-type'] = cgi['CONTENT_TYPE'] if cgi['CONTENT_TYPE'] && !cgi['CONTENT_TYPE'].empty?
        headers['content-length'] = cgi['CONTENT_LENGTH'] if cgi['CONTENT_LENGTH'] && !cgi['CONTENT_LENGTH'].empty?
        snap[:headers] = headers
        snap[:ip] = client_ip(cgi)
      end
      truncated = false
      body = nil
      raw = snap[:raw_body]
      if raw == :too_large
        truncated = true
      elsif raw
        body, cut = parse_body(raw, snap[:headers]['content-type'].to_s.downcase)
        truncated ||= cut
      end
      headers = {}
      snap[:headers].each do |k, v|
        next if DROPPED_HEADERS.include?(k)
        break if headers.size >= MAX_ENTRIES

        headers[Identity.utf8(k)] = Identity.truncate_utf8(v, MAX_STRING_BYTES)
      end
      req = {
        'method' => Identity.truncate_utf8(snap[:method], 16),
        'uri' => Identity.truncate_utf8(snap[:uri], MAX_STRING_BYTES),
        'ip' => Identity.truncate_utf8(snap[:ip], 64),
        'headers' => headers,
        'query' => parse_query(snap[:query_string]),
        'body' => body,
        'path_params' => bound(path_params_from(snap[:path_params]) || {}, 0),
        'cookies' => parse_cookies(snap[:headers]['cookie'])
      }
      [req, truncated]
    end

    def parse_body(raw, type)
      if json_type?(type)
        value = JSON.parse(Identity.utf8(raw), max_nesting: MAX_PARSE_NESTING, create_additions: false)
      else
        value = Rack::Utils.parse_nested_query(Identity.utf8(raw))
      end
      cut = [false]
      [bound(value, 0, cut), cut[0]]
    rescue StandardError, JSON::NestingError
      [nil, true] # not JSON, too deep, or a form Rack refuses: no body, counted as truncated
    end

    # Query string → { name => [values] } (names repeated keep every value, in order).
    def parse_query(qs)
      out = {}
      return out if qs.nil? || qs.empty?

      # A string split where there is no ';' (a regexp split makes ~7 objects a piece; same pieces)
      (qs.include?(';') ? qs.split(/[&;]/) : qs.split('&')).each do |pair|
        next if pair.empty?

        name, value = pair.split('=', 2)
        name = decode(name)
        next if name.empty?
        next if !out.key?(name) && out.size >= MAX_ENTRIES

        (out[name] ||= []) << Identity.truncate_utf8(decode(value.to_s), MAX_STRING_BYTES)
      end
      out
    end

    # URI.decode_www_form_component's result (its ArgumentError on an invalid %-escape included: the
    # raw text is then what an attacker sent), at a sixth of its cost: CGI.unescape is in C.
    def decode(s)
      return Identity.utf8(s) unless s.include?('%') || s.include?('+')
      return Identity.utf8(s) if s.match?(INVALID_ESCAPE)

      Identity.utf8(CGI.unescape(s, Encoding::UTF_8))
    end
    INVALID_ESCAPE = /%(?!\h\h)/.freeze

    def parse_cookies(header)
      return {} if header.nil? || header.empty?

      out = {}
      # split(';'), not /;\s*/: the whitespace left in front of a piece is in its name, which is stripped
      header.split(';').each do |pair|
        name, value = pair.split('=', 2)
        next if name.nil?

        name = name.strip
        next if name.empty?
        break if out.size >= MAX_ENTRIES

        out[Identity.truncate_utf8(decode(name), 256)] = Identity.truncate_utf8(decode(value.to_s), MAX_STRING_BYTES)
      end
      out
    end

    # A parsed value within the bounds: depth 20 (deeper becomes nil), strings of 16 KiB, and only JSON
    # types (symbols, uploads and other objects become their string form).
    def bound(value, depth, cut = [false])
      case value
      when Hash
        return (cut[0] = true) && nil if depth >= MAX_DEPTH

        value.each_with_object({}) { |(k, v), h| h[Identity.truncate_utf8(k.to_s, MAX_STRING_BYTES)] = bound(v, depth + 1, cut) }
      when Array
        return (cut[0] = true) && nil if depth >= MAX_DEPTH

        value.map { |v| bound(v, depth + 1, cut) }
      when String
        cut[0] = true if value.bytesize > MAX_STRING_BYTES
        Identity.truncate_utf8(value, MAX_STRING_BYTES)
      when Integer, Float, true, false, nil
        value.is_a?(Float) && !value.finite? ? nil : value
      else
        Identity.truncate_utf8(value.to_s, MAX_STRING_BYTES)
      end
    end
  end
end
