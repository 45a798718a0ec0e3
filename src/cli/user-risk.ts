import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import type { Decision } from '../contracts.ts';
import { formatDuration } from '../decisions/duration.ts';
import type { RiskView } from '../scoring/index.ts';
import { ConnectionError, RiskHubError } from '../errors.ts';
import { identityProblem, userKeyOf } from '../identity.ts';
import { configFrom } from './context.ts';
import { connectDecisions, isActive, readDecisions } from './decisions-topic.ts';
import { formatTime } from './simulate.ts';

// `risk-hub user-risk <app> <env> <user>`: a user's current 24-hour increase, tier and contributing
// attacks, from a scorer's query endpoint. The scorer that owns the user's partition answers; another
// instance answers 421 with the owner's URL, which is followed once. The user's active decision comes
// from the decisions topic (the latest record of their key), read beside the query; when that topic
// cannot be read the risk is still shown, with a line saying why the decision is unknown.

/** The scorer's answer: the scoring core's view of the user plus where it lives. */
export interface UserRiskAnswer extends RiskView {
  application_id: string;
  environment: string;
  user: string;
  partition: number;
  known: boolean;
}

export interface QueryResult {
  answer: UserRiskAnswer;
  /** The scorer that answered (after a 421 redirect, the owner). */
  url: string;
  redirected: boolean;
}

/** The query URL of the local scorer from configuration: scorer.advertisedUrl, else 127.0.0.1:<http.port>. */
export function defaultScorerUrl(config: Pick<Config, 'scorer' | 'http'>): string {
  return config.scorer.advertisedUrl ?? `http://127.0.0.1:${config.http.port || 9464}`;
}

export async function queryUserRisk(base: string, app: string, env: string, user: string, opts: { timeoutMs?: number } = {}): Promise<QueryResult> {
  // Refused here rather than sent: "a/b" + "c" would name the same key as "a" + "b/c".
  const problem = identityProblem(app, env, user);
  if (problem !== undefined) throw new RiskHubError('RH_USAGE', `not a user Risk Hub can score: ${problem}`);
  const path = `/v1/users/${encodeURIComponent(app)}/${encodeURIComponent(env)}/${encodeURIComponent(user)}/risk`;
  let url = base.replace(/\/+$/, '');
  for (let hop = 0; hop < 2; hop++) {
    let res: Response;
    try {
      res = await fetch(url + path, { signal: AbortSignal.timeout(opts.timeoutMs ?? 5000), redirect: 'manual' });
    } catch (err) {
      const c = (err as { cause?: { code?: string; message?: string } }).cause;
      const cause = c?.code ?? c?.message ?? (err as Error).message;
      throw new ConnectionError(`no scorer answers at ${url} (${cause}): start one (risk-hub scorer, or risk-hub demo) or pass --url http://host:port`, { cause: err });
    }
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (res.status === 200) return { answer: body as unknown as UserRiskAnswer, url, redirected: hop > 0 };
    if (res.status === 421) {
      const owner = (body.owner as { url?: string } | null | undefined)?.url;
      if (hop === 0 && owner) {
        url = owner.replace(/\/+$/, '');
        continue;
      }
      throw new RiskHubError(
        'RH_QUERY_OWNER',
        owner
          ? `partition ${String(body.partition)} moved again while asking (${owner} does not own it either): the group is rebalancing, retry in a few seconds`
          : `the scorer at ${url} does not own partition ${String(body.partition)} and no owner is known (the group is rebalancing or no scorer runs for it): retry in a few seconds`,
        { retriable: true },
      );
    }
    if (res.status === 503) throw new RiskHubError('RH_QUERY_UNAVAILABLE', `${url}: ${String(body.error ?? 'not ready')}`, { retriable: true });
    if (res.status === 404) throw new RiskHubError('RH_QUERY', `${url} has no user-risk endpoint (is it a scorer? notifiers do not answer queries)`);
    throw new RiskHubError('RH_QUERY', `${url} answered ${res.status}: ${String(body.error ?? JSON.stringify(body)).slice(0, 300)}`);
  }
  throw new RiskHubError('RH_QUERY', 'unreachable');
}

function points(n: number): string {
  return `${n} point${n === 1 ? '' : 's'}`;
}

/** The user's decision as `user-risk` knows it: the active record, none, or why it could not be read. */
export type DecisionLookup = { decision: Decision | null } | { error: string };

