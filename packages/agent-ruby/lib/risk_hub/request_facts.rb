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
    HEADER_NAMES = {} # HTTP_USER_AGENT → user-agent, memoised for the first 512 names seen

    module_function

    # Where a request event's pieces sit in the queued Array (one object per event while it waits).
    SNAP_ENV = 0        # a copy of the Rack env taken before the app (the Hash only: its strings are shared)
    SNAP_BODY = 1       # the JSON/form body read (at most MAX_BODY_BYTES), :too_large, or nil
    SNAP_ROUTE = 2      # where the route parameters are (see path_params_source), after the app routed
    SNAP_ROUTE_PATH = 3 # PATH_INFO after the app, for a Sinatra route
    SNAP_AT = 4         # epoch milliseconds
    SNAP_USER = 5       # the identified user, or nil

    # The snapshot of a Rack env (request thread): a copy of the env Hash (no string is copied: header
    # names, the client IP and the URI are worked out from it on the sender's thread) and the body when
    # it is JSON or a form of at most MAX_BODY_BYTES, read and rewound so that the application reads it
    # whole. Copying the Hash costs a seventh of selecting its HTTP_* entries with a block.
    def snapshot(env, read_body: true)
      copy = env.dup
      copy.delete('rack.input') # read below if needed; the sender has no use for the stream
      [copy, read_body ? read_body(env) : nil, nil, nil, nil, nil]
    end

    # Where the route parameters are, once the app has routed (request thread: references only; the
    # sender resolves them with path_params_from).
    def path_params_source(env)
      env['risk_hub.path_params'] || env['action_dispatch.request.path_parameters'] || env['router.params'] ||
        env['rack.routing_args'] || (env['sinatra.route'] && [env['sinatra.route'], env['PATH_INFO']])
    end

    # The same as path_params_source into a queued snapshot, without the Array for Sinatra's pair.
    def record_path_params(snap, env)
      source = env['risk_hub.path_params'] || env['action_dispatch.request.path_parameters'] || env['router.params'] ||
               env['rack.routing_args']
      if source.nil? && (route = env['sinatra.route'])
        source = route
        snap[SNAP_ROUTE_PATH] = env['PATH_INFO']
      end
      snap[SNAP_ROUTE] = source
    end

    RAILS_ROUTING_KEYS = %w[controller action format].freeze

    # Route parameters (Rails, Sinatra, Hanami, or env['risk_hub.path_params'] set by the application).
    def path_params_from(source, path_info = nil)
      case source
      when Hash then source.reject { |k, _| RAILS_ROUTING_KEYS.include?(k.to_s) }
      when Array then sinatra_params(*source)
      when String then sinatra_params(source, path_info)
      end
    end

    def path_params(env)
      path_params_from(path_params_source(env))
    end

    # Sinatra records the matched route as "VERB pattern" in env['sinatra.route']; the same Mustermann
    # pattern gives its parameters back.
    def sinatra_params(route, path_info)
      return nil unless route.is_a?(String) && defined?(::Mustermann)

      pattern = ROUTE_PATTERNS[route]
      if pattern.nil?
        pattern = route_pattern(route)
        ROUTE_PATTERNS[route] = pattern if ROUTE_PATTERNS.size < MAX_ROUTE_PATTERNS
      end
      return nil unless pattern

      params = pattern.params(path_info.to_s)
      params&.reject { |k, v| v.nil? || (k == 'splat' && v.empty?) }
    rescue StandardError
      nil
    end

    ROUTE_PATTERNS = {} # "GET /users/:id" → its Mustermann pattern, or false (no parameters); memoised
    MAX_ROUTE_PATTERNS = 512

    def route_pattern(route)
      pattern = route.split(' ', 2)[1]
      return false if pattern.nil? || !pattern.match?(/[:*{]/)

      ::Mustermann.new(pattern)
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

    # HTTP_USER_AGENT → user-agent (as valid UTF-8), memoised for the first 512 names seen.
    def header_name(cgi_name)
      HEADER_NAMES[cgi_name] || begin
        name = cgi_name[5..].downcase.tr('_', '-') # ours; marked UTF-8 (servers' names are binary)
        name = name.ascii_only? ? name.force_encoding(Encoding::UTF_8) : Identity.utf8(name)
        name.freeze
        HEADER_NAMES[cgi_name] = name if HEADER_NAMES.size < 512
        name
      end
    end

    # The relay's `request` object from a queued snapshot (sender thread). Second value: whether
    # something was cut.
    def to_relay(snap)
      env = snap[SNAP_ENV]
      headers = {}
      cookie = nil
      header_type = nil
      env.each do |k, v|
        next unless k.is_a?(String) && k.start_with?('HTTP_') && v.is_a?(String)

        name = HEADER_NAMES[k] || header_name(k)
        case name
        when 'cookie' then cookie = v
        when 'content-type' then header_type = v
        end
        add_header(headers, name, v)
      end
      type = env['CONTENT_TYPE']
      if type.is_a?(String) && !type.empty?
        header_type = type
        add_header(headers, 'content-type', type)
      end
      length = env['CONTENT_LENGTH']
      add_header(headers, 'content-length', length) if length.is_a?(String) && !length.empty?
      truncated = false
      body = nil
      raw = snap[SNAP_BODY]
      if raw == :too_large
        truncated = true
      elsif raw
        body, cut = parse_body(raw, header_type.to_s.downcase)
        truncated ||= cut
      end
      req = {
        'method' => METHODS[env['REQUEST_METHOD']] || Identity.truncate_utf8(env['REQUEST_METHOD'].to_s, 16),
        'uri' => Identity.truncate_utf8(request_uri(env), MAX_STRING_BYTES),
        'ip' => Identity.truncate_utf8(client_ip(env), 64),
        'headers' => headers,
        'query' => parse_query(env['QUERY_STRING'].to_s),
        'body' => body,
        'path_params' => bound_params(path_params_from(snap[SNAP_ROUTE], snap[SNAP_ROUTE_PATH])),
        'cookies' => parse_cookies(cookie)
      }
      [req, truncated]
    end

    # The usual methods as UTF-8 strings of ours (a server's are binary: the JSON generator copies those).
    METHODS = %w[GET HEAD POST PUT PATCH DELETE OPTIONS].to_h { |m| [m, m] }.freeze

    # Route parameters within the bounds (none: an empty object).
    def bound_params(params)
      params.nil? || params.empty? ? {} : bound(params, 0)
    end

    # Lower-cased headers without the dropped ones, at most MAX_ENTRIES, a repeated name keeping its first
    # place and its last value.
    def add_header(headers, name, value)
      return if DROPPED_HEADERS.include?(name)

      headers[name] = Identity.truncate_utf8(value, MAX_STRING_BYTES) if headers.size < MAX_ENTRIES || headers.key?(name)
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

      if qs.ascii_only? && !qs.include?(';')
        each_piece(qs, '&') { |name, value| add_query(out, name, value) }
      else
        # A string split where there is no ';' (a regexp split makes ~7 objects a piece; same pieces)
        (qs.include?(';') ? qs.split(/[&;]/) : qs.split('&')).each do |pair|
          next if pair.empty?

          name, value = pair.split('=', 2)
          add_query(out, name, value)
        end
      end
      out
    end

    def add_query(out, name, value)
      name = decode(name)
      return if name.empty?
      return if !out.key?(name) && out.size >= MAX_ENTRIES

      # A frozen key is kept as it is (Hash#[]= copies an unfrozen String key); the name is ours
      (out[name.frozen? ? name : name.freeze] ||= []) << Identity.truncate_utf8(decode(value.to_s), MAX_STRING_BYTES)
    end

    # The non-empty pieces of an ASCII string between `sep` characters, each cut at its first '=' into
    # name and value (nil without '='): what str.split(sep) and then piece.split('=', 2) give, without
    # their Arrays. Linear: the next '=' is looked for again only once the scan has passed it.
    def each_piece(str, sep)
      len = str.length
      pos = 0
      eq = -1
      while pos < len
        stop = str.index(sep, pos) || len
        if stop > pos
          eq = str.index('=', pos) || len if eq < pos
          if eq < stop
            yield utf8_piece(str, pos, eq - pos), utf8_piece(str, eq + 1, stop - eq - 1)
          else
            yield utf8_piece(str, pos, stop - pos), nil
          end
        end
        pos = stop + 1
      end
    end

    # A piece of an ASCII string, marked UTF-8 (ours: the server's strings are binary, and the JSON
    # generator would copy every binary string it writes).
    def utf8_piece(str, pos, len)
      piece = str[pos, len]
      piece.force_encoding(Encoding::UTF_8) unless piece.encoding == Encoding::UTF_8
      piece
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
      if header.ascii_only?
        each_piece(header, ';') { |name, value| break unless add_cookie(out, name, value) }
      else
        # split(';'), not /;\s*/: the whitespace left in front of a piece is in its name, which is stripped
        header.split(';').each do |pair|
          name, value = pair.split('=', 2)
          next if name.nil?
          break unless add_cookie(out, name, value)
        end
      end
      out
    end

    # False when the cookies are full (the rest are not read).
    def add_cookie(out, name, value)
      name.strip! # a piece of our own
      return true if name.empty?
      return false if out.size >= MAX_ENTRIES

      key = Identity.truncate_utf8(decode(name), 256)
      out[key.frozen? ? key : key.freeze] = Identity.truncate_utf8(decode(value.to_s), MAX_STRING_BYTES) # ours
      true
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
