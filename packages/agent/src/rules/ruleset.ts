// The Risk Hub agent ruleset, in libddwaf's ruleset format (version 2.2). Each rule carries the tags the
// agent reads: `attack_type` (reported to Risk Hub) and `severity` (INFO LOW MEDIUM HIGH CRITICAL). One
// request yields at most one event per attack type, at the highest severity among the rules that matched.
// libddwaf's own `type` tag is the rule id on purpose: libddwaf groups rules by `type` and stops at the
// first match within a group, in an order of its own, which would let a MEDIUM rule hide a HIGH one.
//
// Input addresses the agent fills (checked against DDWAF.knownAddresses in test/agent/waf.test.ts):
//   server.request.query              parsed query string, object of strings / arrays
//   server.request.body               parsed body (JSON, form) or a string
//   server.request.path_params        route parameters (Express req.params, Fastify request.params)
//   server.request.uri.raw            the raw request target, still URL-encoded
//   server.request.headers.no_cookies lower-cased headers, only those named below (cookie never)
//   server.request.cookies            parsed cookies: scanned, never reported
//
// libddwaf's libinjection operators (is_sqli, is_xss) do the SQL injection and XSS work; the regexes below
// cover what libinjection does not (traversal, command injection, SSRF targets, scanners). Regexes are RE2
// (no backtracking) and case-insensitive unless `case_sensitive` is set.

const userInputs = [
  { address: 'server.request.query' },
  { address: 'server.request.body' },
  { address: 'server.request.path_params' },
];
const header = (name: string) => ({ address: 'server.request.headers.no_cookies', key_path: [name] });
const rawUri = { address: 'server.request.uri.raw', transformers: ['urlDecodeUni'] };

const COMMANDS = [
  'cat', 'ls', 'id', 'whoami', 'uname', 'wget', 'curl', 'nc', 'ncat', 'netcat', 'bash', 'sh', 'zsh', 'ksh',
  'python[23]?', 'perl', 'ruby', 'php', 'ping', 'nslookup', 'dig', 'rm', 'chmod', 'chown', 'echo', 'sleep',
  'powershell', 'cmd(?:\\.exe)?', 'net\\s+user', 'ifconfig', 'ipconfig', 'base64', 'touch', 'kill', 'env',
  'printenv', 'hostname', 'systeminfo', 'tasklist', 'telnet', 'ps',
].join('|');

export const SCANNER_USER_AGENTS = [
  'sqlmap', 'nikto', 'nmap', 'acunetix', 'nuclei', 'wpscan', 'dirbuster', 'masscan', 'zgrab', 'gobuster',
  'ffuf', 'wfuzz', 'w3af', 'arachni', 'openvas', 'nessus', 'netsparker', 'jaeles', 'dirb/', 'havij',
  'appscan', 'skipfish', 'whatweb', 'zmeu', 'commix', 'xsstrike', 'feroxbuster', 'nmap scripting engine',
  'burp collaborator', 'qualys', 'fimap', 'paros', 'webinspect', 'brutus', 'hydra', 'medusa', 'zap/',
];

