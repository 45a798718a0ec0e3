# frozen_string_literal: true

require 'securerandom'

module RiskHub
  # Identity rules shared with every Risk Hub agent (packages/agent/src/identity.ts).
  module Identity
    # application_id and environment: 1-64 ASCII letters, digits, '.', '_', '-', not starting with a symbol.
    IDENTIFIER_PATTERN = /\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z/.freeze
    # The same rule as the other agents write it (messages).
    IDENTIFIER_RULE = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'
    # Most UTF-8 bytes of a user key.
    MAX_USER_KEY_BYTES = 256
    MAX_IDENTIFIERS = 16
    MAX_IDENTIFIER_NAME_BYTES = 64
    MAX_IDENTIFIER_VALUE_BYTES = 256

    module_function

    def identifier?(value)
      value.is_a?(String) && value.match?(IDENTIFIER_PATTERN)
    end

    # Why (application_id, environment, user key) is not a valid identity; nil when it is.
    def problem(application_id, environment, user_key)
      unless identifier?(application_id)
        return "application_id #{application_id.inspect} must match #{IDENTIFIER_RULE} (1-64 letters, digits, '.', '_', '-'; no '/')"
      end
      unless identifier?(environment)
        return "environment #{environment.inspect} must match #{IDENTIFIER_RULE} (1-64 letters, digits, '.', '_', '-'; no '/')"
      end

      user_key_problem(user_key)
    end

    def user_key_problem(key)
      return 'user.key must be a non-blank string' unless key.is_a?(String) && !key.strip.empty?

      bytes = key.bytesize
      return "user.key is #{bytes} bytes of UTF-8, above the limit of #{MAX_USER_KEY_BYTES}" if bytes > MAX_USER_KEY_BYTES
      return 'user.key is not valid UTF-8' unless key.dup.force_encoding(Encoding::UTF_8).valid_encoding?

      nil
    end

    # A string cut to at most max_bytes of UTF-8, never inside a character (invalid bytes replaced first).
    def truncate_utf8(str, max_bytes)
      return str if str.is_a?(String) && str.bytesize <= max_bytes && str.ascii_only?

      s = utf8(str)
      return s if s.bytesize <= max_bytes

      s.byteslice(0, max_bytes).scrub('')
    end

    # The string as valid UTF-8: invalid sequences become U+FFFD (JSON cannot carry them).
    def utf8(str)
      s = str.to_s
      return s if s.ascii_only?

      s = s.dup.force_encoding(Encoding::UTF_8) unless s.encoding == Encoding::UTF_8
      s.valid_encoding? ? s : s.scrub
    end

    # Identifiers within bounds: the first 16 entries, names cut to 64 bytes and values to 256.
    def bound_identifiers(identifiers)
      out = {}
      return out unless identifiers.is_a?(Hash)

      identifiers.each do |k, v|
        break if out.size >= MAX_IDENTIFIERS

        name = truncate_utf8(k.to_s, MAX_IDENTIFIER_NAME_BYTES)
        next if out.key?(name)

        out[name] = truncate_utf8(v.to_s, MAX_IDENTIFIER_VALUE_BYTES)
      end
      out
    end

    UUID_BATCH = 256
    @uuid_pool = []
    @uuid_lock = Mutex.new

    # A UUID v4, the id of one event (random bytes drawn from SecureRandom 256 ids at a time: the same
    # randomness, a tenth of the cost of SecureRandom.uuid per id).
    def event_id
      bytes = @uuid_lock.synchronize do
        @uuid_pool = SecureRandom.random_bytes(16 * UUID_BATCH).unpack('a16' * UUID_BATCH) if @uuid_pool.empty?
        @uuid_pool.pop
      end
      # In place (the pool's strings are ours): two objects per id instead of ten, on the sender's thread.
      bytes.setbyte(6, (bytes.getbyte(6) & 0x0f) | 0x40)
      bytes.setbyte(8, (bytes.getbyte(8) & 0x3f) | 0x80)
      bytes.unpack1('H*').insert(20, '-').insert(16, '-').insert(12, '-').insert(8, '-')
    end
  end
end
