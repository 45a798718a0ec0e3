import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import type { Decision, DecisionRequest, EnforcedAction } from '../contracts.ts';
import { formatDuration, isExempt, MAX_DECISION_MS, MIN_DECISION_MS, parseDuration, parseRequest, requestDecisionId, requestRecord, resolveDecisionPolicy } from '../decisions/index.ts';
import { MAX_AUTHOR_BYTES, MAX_REASON_BYTES } from '../decisions/request.ts';
import { RiskHubError } from '../errors.ts';
import { identityProblem, userKeyOf, utf8Length } from '../identity.ts';
import { configFrom } from './context.ts';
import { connectDecisions, decisionsEnd, isActive, readDecisions, sendRequest, waitForDecision, type DecisionsClient, type LatestDecisions } from './decisions-topic.ts';
import { formatTime } from './simulate.ts';
import { defaultScorerUrl, queryUserRisk } from './user-risk.ts';

// `risk-hub decisions add | remove | list`: a person's counter-measures. add and remove never write
// the decisions topic (only the scorer does, one writer per partition): they produce a request to the
// requests topic on the user's partition and wait, bounded, for the scorer's record. list reads the
// compacted decisions topic to its end. Bad input ends as one line and a non-zero exit before anything
// is sent.

/** Environment when --env is not given: the one the simulator, the demo and the example app use. */
export const DEFAULT_ENVIRONMENT = 'production';
/** How long add and remove wait for the scorer's record by default (--timeout). */
export const DEFAULT_WAIT = '15s';
const MIN_WAIT_MS = 1000;
const MAX_WAIT_MS = 10 * 60_000;
/** Exit status when the request was sent but the scorer has not applied it in time (1: refused, 2: usage). */
export const EXIT_QUEUED = 3;

function usage(message: string): never {
  throw new RiskHubError('RH_USAGE', message);
}

export interface TargetArgs {
  app: string;
  env?: string | undefined;
  user: string;
}

/** The user a command names, checked against the identity rules (src/identity.ts). */
export function parseTarget(a: TargetArgs): { app: string; env: string; user: string; key: string } {
  const env = a.env ?? DEFAULT_ENVIRONMENT;
  const problem = identityProblem(a.app, env, a.user);
  if (problem !== undefined) usage(`unknown application or user: ${problem}`);
  return { app: a.app, env, user: a.user, key: userKeyOf(a.app, env, a.user) };
}

/** "1h" → ms within [1m, 365d]; one line naming --for otherwise. */
export function parseDecisionDuration(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) usage(`--for "${text.slice(0, 40)}" is not a duration: write a whole number and a unit, e.g. 15m, 1h, 7d`);
  if (ms < MIN_DECISION_MS || ms > MAX_DECISION_MS) usage(`--for ${text} is outside [1m, 365d]`);
  return ms;
}

/** --timeout: how long to wait for the scorer (ms), within [1s, 10m]. */
export function parseWait(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < MIN_WAIT_MS || ms > MAX_WAIT_MS) usage(`--timeout "${text.slice(0, 40)}": expected a duration within [1s, 10m], e.g. 15s`);
  return ms;
}

export function parseAction(text: string): EnforcedAction {
  const a = text.toUpperCase();
  if (a !== 'BLOCK' && a !== 'CHALLENGE' && a !== 'MONITOR') usage(`--action "${text.slice(0, 40)}": expected block, challenge or monitor`);
  return a;
}

/** The OS user's name, for made_by when --by is not given. */
export function osUserName(): string {
  try {
    return userInfo().username || process.env.USER || 'unknown';
  } catch {
    return process.env.USER || 'unknown';
  }
}

function checkText(flag: string, text: string | undefined, max: number): string {
  if (text === undefined || text.trim() === '') usage(`${flag} is required and must not be blank`);
  if (utf8Length(text) > max) usage(`${flag} is ${utf8Length(text)} bytes of UTF-8, above the limit of ${max}`);
  return text;
}

export interface AddArgs extends TargetArgs {
  action: string;
  for: string;
  reason?: string | undefined;
  by?: string | undefined;
}

export interface RemoveArgs extends TargetArgs {
  reason?: string | undefined;
  by?: string | undefined;
}

