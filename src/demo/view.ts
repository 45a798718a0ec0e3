// The demo's terminal view: a dashboard redrawn in place on a terminal, or one plain line every few
// seconds otherwise (--no-tty, CI, pipes). Pure rendering: a snapshot in, lines out.

import type { Decision, RiskAlert } from '../contracts.ts';
import { formatDuration } from '../decisions/index.ts';
import type { AlertRow, DeliveryCounts, DemoChannel, UserRow } from './watch.ts';

export interface Snapshot {
  runId: string;
  elapsedMs: number;
  phase: 'running' | 'draining' | 'stopping';
  /** Events produced in all (simulator + example app) and per second over the last interval. */
  produced: number;
  producedPerSec: number;
  scoredPerSec: number;
  eventTime: number | null;
  speed: number;
  caughtUp: boolean;
  usersTracked: number;
  /** The riskiest users, each with the decision holding them now (if any). */
  top: Array<UserRow & { role: string; decision?: Decision | undefined }>;
  threshold: number;
  tierBounds: number[];
  alerts: AlertRow[];
  deliveries: Record<DemoChannel, DeliveryCounts & { received: number }>;
  scorerUrl: string;
  outDir: string;
  app?: { url: string; requests: number; detections: number; refused: number } | undefined;
  /** The example Python app (its agent sends to the demo's relay), when it runs. */
  pythonApp?: { url: string; requests: number; detections: number; refused: number } | undefined;
  /** Decision records published in this run (LIFTs included). */
  decisions: Decision[];
  /** The run's CLI configuration (topics, broker, registry), for the `risk-hub decisions` hints. */
  cliConfig?: string | undefined;
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  cyan(s: string): string;
}

const wrap = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
export const COLOR: Style = { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), yellow: wrap(33, 39), green: wrap(32, 39), cyan: wrap(36, 39) };
const id = (s: string) => s;
export const PLAIN: Style = { bold: id, dim: id, red: id, yellow: id, green: id, cyan: id };

export function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function shortTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + 'Z';
}

function n(x: number): string {
  return x.toLocaleString('en-US');
}

function tierCounts(alerts: readonly AlertRow[]): string {
  const by = new Map<number, number>();
  for (const a of alerts) by.set(a.alert.tier, (by.get(a.alert.tier) ?? 0) + 1);
  return [...by.entries()]
    .sort(([a], [b]) => a - b)
    .map(([t, c]) => `tier ${t}: ${c}`)
    .join(', ');
}

/** "3 made (block 1, challenge 1, monitor 1)", plus lifts; simulated ones are counted too. */
export function decisionCounts(decisions: ReadonlyArray<Pick<Decision, 'action'>>): string {
  const by = new Map<string, number>();
  let lifted = 0;
  for (const d of decisions) {
    if (d.action === 'LIFT') lifted++;
    else by.set(d.action.toLowerCase(), (by.get(d.action.toLowerCase()) ?? 0) + 1);
  }
  const made = decisions.length - lifted;
  const parts = [...by.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([a, c]) => `${a} ${c}`);
  return `${made} made${parts.length ? ` (${parts.join(', ')})` : ''}${lifted ? ` · ${lifted} lifted` : ''}`;
}

const LABEL: Record<string, string> = { BLOCK: 'BLOCKED', CHALLENGE: 'CHALLENGED', MONITOR: 'MONITORED' };

/** "BLOCKED 1h" (the decision's length), "(simulated)" when agents do not enforce it. */
export function decisionLabel(d: Decision): string {
  return `${LABEL[d.action] ?? d.action} ${formatDuration(d.until - d.made_at)}${d.simulated ? ' (simulated)' : ''}`;
}

function deliveryMark(s: AlertRow['deliveries'][DemoChannel], st: Style): string {
  if (s === 'delivered') return st.green('✓');
  if (s === 'dead_lettered') return st.red('✗');
  if (s === 'retrying') return st.yellow('↻');
  return st.dim('…');
}

function bar(value: number, scale: number, width: number): string {
  const w = Math.max(0, Math.min(width, Math.round((value / Math.max(1, scale)) * width)));
  return '█'.repeat(w);
}

function userLabel(a: Pick<RiskAlert, 'application_id' | 'environment' | 'user'>): string {
  return `${a.application_id}/${a.environment}/${a.user.key}`;
}

