// Attack detection with libddwaf (Datadog's in-app WAF engine, through @datadog/native-appsec, which ships
// prebuilt binaries) and the ruleset in rules/ruleset.ts. One WAF handle per agent; one short-lived
// context per request. The engine runs under a time budget: a run that exceeds it reports `timeout` and
// counts as no detection (never as an attack, never as an error reaching the application).

import type { IncomingHttpHeaders } from 'node:http';
import pkg from '@datadog/native-appsec';
import { SEVERITIES, type Severity } from '../contracts.ts';
import { headersUsedBy, ruleset as defaultRuleset } from './rules/ruleset.ts';

const { DDWAF } = pkg;
type Waf = InstanceType<typeof DDWAF>;

/** What the agent knows about a request, already parsed by the web framework. */
export interface RequestFacts {
  /** The raw request target (`req.url` / `req.originalUrl`), still URL-encoded. */
  uri?: string | undefined;
  query?: unknown;
  body?: unknown;
  pathParams?: unknown;
  headers?: IncomingHttpHeaders | undefined;
}

export interface Detection {
  attackType: string;
  severity: Severity;
  /** Ids of the rules that matched (for logs and tests; not sent to Kafka). */
  rules: string[];
}

export interface DetectionResult {
  detections: Detection[];
  /** The WAF ran out of its budget: whatever it found is discarded. */
  timeout: boolean;
}

export interface DetectorOptions {
  /** libddwaf ruleset (format 2.x). Default: the Risk Hub ruleset. */
  rules?: object;
  /** Per-request WAF budget in microseconds (default 5000). */
  budgetMicros?: number;
}

/** Bodies (strings) longer than this are cut before they cross into the engine. libddwaf itself keeps 4096 chars per string. */
const MAX_BODY_STRING = 16 * 1024;
const MAX_COOKIES = 50;

interface WafEvent {
  rule?: { id?: string; tags?: { type?: unknown; severity?: unknown } };
}

export class Detector {
  readonly budgetMicros: number;
  readonly ruleCount: number;
  private readonly waf: Waf;
  private readonly headerNames: Set<string> | 'all';

  constructor(opts: DetectorOptions = {}) {
    const rules = (opts.rules ?? defaultRuleset) as Parameters<typeof headersUsedBy>[0];
    this.budgetMicros = opts.budgetMicros ?? 5000;
    this.waf = new DDWAF(rules, 'risk-hub/agent/rules');
    const diag = this.waf.diagnostics.rules;
    if (diag && 'error' in diag) throw new Error(`risk-hub agent: ruleset rejected by libddwaf: ${diag.error}`);
    if (diag && diag.failed.length > 0) {
      throw new Error(`risk-hub agent: rules failed to load: ${diag.failed.join(', ')} (${JSON.stringify(diag.errors)})`);
    }
    this.ruleCount = diag?.loaded.length ?? 0;
    this.headerNames = headersUsedBy(rules);
  }

  /** Addresses the loaded ruleset reads (libddwaf's own view). */
  get knownAddresses(): Set<string> {
    return this.waf.knownAddresses;
  }

  detect(facts: RequestFacts): DetectionResult {
    const data = this.inputs(facts);
    const ctx = this.waf.createContext();
    let result;
    try {
      result = ctx.run({ persistent: data }, this.budgetMicros);
    } finally {
      ctx.dispose();
    }
    if (result.timeout) return { detections: [], timeout: true };
    if (!result.events || result.events.length === 0) return { detections: [], timeout: false };
    return { detections: summarize(result.events as WafEvent[]), timeout: false };
  }

  close(): void {
    if (!this.waf.disposed) this.waf.dispose();
  }

  /** Builds the WAF input: only non-empty addresses, only the headers the ruleset reads, cookies parsed. */
  private inputs(facts: RequestFacts): Record<string, unknown> {
    const data: Record<string, unknown> = {};
    if (facts.uri) data['server.request.uri.raw'] = facts.uri;
    if (nonEmpty(facts.query)) data['server.request.query'] = facts.query;
    if (nonEmpty(facts.pathParams)) data['server.request.path_params'] = facts.pathParams;
    const body = facts.body;
    if (typeof body === 'string') {
      if (body.length > 0) data['server.request.body'] = body.length > MAX_BODY_STRING ? body.slice(0, MAX_BODY_STRING) : body;
    } else if (nonEmpty(body) && !Buffer.isBuffer(body) && !ArrayBuffer.isView(body)) {
      data['server.request.body'] = body;
    }
    const headers = facts.headers;
    if (headers) {
      const picked: Record<string, string | string[]> = {};
      let any = false;
      if (this.headerNames === 'all') {
        for (const [name, value] of Object.entries(headers)) {
          if (value === undefined || name === 'cookie' || name === 'set-cookie') continue;
          picked[name] = value;
          any = true;
        }
      } else {
        for (const name of this.headerNames) {
          const value = headers[name];
          if (value === undefined) continue;
          picked[name] = value;
          any = true;
        }
      }
      if (any) data['server.request.headers.no_cookies'] = picked;
      const cookie = headers.cookie;
      if (cookie) data['server.request.cookies'] = parseCookies(cookie);
    }
    return data;
  }
}

function nonEmpty(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'object') {
    for (const _ in value) return true;
    return Array.isArray(value) ? value.length > 0 : false;
  }
  return true;
}

/** Cookie header → { name: value } (values are scanned by the WAF, never reported). */
export function parseCookies(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  let n = 0;
  for (const part of header.split(';')) {
    if (n++ >= MAX_COOKIES) break;
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // keep the raw value
    }
    if (name) out[name] = value;
  }
  return out;
}

const RANK: Record<Severity, number> = { INFO: 0, LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4 };

/** One detection per attack type, at the highest severity among the rules that matched. */
export function summarize(events: WafEvent[]): Detection[] {
  const byType = new Map<string, Detection>();
  for (const event of events) {
    const tags = event.rule?.tags;
    const type = typeof tags?.type === 'string' && tags.type ? tags.type : undefined;
    if (!type) continue;
    const severity: Severity = SEVERITIES.includes(tags?.severity as Severity) ? (tags?.severity as Severity) : 'MEDIUM';
    const id = event.rule?.id ?? '?';
    const seen = byType.get(type);
    if (!seen) {
      byType.set(type, { attackType: type, severity, rules: [id] });
    } else {
      seen.rules.push(id);
      if (RANK[severity] > RANK[seen.severity]) seen.severity = severity;
    }
  }
  return [...byType.values()];
}