/** Checked as the scorer will check it (parseRequest), so a request this returns is never dead-lettered. */
function checked(r: DecisionRequest): DecisionRequest {
  const { key, value } = requestRecord(r);
  const p = parseRequest(key, value);
  if (!p.ok) usage(`invalid request: ${p.message}`);
  return r;
}

/** The request of `decisions add`; throws one line (RH_USAGE) on bad input. */
export function buildAddRequest(a: AddArgs, nowMs: number, requestId: string = randomUUID()): DecisionRequest {
  const t = parseTarget(a);
  const action = parseAction(a.action);
  const duration = parseDecisionDuration(a.for);
  const reason = checkText('--reason', a.reason, MAX_REASON_BYTES);
  const by = checkText('--by', a.by ?? osUserName(), MAX_AUTHOR_BYTES);
  return checked({ v: 1, request_id: requestId, op: 'add', application_id: t.app, environment: t.env, user_key: t.user, action, duration_ms: duration, reason, made_by: by, requested_at: nowMs });
}

/** The request of `decisions remove`; throws one line (RH_USAGE) on bad input. */
export function buildRemoveRequest(a: RemoveArgs, nowMs: number, requestId: string = randomUUID()): DecisionRequest {
  const t = parseTarget(a);
  const reason = checkText('--reason', a.reason, MAX_REASON_BYTES);
  const by = checkText('--by', a.by ?? osUserName(), MAX_AUTHOR_BYTES);
  return checked({ v: 1, request_id: requestId, op: 'remove', application_id: t.app, environment: t.env, user_key: t.user, reason, made_by: by, requested_at: nowMs });
}

/** Whether the configuration names the application (scoring.applications or decisions.applications). */
export function configuredApplication(config: Pick<Config, 'scoring' | 'decisions'>, app: string): boolean {
  return Object.hasOwn(config.scoring.applications, app) || Object.hasOwn(config.decisions.applications, app);
}

/** Refuses a user the application's decisions policy exempts (isExempt), unless forced. */
export function checkNotExempt(config: Pick<Config, 'decisions'>, app: string, user: string): void {
  if (isExempt(resolveDecisionPolicy(config.decisions, app), user)) {
    usage(`user "${user.slice(0, 80)}" is exempt in the decisions policy of ${app} (decisions.exempt): refused; pass --force to decide anyway`);
  }
}

const VERB: Record<string, string> = { BLOCK: 'blocked', CHALLENGE: 'challenged', MONITOR: 'monitored' };

/** The key a decision is about, as people read it: application/environment/user. */
export function decisionKey(d: Pick<Decision, 'application_id' | 'environment' | 'user'>): string {
  return userKeyOf(d.application_id, d.environment, d.user.key);
}

/** One line for the scorer's answer: "blocked shop/production/alice for 1h, until …, decision <id>". */
export function formatApplied(d: Decision): string {
  const sim = d.simulated ? ' (simulated: recorded, not enforced)' : '';
  if (d.action === 'LIFT') return `lifted the decision ${d.lifts ?? '?'} of ${decisionKey(d)}, decision ${d.decision_id}${sim}`;
  return `${VERB[d.action] ?? d.action.toLowerCase()} ${decisionKey(d)} for ${formatDuration(d.until - d.made_at)}, until ${formatTime(d.until)}, decision ${d.decision_id}${sim}`;
}

/** The line for a request the scorer has not applied within the wait. */
export function formatQueued(req: DecisionRequest, topic: string, partition: number, waitedMs: number): string {
  return `request ${req.request_id} for ${userKeyOf(req.application_id, req.environment, req.user_key)} is queued on ${topic} (partition ${partition}) but no scorer applied it within ${formatDuration(waitedMs)}: is a scorer running? (risk-hub scorer); it applies the request when it runs`;
}

export type DecisionState = 'active' | 'expired' | 'lifted';

export function stateOf(d: Decision, nowMs: number): DecisionState {
  if (d.action === 'LIFT') return 'lifted';
  return isActive(d, nowMs) ? 'active' : 'expired';
}

