// Secrets never leave the process in clear: not in logs, not in `config print`, not in the ledger.

const SECRET_KEY = /pass(word)?|secret|token|api[_-]?key|authorization|signing|credential/i;
// Request headers that carry credentials whatever their exact name (x-api-key, X-Auth-Token, Cookie…).
const SECRET_HEADER = /auth|key|token|secret|pass|cookie|session|signature|credential|bearer/i;

/** A copy of `value` with secret-looking values replaced: by key name, Slack webhook URLs, URL credentials. */
export function redactConfig(value: unknown, key = '', path: string[] = []): unknown {
  if (Array.isArray(value)) return value.map((v) => redactConfig(v, key, path));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactConfig(v, k, [...path, k])]));
  }
  if (typeof value !== 'string') return value;
  if (SECRET_KEY.test(key)) return '[redacted]';
  if (path.at(-2) === 'headers' && isSecretHeader(key)) return '[redacted]';
  if (/hooks\.slack\.com\/services\//.test(value)) return '[redacted]';
  // Notification target URLs (Slack incoming webhooks, webhook endpoints) carry their secret in the
  // path or query wherever they are hosted: keep scheme and host only.
  if (path[0] === 'notify' && /url$/i.test(key)) return value.replace(/^(\w+:\/\/[^/?#]+).*$/, '$1/[redacted]');
  return value.replace(/(\w+:\/\/)[^/@\s]+:[^/@\s]+@/, '$1[redacted]@');
}

/** A request header whose value is a credential (redacted from `config print`, scrubbed from logs). */
export function isSecretHeader(name: string): boolean {
  return SECRET_HEADER.test(name);
}

/** Replaces every occurrence of each secret in a string (error messages, ledger entries). */
export function scrubSecrets(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}