/** The latest record of the user's key on the decisions topic, if it is active at `nowMs`; never throws. */
export async function lookupDecision(config: Config, app: string, env: string, user: string, nowMs = Date.now(), timeoutMs = 15_000): Promise<DecisionLookup> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<DecisionLookup>((resolve) => {
    timer = setTimeout(() => resolve({ error: `the decisions topic ${config.topics.decisions} could not be read within ${timeoutMs / 1000} s` }), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([readUserDecision(config, app, env, user, nowMs), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function readUserDecision(config: Config, app: string, env: string, user: string, nowMs: number): Promise<DecisionLookup> {
  const key = userKeyOf(app, env, user);
  try {
    const c = await connectDecisions(config);
    try {
      const { latest } = await readDecisions(c, config, { key, timeoutMs: 10_000 });
      const d = latest.get(key);
      return { decision: isActive(d, nowMs) ? d : null };
    } finally {
      await c.close();
    }
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The `decision` line of user-risk. */
export function formatDecisionLine(l: DecisionLookup | undefined, nowMs = Date.now()): string | undefined {
  if (!l) return undefined;
  if ('error' in l) return `decision         unknown (${l.error.slice(0, 200)})`;
  const d = l.decision;
  if (!d) return 'decision         none';
  const by = d.source === 'POLICY' ? `policy, tier ${d.tier ?? '?'}` : `manual, by ${d.made_by}`;
  return `decision         ${d.action}${d.simulated ? ' (simulated, not enforced)' : ''} until ${formatTime(d.until)} (${formatDuration(d.until - nowMs)} left; ${by}: ${d.reason.replace(/\s+/g, ' ').slice(0, 120)}) ${d.decision_id}`;
}

export function formatUserRisk(r: QueryResult, threshold?: number, decision?: DecisionLookup): string {
  const a = r.answer;
  const lines = [`${a.application_id}/${a.environment}/${a.user}  (partition ${a.partition}, answered by ${r.url}${r.redirected ? ' after a redirect to the owner' : ''})`];
  const dline = formatDecisionLine(decision);
  if (!a.known) {
    lines.push('no events scored for this user: increase 0, tier 0');
    if (dline) lines.push(dline);
    return lines.join('\n') + '\n';
  }
  const tier = a.tier > 0 ? `tier ${a.tier}` : `below the threshold${threshold !== undefined ? ` (${threshold})` : ''}`;
  lines.push(`increase (24 h)  ${points(a.increase_24h)}, ${tier}`);
  lines.push(`risk score       ${points(a.risk_score)} (lifetime)`);
  // A user known only through a decision (a person acted before any attack) has no window yet.
  lines.push(a.last_event_at === null ? 'window           none yet (no event scored)' : `window           ${formatTime(a.window_start)} → ${formatTime(a.window_end)} (event time)`);
  lines.push(`alerted tier     ${a.alerted_tier > 0 ? `${a.alerted_tier} (a new alert needs a higher tier, or a fall back under the threshold first)` : '0 (armed: the next crossing alerts)'}`);
  if (dline) lines.push(dline);
  if (a.contributions.length) {
    const more = a.contributions_truncated > 0 ? ` (and ${a.contributions_truncated} smaller)` : '';
    lines.push(`contributing attacks${more}:`);
    const w = Math.max(...a.contributions.map((c) => c.attack_type.length));
    for (const c of a.contributions) {
      lines.push(`  ${formatTime(c.occurred_at)}  ${c.attack_type.padEnd(w)}  ${c.severity.padEnd(8)}  ${String(c.points).padStart(3)}  ${c.event_id}`);
    }
  }
  return lines.join('\n') + '\n';
}

export function register(program: Command): void {
  program
    .command('user-risk')
    .description("a user's current 24-hour increase, tier, contributing attacks (from a scorer's query endpoint) and active decision (from the decisions topic)")
    .argument('<application>', 'application_id')
    .argument('<environment>', 'environment, e.g. production')
    .argument('<user>', 'user key')
    .option('--url <url>', 'a scorer (any instance: another one redirects to the owner); default scorer.advertisedUrl, else http://127.0.0.1:<http.port>')
    .option('--json', 'print the raw answer')
    .action(async (app: string, env: string, user: string, opts: { url?: string; json?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const base = opts.url ?? defaultScorerUrl(config);
      if (!/^https?:\/\//.test(base)) throw new RiskHubError('RH_USAGE', `--url ${base}: expected http://host:port`);
      const [r, decision] = await Promise.all([queryUserRisk(base, app, env, user), identityProblem(app, env, user) === undefined ? lookupDecision(config, app, env, user) : undefined]);
      const threshold = (Object.hasOwn(config.scoring.applications, app) ? config.scoring.applications[app]?.threshold : undefined) ?? config.scoring.threshold;
      // JSON: the scorer's answer plus `decision` (the active record, null for none; absent when unreadable, with `decision_error`).
      const json = decision === undefined ? r.answer : 'error' in decision ? { ...r.answer, decision_error: decision.error } : { ...r.answer, decision: decision.decision };
      process.stdout.write(opts.json ? JSON.stringify(json, null, 2) + '\n' : formatUserRisk(r, threshold, decision));
    });
}