/** The decisions to list: active ones (or, with `all`, every latest record), oldest first. Tombstones never show. */
export function listed(latest: LatestDecisions, nowMs: number, all = false): Decision[] {
  const out: Decision[] = [];
  for (const d of latest.values()) if (d && (all || isActive(d, nowMs))) out.push(d);
  return out.sort((a, b) => a.made_at - b.made_at || decisionKey(a).localeCompare(decisionKey(b)));
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** The table of `decisions list`. */
export function formatList(app: string, ds: Decision[], nowMs: number, all = false): string {
  const what = all ? 'latest decision record' : 'active decision';
  if (!ds.length) return `${app}: no ${what}s\n`;
  const rows = ds.map((d) => {
    const state = stateOf(d, nowMs);
    return [
      d.action + (d.simulated ? ' (sim)' : ''),
      `${d.environment}/${clip(d.user.key, 40)}`,
      formatTime(d.until),
      state === 'active' ? formatDuration(d.until - nowMs) : state,
      d.source,
      clip(d.made_by, 20),
      clip(d.reason.replace(/\s+/g, ' '), 60),
    ];
  });
  const head = ['ACTION', 'USER', 'UNTIL', 'REMAINING', 'SOURCE', 'MADE BY', 'REASON'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [`${app}: ${ds.length} ${what}${ds.length === 1 ? '' : 's'}`, line(head), ...rows.map(line)].join('\n') + '\n';
}

/** The user's latest decision record, for `user-risk` and `remove`. */
export async function userDecision(c: DecisionsClient, config: Config, key: string): Promise<Decision | null> {
  const { latest } = await readDecisions(c, config, { key });
  return latest.get(key) ?? null;
}

/**
 * Whether `app` is known, and why not: named in the configuration; or the scorer knows this user
 * (its query answers known: true); or the decisions topic holds a record of the application.
 */
async function checkKnownApplication(c: DecisionsClient, config: Config, t: { app: string; env: string; user: string }, scorerUrl: string): Promise<void> {
  if (configuredApplication(config, t.app)) return;
  let scorer: string;
  try {
    const r = await queryUserRisk(scorerUrl, t.app, t.env, t.user, { timeoutMs: 3000 });
    if (r.answer.known) return;
    scorer = `the scorer knows no user ${userKeyOf(t.app, t.env, t.user)}`;
  } catch {
    scorer = `no scorer answered at ${scorerUrl}`;
  }
  const { latest } = await readDecisions(c, config, { keyPrefix: `${t.app}/` });
  if (latest.size > 0) return;
  usage(`unknown application "${t.app}": not in the configuration (scoring.applications, decisions.applications), ${scorer}, and no decision names it; check the id, or pass --force`);
}

interface CommonOpts {
  app: string;
  env?: string;
  user: string;
  reason?: string;
  by?: string;
  wait: boolean;
  timeout: string;
  json?: boolean;
  force?: boolean;
  url?: string;
}

/** Sends `req` and, unless told not to, waits for the scorer's record; returns the exit status. */
async function sendAndWait(c: DecisionsClient, config: Config, req: DecisionRequest, o: CommonOpts, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const waitMs = parseWait(o.timeout);
  const from = await decisionsEnd(c, config);
  const partition = await sendRequest(c, config, req);
  const id = requestDecisionId(req.request_id);
  const key = userKeyOf(req.application_id, req.environment, req.user_key);
  if (!o.wait) {
    out(o.json ? JSON.stringify({ queued: true, partition, decision_id: id, request: req }) : `request ${req.request_id} sent for ${key} (partition ${partition}); the scorer writes it as decision ${id}`);
    return 0;
  }
  const d = await waitForDecision(c, config, key, id, from, waitMs);
  if (!d) {
    err(formatQueued(req, config.topics.decisionRequests, partition, waitMs));
    return EXIT_QUEUED;
  }
  out(o.json ? JSON.stringify(d) : formatApplied(d));
  return 0;
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  now?: () => number;
}

const stdio: Io = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(`risk-hub: ${s}\n`) };

export async function runAdd(config: Config, o: CommonOpts & { action: string; for: string }, io: Io = stdio): Promise<number> {
  const now = (io.now ?? Date.now)();
  const req = buildAddRequest({ app: o.app, env: o.env, user: o.user, action: o.action, for: o.for, reason: o.reason, by: o.by }, now);
  parseWait(o.timeout);
  if (!o.force) checkNotExempt(config, req.application_id, req.user_key);
  const c = await connectDecisions(config);
  try {
    if (!o.force) await checkKnownApplication(c, config, { app: req.application_id, env: req.environment, user: req.user_key }, o.url ?? defaultScorerUrl(config));
    return await sendAndWait(c, config, req, o, io.out, io.err);
  } finally {
    await c.close();
  }
}

export async function runRemove(config: Config, o: CommonOpts, io: Io = stdio): Promise<number> {
  const now = (io.now ?? Date.now)();
  const req = buildRemoveRequest({ app: o.app, env: o.env, user: o.user, reason: o.reason, by: o.by }, now);
  parseWait(o.timeout);
  const key = userKeyOf(req.application_id, req.environment, req.user_key);
  const c = await connectDecisions(config);
  try {
    const cur = await userDecision(c, config, key);
    if (!isActive(cur, now)) {
      io.err(`no active decision for ${key}: nothing to lift (nothing sent)`);
      return 1;
    }
    return await sendAndWait(c, config, req, o, io.out, io.err);
  } finally {
    await c.close();
  }
}

export async function runList(config: Config, o: { app: string; env?: string; json?: boolean; all?: boolean }, io: Io = stdio): Promise<number> {
  const problem = identityProblem(o.app, o.env ?? DEFAULT_ENVIRONMENT, 'x');
  if (problem !== undefined) usage(problem);
  const c = await connectDecisions(config);
  try {
    const prefix = o.env === undefined ? `${o.app}/` : `${o.app}/${o.env}/`;
    const { latest, undecodable } = await readDecisions(c, config, { keyPrefix: prefix });
    const now = (io.now ?? Date.now)();
    const ds = listed(latest, now, o.all);
    if (o.json) io.out(JSON.stringify(ds, null, 2));
    else io.out(formatList(o.env === undefined ? o.app : `${o.app}/${o.env}`, ds, now, o.all).trimEnd());
    if (undecodable > 0) io.err(`${undecodable} record(s) of ${config.topics.decisions} did not decode and were skipped (they decide nothing)`);
    return 0;
  } finally {
    await c.close();
  }
}

function common(cmd: Command, withWait: boolean): Command {
  cmd
    .requiredOption('--app <id>', 'application_id')
    .option('--env <env>', `environment (default ${DEFAULT_ENVIRONMENT})`)
    .requiredOption('--user <key>', 'user key, as the agent reports it')
    .option('--reason <text>', `why (required; at most ${MAX_REASON_BYTES} bytes)`)
    .option('--by <name>', 'who decides (default: the OS user name)');
  if (withWait) {
    cmd
      .option('--no-wait', 'send the request and return without waiting for the scorer')
      .option('--timeout <duration>', "how long to wait for the scorer's record (1s to 10m)", DEFAULT_WAIT);
  }
  return cmd.option('--json', 'print JSON');
}

export function register(program: Command): void {
  const decisions = program.commands.find((c) => c.name() === 'decisions') ?? program.command('decisions').description('counter-measures by hand: add, remove and list decisions');
  common(
    decisions
      .command('add')
      .description("block, challenge or monitor a user for a duration: a request the scorer turns into the user's decision")
      .requiredOption('--action <action>', 'block, challenge or monitor')
      .requiredOption('--for <duration>', 'how long, from now: 15m, 1h, 7d (1m to 365d)'),
    true,
  )
    .option('--force', 'skip the "known application" and exemption checks')
    .option('--url <url>', 'a scorer, for the "known application" check (default scorer.advertisedUrl, else http://127.0.0.1:<http.port>)')
    .action(async (o: CommonOpts & { action: string; for: string }, cmd: Command) => {
      process.exitCode = await runAdd(configFrom(cmd), o);
    });
  common(decisions.command('remove').description("lift a user's active decision early (the scorer writes a LIFT)"), true).action(async (o: CommonOpts, cmd: Command) => {
    process.exitCode = await runRemove(configFrom(cmd), o);
  });
  decisions
    .command('list')
    .description("an application's active decisions, from the decisions topic")
    .requiredOption('--app <id>', 'application_id')
    .option('--env <env>', 'only this environment (default: all)')
    .option('--all', 'also the latest records that no longer hold (lifted, expired)')
    .option('--json', 'print a JSON array of decision records')
    .action(async (o: { app: string; env?: string; json?: boolean; all?: boolean }, cmd: Command) => {
      process.exitCode = await runList(configFrom(cmd), o);
    });
}