/** The dashboard, one string per line (no trailing newline), at most `width` visible columns wide. */
export function renderDashboard(s: Snapshot, st: Style = PLAIN, width = 100): string[] {
  const lines: string[] = [];
  const rule = st.dim('─'.repeat(Math.min(width, 96)));
  const time = s.eventTime === null ? '' : ` · event time ${shortTime(s.eventTime)} ${s.caughtUp ? '(real time)' : `(×${s.speed})`}`;
  const phase = s.phase === 'running' ? '' : st.yellow(s.phase === 'draining' ? '  stopping: delivering the last alerts…' : '  stopping…');
  lines.push(`${st.bold('Risk Hub demo')}  ${st.dim(`run ${s.runId} · ${clock(s.elapsedMs)}${time}`)}${phase}`);
  lines.push(rule);
  lines.push(`${st.bold('events    ')}  ${n(Math.round(s.producedPerSec))}/s produced · ${n(Math.round(s.scoredPerSec))}/s scored · ${n(s.produced)} in all`);
  lines.push(`${st.bold('users     ')}  ${n(s.usersTracked)} tracked by the scorer`);
  const fired = s.alerts.length;
  lines.push(`${st.bold('alerts    ')}  ${fired ? st.red(`${fired} fired`) : '0 fired'}${fired ? st.dim(` (${tierCounts(s.alerts)})`) : ''}`);
  const dl = (['slack', 'email', 'webhook'] as const)
    .map((c) => {
      const d = s.deliveries[c];
      const extra = [d.retrying ? st.yellow(`${d.retrying} retrying`) : '', d.dead_lettered ? st.red(`${d.dead_lettered} dead-lettered`) : ''].filter(Boolean).join(', ');
      return `${c} ${st.green(String(d.delivered))}${extra ? ` (${extra})` : ''}`;
    })
    .join(st.dim(' · '));
  lines.push(`${st.bold('delivered ')}  ${dl}`);
  if (s.app) lines.push(`${st.bold('demo app  ')}  ${s.app.url} · ${n(s.app.requests)} requests · ${n(s.app.detections)} attacks detected by the agent`);
  if (s.pythonApp) lines.push(`${st.bold('python app')}  ${s.pythonApp.url} · ${n(s.pythonApp.requests)} requests · ${n(s.pythonApp.detections)} attacks detected (Python agent → relay)`);
  const refusedBy = (what: string, k: number) => ` · ${what} refused ${st.red(`${n(k)} request${k === 1 ? '' : 's'} (403)`)}`;
  const refused = (s.app?.refused ? refusedBy('app', s.app.refused) : '') + (s.pythonApp?.refused ? refusedBy('python app', s.pythonApp.refused) : '');
  lines.push(`${st.bold('decisions ')}  ${s.decisions.length ? decisionCounts(s.decisions) : '0 made'}${refused}`);
  lines.push('');
  const bounds = [s.threshold, ...s.tierBounds];
  lines.push(st.bold(`top risky users`) + st.dim(`  (24-hour increase in points; alerts above ${bounds.join(', ')})`));
  if (s.top.length === 0) lines.push(st.dim('  (waiting for the first events)'));
  const keyW = Math.min(34, Math.max(12, ...s.top.map((u) => u.key.length)));
  const roleW = Math.min(24, Math.max(8, ...s.top.map((u) => u.role.length)));
  const scale = Math.max(bounds[bounds.length - 1] ?? 10, ...s.top.map((u) => u.increase));
  const labels = s.top.map((u) => (u.decision ? decisionLabel(u.decision) : ''));
  const decW = Math.max(0, ...labels.map((l) => l.length));
  // The bar takes what the terminal leaves: key, role, number, "below threshold" and decisions come first.
  // A decision follows its user's tier ("tier 3 · BLOCKED 1h"): rows with one are above the threshold.
  const barW = Math.max(6, Math.min(24, width - (2 + keyW + 2 + roleW + 2 + 4 + 2 + 1 + Math.max(15, decW ? 'tier 9 · '.length + decW : 0)) - 1));
  s.top.forEach((u, i) => {
    const tier = u.tier > 0 ? st.red(`tier ${u.tier}`) : st.dim('below threshold');
    const b = bar(u.increase, scale, barW);
    const coloured = u.tier > 0 ? st.red(b) : u.increase > s.threshold * 0.5 ? st.yellow(b) : st.green(b);
    const label = labels[i] ? ` · ${u.decision?.action === 'BLOCK' ? st.red(st.bold(labels[i])) : st.yellow(labels[i]!)}` : '';
    lines.push(`  ${u.key.padEnd(keyW).slice(0, keyW)}  ${u.role.padEnd(roleW).slice(0, roleW)}  ${String(u.increase).padStart(4)}  ${coloured}${' '.repeat(barW + 1 - b.length)}${tier}${label}`);
  });
  lines.push('');
  lines.push(st.bold('latest alerts') + st.dim('  (slack email webhook: ✓ delivered, ↻ retrying, ✗ dead-lettered, … pending)'));
  if (s.alerts.length === 0) lines.push(st.dim('  (none yet: the attackers start a few simulated hours into each day)'));
  const latest = s.alerts.slice(-6).reverse();
  const userW = Math.max(0, ...latest.map((a) => userLabel(a.alert).length));
  for (const a of latest) {
    const marks = (['slack', 'email', 'webhook'] as const).map((c) => deliveryMark(a.deliveries[c], st)).join(' ');
    lines.push(`  ${marks}  tier ${a.alert.tier}  +${String(a.alert.increase_24h).padEnd(4)} ${userLabel(a.alert).padEnd(userW)}  ${st.dim(`event time ${shortTime(a.alert.window_end)}`)}`);
  }
  lines.push('');
  const sample = s.top.find((u) => u.tier > 0) ?? s.top[0];
  // With the run's CLI configuration, user-risk also finds the user's decision on the run's topic.
  const cfg = s.cliConfig ? `-c ${s.cliConfig} ` : '';
  if (sample) lines.push(st.dim(`query a user:  risk-hub ${cfg}user-risk ${sample.application} ${sample.environment} ${sample.user} --url ${s.scorerUrl}`));
  if (s.cliConfig) {
    const blocked = s.top.find((u) => u.decision?.action === 'BLOCK' && u.decision.application_id === 'demo-shop') ?? s.top.find((u) => u.decision);
    const who = blocked ? { app: blocked.application, env: blocked.environment, user: blocked.user } : { app: 'demo-shop', env: 'production', user: 'u-1001' };
    lines.push(st.dim(`decisions:     risk-hub -c ${s.cliConfig} decisions list --app ${who.app}`));
    lines.push(st.dim(`lift a block:  risk-hub -c ${s.cliConfig} decisions remove --app ${who.app} --env ${who.env} --user ${who.user} --reason "demo: lifted by hand"`));
  }
  lines.push(st.dim(`messages: ${s.outDir}/{slack,mail,webhook}/ · decisions: ${s.outDir}/decisions.jsonl · logs: ${s.outDir}/demo.log · Ctrl-C stops`));
  return lines;
}

