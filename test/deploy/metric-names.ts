// Which metric names a PromQL expression (or a Grafana dashboard) uses, and which of them the code
// does not export. Small on purpose: it knows PromQL's functions, keywords, label lists, strings,
// ranges and Grafana's variables well enough for the dashboard and the alert rules of this chart.

/** Series Prometheus makes itself for every target; not exported by the code but always there. */
export const PROMETHEUS_SERIES = new Set(['up']);

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan', 'atan2']);
/** Keywords followed by a parenthesised list of label names (not metrics). */
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

/** Metric names used by a PromQL expression, in order of appearance, without duplicates. */
export function promqlMetricNames(expr: string): string[] {
  const names: string[] = [];
  const s = expr;
  let i = 0;
  const push = (n: string) => {
    if (!names.includes(n)) names.push(n);
  };
  while (i < s.length) {
    const c = s[i]!;
    if (c === '"' || c === "'" || c === '`') {
      // string literal (label values, label_replace arguments)
      i++;
      while (i < s.length && s[i] !== c) i += s[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '#') {
      while (i < s.length && s[i] !== '\n') i++;
    } else if (c === '{') {
      // label matchers: `{a="x", b=~"y"}` (a `{__name__=...}` selector is not supported: fail loudly)
      const end = skipBalanced(s, i, '{', '}');
      if (/__name__/.test(s.slice(i, end))) throw new Error(`unsupported __name__ matcher in: ${expr}`);
      i = end;
    } else if (c === '[') {
      i = skipBalanced(s, i, '[', ']'); // range or subquery duration
    } else if (c === '$') {
      // Grafana variable: $var, ${var}, ${var:format}, $__rate_interval
      i++;
      if (s[i] === '{') i = skipBalanced(s, i, '{', '}');
      else while (i < s.length && /[A-Za-z0-9_]/.test(s[i]!)) i++;
    } else if (/[0-9.]/.test(c)) {
      const m = /^(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?([smhdwy]|ms)*)/.exec(s.slice(i));
      i += m ? Math.max(1, m[0].length) : 1;
    } else if (/[A-Za-z_:]/.test(c)) {
      const m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(s.slice(i))!;
      const word = m[0];
      i += word.length;
      let j = i;
      while (j < s.length && /\s/.test(s[j]!)) j++;
      const lower = word.toLowerCase();
      if (LABEL_LIST_KEYWORDS.has(lower)) {
        if (s[j] === '(') i = skipBalanced(s, j, '(', ')');
      } else if (lower === 'offset') {
        const d = /^\s*-?[0-9smhdwy]+/.exec(s.slice(i));
        if (d) i += d[0].length;
      } else if (KEYWORDS.has(lower)) {
        // operator keyword
      } else if (s[j] === '(' || /^(by|without)\b/i.test(s.slice(j))) {
        // function, or aggregation (`sum(...)`, `sum by (x) (...)`): its arguments are scanned as usual
      } else {
        push(word);
      }
    } else {
      i++;
    }
  }
  return names;
}

function skipBalanced(s: string, start: number, open: string, close: string): number {
  let depth = 0;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (c === '"' || c === "'" || c === '`') {
      const q = c;
      i++;
      while (i < s.length && s[i] !== q) i += s[i] === '\\' ? 2 : 1;
    } else if (c === open) depth++;
    else if (c === close && --depth === 0) return i + 1;
  }
  throw new Error(`unbalanced ${open}${close} in: ${s}`);
}

/** Grafana's `label_values(metric{...}, label)` and `label_values(label)`: only the metric is a name. */
function grafanaQueryMetricNames(query: string): string[] {
  const m = /^\s*label_values\(\s*(?:([^,]+),)?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/.exec(query);
  if (m) return m[1] ? promqlMetricNames(m[1]) : [];
  if (/^\s*(query_result|metrics)\(/.test(query)) return promqlMetricNames(query.replace(/^\s*\w+\(/, '').replace(/\)\s*$/, ''));
  return promqlMetricNames(query);
}

export interface DashboardExpr {
  where: string;
  expr: string;
  names: string[];
}

/** Every PromQL expression of a Grafana dashboard (panel targets, nested rows, query variables). */
export function dashboardExpressions(dashboard: unknown): DashboardExpr[] {
  const out: DashboardExpr[] = [];
  const d = dashboard as { panels?: Panel[]; templating?: { list?: Array<{ name: string; type: string; query?: unknown }> } };
  const visit = (panels: Panel[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) {
        if (typeof t.expr === 'string' && t.expr.trim()) out.push({ where: `panel "${p.title}" ${t.refId ?? ''}`.trim(), expr: t.expr, names: promqlMetricNames(t.expr) });
      }
      visit(p.panels);
    }
  };
  visit(d.panels);
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    if (q) out.push({ where: `variable ${v.name}`, expr: q, names: grafanaQueryMetricNames(q) });
  }
  return out;
}

interface Panel {
  title?: string;
  targets?: Array<{ expr?: unknown; refId?: string }>;
  panels?: Panel[];
}

/** Every alert/record expression of a PrometheusRule object. */
export function ruleExpressions(rule: { metadata: { name: string }; spec?: unknown }): DashboardExpr[] {
  const spec = rule.spec as { groups?: Array<{ name: string; rules?: Array<{ alert?: string; record?: string; expr: string | number }> }> };
  return (spec.groups ?? []).flatMap((g) =>
    (g.rules ?? []).map((r) => {
      const expr = String(r.expr);
      return { where: `${g.name}/${r.alert ?? r.record}`, expr, names: promqlMetricNames(expr) };
    }),
  );
}

export interface MetricJson {
  name: string;
  /** 'counter', 'gauge', 'histogram', 'summary' at run time (prom-client's typings say an enum). */
  type: unknown;
}

/**
 * The series names a prom-client registry exposes: a counter or gauge under its name, a histogram
 * as <name>_bucket, <name>_sum, <name>_count (the bare name is not a series), a summary as its
 * name (quantiles), <name>_sum and <name>_count.
 */
export function exposedSeriesNames(metrics: MetricJson[]): Set<string> {
  const out = new Set<string>();
  for (const m of metrics) {
    const type = String(m.type);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(m.name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) out.add(m.name + s);
    else out.add(m.name);
  }
  return out;
}

/** Expressions that use a name neither exported nor made by Prometheus, with those names. */
export function unknownMetrics(exprs: DashboardExpr[], exported: Set<string>, allowed: Set<string> = PROMETHEUS_SERIES): Array<{ where: string; unknown: string[] }> {
  return exprs
    .map((e) => ({ where: e.where, unknown: e.names.filter((n) => !exported.has(n) && !allowed.has(n)) }))
    .filter((e) => e.unknown.length > 0);
}
