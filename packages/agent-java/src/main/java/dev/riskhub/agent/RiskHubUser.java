package dev.riskhub.agent;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A signed-in user of the application: {@code key} is the canonical id Risk Hub scores (never an e-mail
 * that can change), {@code identifiers} are labels shown in alerts (email, login, tenant).
 */
public record RiskHubUser(String key, Map<String, String> identifiers) {
  public RiskHubUser {
    identifiers = identifiers == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(identifiers));
  }

  public static RiskHubUser of(String key) {
    return new RiskHubUser(key, Map.of());
  }

  public static RiskHubUser of(String key, Map<String, String> identifiers) {
    return new RiskHubUser(key, identifiers);
  }

  /**
   * The user within the contract's bounds, or null when unusable (null or blank key): key trimmed and,
   * over 256 bytes, hashed; at most 16 identifiers, names cut to 64 bytes and values to 256.
   */
  static RiskHubUser normalize(RiskHubUser u) {
    if (u == null || u.key == null) return null;
    String key = u.key.trim();
    if (key.isEmpty()) return null;
    Map<String, String> ids = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : u.identifiers.entrySet()) {
      if (ids.size() >= Identity.MAX_IDENTIFIERS) break;
      if (e.getKey() == null || e.getValue() == null) continue;
      String name = Identity.truncateUtf8(e.getKey(), Identity.MAX_IDENTIFIER_NAME_BYTES);
      ids.putIfAbsent(name, Identity.truncateUtf8(e.getValue(), Identity.MAX_IDENTIFIER_VALUE_BYTES));
    }
    return new RiskHubUser(Identity.hashedUserKey(key), ids);
  }

  Map<String, Object> toJson() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("key", key);
    m.put("identifiers", new LinkedHashMap<>(identifiers)); // a plain class: see Utf8Json.value
    return m;
  }
}