/** Cuts a line to `width` visible columns, keeping (and closing) its ANSI colour sequences. */
export function fit(line: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; ) {
    // eslint-disable-next-line no-control-regex
    const esc = /^\x1b\[[0-9;?]*[A-Za-z]/.exec(line.slice(i));
    if (esc) {
      out += esc[0];
      i += esc[0].length;
      continue;
    }
    const ch = String.fromCodePoint(line.codePointAt(i)!);
    if (visible >= width) return out + '\x1b[0m';
    out += ch;
    visible++;
    i += ch.length;
  }
  return out;
}

/** One line for --no-tty output. */
export function renderLine(s: Snapshot): string {
  const d = s.deliveries;
  const top = s.top
    .filter((u) => u.increase > 0)
    .slice(0, 3)
    .map((u) => `${u.key} ${u.increase}${u.tier ? ` (tier ${u.tier}${u.decision ? `, ${decisionLabel(u.decision)}` : ''})` : ''}`)
    .join(', ');
  return (
    `[${clock(s.elapsedMs)}] events ${s.produced} (${Math.round(s.producedPerSec)}/s, scored ${Math.round(s.scoredPerSec)}/s) · users ${s.usersTracked} · alerts ${s.alerts.length}` +
    ` · delivered slack ${d.slack.delivered} email ${d.email.delivered} webhook ${d.webhook.delivered}` +
    (d.slack.dead_lettered + d.email.dead_lettered + d.webhook.dead_lettered ? ` (dead-lettered ${d.slack.dead_lettered + d.email.dead_lettered + d.webhook.dead_lettered})` : '') +
    (s.decisions.length ? ` · decisions ${decisionCounts(s.decisions)}` : '') +
    (s.app?.refused ? ` · app refused ${s.app.refused} (403)` : '') +
    (s.pythonApp?.refused ? ` · python app refused ${s.pythonApp.refused} (403)` : '') +
    (top ? ` · top: ${top}` : '') +
    (s.phase !== 'running' ? ` · ${s.phase}` : '')
  );
}