export const ruleset = {
  version: '2.2',
  metadata: { rules_version: '1.0.0' },
  rules: [
    {
      id: 'rh-sqli-001',
      name: 'SQL injection (libinjection) in request parameters, headers or cookies',
      tags: { type: 'rh-sqli-001', attack_type: 'sql_injection', category: 'attack_attempt', severity: 'HIGH' },
      conditions: [
        {
          operator: 'is_sqli',
          parameters: {
            inputs: [...userInputs, { address: 'server.request.cookies' }, header('user-agent'), header('referer'), header('x-forwarded-for')],
          },
        },
      ],
      transformers: ['removeNulls'],
    },
    {
      id: 'rh-xss-001',
      name: 'Cross-site scripting (libinjection) in request parameters, headers or cookies',
      tags: { type: 'rh-xss-001', attack_type: 'xss', category: 'attack_attempt', severity: 'MEDIUM' },
      conditions: [
        {
          operator: 'is_xss',
          parameters: { inputs: [...userInputs, { address: 'server.request.cookies' }, header('user-agent'), header('referer')] },
        },
      ],
      transformers: ['removeNulls'],
    },
    {
      id: 'rh-xss-002',
      name: 'Cross-site scripting in the request path',
      tags: { type: 'rh-xss-002', attack_type: 'xss', category: 'attack_attempt', severity: 'MEDIUM' },
      conditions: [
        {
          operator: 'match_regex',
          parameters: {
            inputs: [rawUri],
            regex: '<\\s*(?:script|img|svg|iframe|body|object|embed)\\b|javascript:|\\bon(?:error|load|mouseover|focus)\\s*=',
          },
        },
      ],
      transformers: [],
    },
    {
      id: 'rh-lfi-001',
      name: 'Access to a well-known sensitive file',
      tags: { type: 'rh-lfi-001', attack_type: 'path_traversal', category: 'attack_attempt', severity: 'HIGH' },
      conditions: [
        {
          operator: 'match_regex',
          parameters: {
            inputs: [...userInputs, rawUri],
            regex:
              '\\betc[\\\\/]+(?:passwd|shadow|group|hosts|issue|sudoers)\\b|/proc/self/|\\bboot\\.ini\\b|\\bwin\\.ini\\b|windows[\\\\/]system32|\\.ssh[\\\\/](?:id_|authorized_keys)|\\.aws[\\\\/]credentials|(?:^|[\\\\/])\\.(?:env|git[\\\\/]config|htpasswd)(?:$|[\\\\/?])|web\\.config\\b',
          },
        },
      ],
      transformers: [],
    },
    {
      id: 'rh-lfi-002',
      name: 'Path traversal sequence',
      tags: { type: 'rh-lfi-002', attack_type: 'path_traversal', category: 'attack_attempt', severity: 'MEDIUM' },
      conditions: [
        {
          operator: 'match_regex',
          parameters: {
            inputs: [...userInputs, rawUri],
            // ../ and ..\ (decoded), still-encoded or double-encoded dots and slashes, overlong UTF-8 dot.
            regex: '(?:^|[\\\\/])\\.\\.(?:[\\\\/]|$)|%2e%2e|\\.\\.%2f|\\.\\.%5c|%252e|%c0%ae|%u002e',
          },
        },
      ],
      transformers: [],
    },
    {
      id: 'rh-cmdi-001',
      name: 'Shell command injection',
      tags: { type: 'rh-cmdi-001', attack_type: 'command_injection', category: 'attack_attempt', severity: 'CRITICAL' },
      conditions: [
        {
          operator: 'match_regex',
          parameters: {
            inputs: userInputs,
            // A shell separator or substitution, a common command, then what a command line looks like:
            // the end, another separator, or an argument starting with - / $ quote digit . ~ or a URL.
            // ("dogs; cat lovers" does not match; "x; cat /etc/passwd", "$(whoami)", "| nc 10.0.0.1 4444" do.)
            regex: `(?:;|\\|\\|?|&&?|\\$\\(|\`|\\n)\\s*(?:[\\w./-]*/)?(?:${COMMANDS})(?:\\s*$|\\s*[;|&)\`<>]|\\s+[-/$'"\\d.~]|\\s+\\w+://)`,
          },
        },
      ],
      transformers: [],
    },
    {
      id: 'rh-cmdi-002',
      name: 'Shellshock function definition in a header',
      tags: { type: 'rh-cmdi-002', attack_type: 'command_injection', category: 'attack_attempt', severity: 'CRITICAL' },
      conditions: [
        {
          operator: 'match_regex',
          parameters: {
            inputs: [header('user-agent'), header('referer')],
            regex: '\\(\\s*\\)\\s*\\{\\s*:?\\s*;?\\s*\\}\\s*;',
          },
        },
      ],
      transformers: [],
    },
    {
      id: 'rh-ssrf-001',
      name: 'SSRF: cloud metadata endpoint or dangerous URL scheme in a parameter',
      tags: { type: 'rh-ssrf-001', attack_type: 'ssrf', category: 'attack_attempt', severity: 'HIGH' },
      conditions: [
        {
          operator: 'match_regex',
          parameters: {
            inputs: userInputs,
            regex:
              '169\\.254\\.169\\.254|metadata\\.google\\.internal|100\\.100\\.100\\.200|fd00:ec2::254|169\\.254\\.170\\.2\\b|^\\s*(?:gopher|dict|file|ldap|tftp|jar|netdoc|expect|php|phar)://',
            options: { min_length: 7 },
          },
        },
      ],
      transformers: [],
    },
    {
      id: 'rh-ssrf-002',
      name: 'SSRF: URL to a loopback or private address in a parameter',
      tags: { type: 'rh-ssrf-002', attack_type: 'ssrf', category: 'attack_attempt', severity: 'MEDIUM' },
      conditions: [
        {
          operator: 'match_regex',
          parameters: {
            inputs: userInputs,
            regex:
              '^\\s*(?:https?|ftp)://(?:[^/@]*@)?(?:localhost|127\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}|0\\.0\\.0\\.0|0x7f|2130706433|0177\\.|\\[(?:::1?|0:0:0:0:0:0:0:1|::ffff:127\\.[\\d.]+)\\]|10\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}|192\\.168\\.\\d{1,3}\\.\\d{1,3}|172\\.(?:1[6-9]|2\\d|3[01])\\.\\d{1,3}\\.\\d{1,3})(?:[:/?#]|$)',
          },
        },
      ],
      transformers: [],
    },
    {
      id: 'rh-scanner-001',
      name: 'Known security scanner user agent',
      tags: { type: 'rh-scanner-001', attack_type: 'scanner', category: 'attack_attempt', severity: 'LOW' },
      conditions: [{ operator: 'phrase_match', parameters: { inputs: [header('user-agent')], list: SCANNER_USER_AGENTS } }],
      transformers: ['lowercase'],
    },
    {
      id: 'rh-scanner-002',
      name: 'Security scanner header',
      tags: { type: 'rh-scanner-002', attack_type: 'scanner', category: 'attack_attempt', severity: 'LOW' },
      conditions: [{ operator: 'exists', parameters: { inputs: [header('acunetix-product'), header('x-scanner'), header('x-wipp')] } }],
      transformers: [],
    },
  ],
};

/** Headers the ruleset looks at: the agent passes only these to the WAF (converting others costs time for nothing). */
export function headersUsedBy(rules: { rules?: Array<{ conditions?: Array<{ parameters?: { inputs?: Array<{ address: string; key_path?: string[] }> } }> }> }): Set<string> | 'all' {
  const names = new Set<string>();
  for (const rule of rules.rules ?? []) {
    for (const condition of rule.conditions ?? []) {
      for (const input of condition.parameters?.inputs ?? []) {
        if (input.address !== 'server.request.headers.no_cookies') continue;
        const first = input.key_path?.[0];
        if (first === undefined) return 'all';
        names.add(first.toLowerCase());
      }
    }
  }
  return names;
}
