// The traffic generator: a pure function of (seed, start, options) producing Attack events in
// event-time order. No clock, no I/O, no Math.random: the same options give the same stream, so a demo
// or a bug report can be replayed. The runner (runner.ts) paces it against the wall clock and produces
// it to Kafka.
//
// The population:
// - many benign users with occasional low-severity noise (a mistyped password, an apostrophe in a
//   search, a browser extension probing odd paths). Each benign user's points over ANY window of
//   scoring.windowMs stay at or below `benignCap` (default 70 % of the threshold) BY CONSTRUCTION: the
//   generator keeps each user's sliding window with the scorer's own points policy, and an event that
//   would cross the cap is downgraded to INFO or skipped. They can never trigger.
// - waves of three attackers, one wave per `waveEveryMs` of event time, whose behaviour escalates
//   (probing at low severity, then medium, then high/critical) until their window increase exceeds
//   the bound of their goal tier: a scanner (tier 1, > threshold), a credential-stuffing target
//   (tier 2) and an injection attacker (tier 3). Each attacker has its own PRNG stream, so changing
//   the noise rate or the number of users never changes what the attackers do.

import type { Attack, Severity } from '../contracts.ts';
import type { ScoringConfig } from '../config/scoring.ts';
import { pointsFor, resolvePolicy, tierBound, type Policy } from '../scoring/index.ts';
import { Rng, seedTag } from './random.ts';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export type AttackerRole = 'scanner' | 'credential_stuffer' | 'injection';
export type Actor = 'benign' | AttackerRole;
export const ATTACKER_ROLES: readonly AttackerRole[] = ['scanner', 'credential_stuffer', 'injection'];

export const SIMULATOR_AGENT = Object.freeze({ name: 'risk-hub-simulator', version: '0.1.0', language: 'node' });

export interface SimEvent {
  attack: Attack;
  actor: Actor;
  /** The attacker wave (0, 1, …); null for benign users. */
  wave: number | null;
  /** Points the scorer will give this event under the generator's scoring policy. */
  points: number;
}

export interface TrafficOptions {
  seed: string | number;
  /** Event time (epoch ms) of the first simulated instant. */
  start: number;
  /** The scorer's scoring configuration: points policy, threshold, tiers, window. */
  scoring: ScoringConfig;
  /** Benign users (default 400). */
  users?: number;
  /** Benign noise events per simulated day, all users together (default 3000). 0 = attackers only. */
  noisePerDay?: number;
  /** Most points a benign user gathers in any window (default floor(0.7 × its application's threshold)); never above that threshold. */
  benignCap?: number;
  /** Simulate attackers (default true). */
  attackers?: boolean;
  /** Event time between two attacker waves (default 24 h). */
  waveEveryMs?: number;
  /** Stretches (> 1) or compresses (< 1) the attackers' pace (default 1: an attack wave plays over ~3–6 simulated hours). */
  attackerPace?: number;
}

/** Application and environment of simulated traffic. */
export const SIM_APPLICATIONS = ['shop', 'billing'] as const;
export const SIM_ENVIRONMENT = 'production';

interface RosterEntry {
  role: AttackerRole;
  name: string;
  application: (typeof SIM_APPLICATIONS)[number];
  /** Start of the attack after the wave start (event time). */
  offsetMs: number;
  /** The attacker stops once its increase exceeds the bound of this tier. */
  goalTier: number;
  ip: string;
  userAgent: string;
  /** Event-time gap between two events (minutes), uniform in [min, max]. */
  gapMinutes: [number, number];
  /** Escalation: what the attacker tries while its progress (increase / goal) is in each third. */
  stages: Array<Array<{ type: string; severity: Severity; method: string; path: string; blocked?: boolean }>>;
}

export const ROSTER: readonly RosterEntry[] = [
  {
    role: 'scanner',
    name: 'eve',
    application: 'shop',
    offsetMs: 30 * MINUTE,
    goalTier: 1,
    ip: '198.51.100.23',
    userAgent: 'Mozilla/5.0 (compatible; Nikto/2.5.0)',
    gapMinutes: [4, 12],
    stages: [
      [
        { type: 'scanner', severity: 'INFO', method: 'GET', path: '/wp-admin/' },
        { type: 'scanner', severity: 'LOW', method: 'GET', path: '/.env' },
        { type: 'scanner', severity: 'LOW', method: 'GET', path: '/phpmyadmin/' },
      ],
      [
        { type: 'scanner', severity: 'MEDIUM', method: 'GET', path: '/admin/config.php' },
        { type: 'path_traversal', severity: 'MEDIUM', method: 'GET', path: '/files' },
      ],
      [
        { type: 'path_traversal', severity: 'HIGH', method: 'GET', path: '/files', blocked: true },
        { type: 'ssrf', severity: 'HIGH', method: 'GET', path: '/preview', blocked: true },
      ],
    ],
  },
  {
    role: 'credential_stuffer',
    name: 'trudy',
    application: 'billing',
    offsetMs: 60 * MINUTE,
    goalTier: 2,
    ip: '203.0.113.77',
    userAgent: 'python-requests/2.31.0',
    gapMinutes: [2, 8],
    stages: [
      [{ type: 'auth_failure', severity: 'LOW', method: 'POST', path: '/login' }],
      [
        { type: 'auth_failure', severity: 'LOW', method: 'POST', path: '/login' },
        { type: 'credential_stuffing', severity: 'MEDIUM', method: 'POST', path: '/login' },
      ],
      [{ type: 'credential_stuffing', severity: 'HIGH', method: 'POST', path: '/login', blocked: true }],
    ],
  },
  {
    role: 'injection',
    name: 'mallory',
    application: 'shop',
    offsetMs: 90 * MINUTE,
    goalTier: 3,
    ip: '192.0.2.66',
    userAgent: 'sqlmap/1.8.2#stable (https://sqlmap.org)',
    gapMinutes: [8, 20],
    stages: [
      [
        { type: 'xss', severity: 'LOW', method: 'GET', path: '/search' },
        { type: 'sql_injection', severity: 'LOW', method: 'GET', path: '/search' },
      ],
      [
        { type: 'xss', severity: 'MEDIUM', method: 'GET', path: '/search' },
        { type: 'sql_injection', severity: 'MEDIUM', method: 'GET', path: '/search' },
      ],
      [
        { type: 'sql_injection', severity: 'HIGH', method: 'GET', path: '/search', blocked: true },
        { type: 'command_injection', severity: 'CRITICAL', method: 'POST', path: '/tools/ping', blocked: true },
      ],
    ],
  },
];

/** Hard bound on one attacker's events in one wave (a policy giving no points would never finish). */
export const MAX_ATTACKER_EVENTS = 300;

/** The user key of an attacker role in a wave: eve, trudy, mallory, then eve-2, trudy-2, … */
export function attackerKey(role: AttackerRole, wave: number): string {
  const entry = ROSTER.find((r) => r.role === role)!;
  return wave === 0 ? entry.name : `${entry.name}-${wave + 1}`;
}

export interface AttackerIdentity {
  role: AttackerRole;
  wave: number;
  application: string;
  environment: string;
  user: string;
  /** Event time the attack begins. */
  startsAt: number;
  goalTier: number;
}

/** The attackers whose attack begins before `until` (event time). */
export function attackersUntil(opts: Pick<TrafficOptions, 'start' | 'waveEveryMs' | 'attackers'>, until: number): AttackerIdentity[] {
  if (opts.attackers === false) return [];
  const every = opts.waveEveryMs ?? DAY;
  const out: AttackerIdentity[] = [];
  for (let wave = 0; opts.start + wave * every < until; wave++) {
    for (const r of ROSTER) {
      const startsAt = opts.start + wave * every + r.offsetMs;
      if (startsAt < until) out.push({ role: r.role, wave, application: r.application, environment: SIM_ENVIRONMENT, user: attackerKey(r.role, wave), startsAt, goalTier: r.goalTier });
    }
  }
  return out;
}

/** The key of benign user i (0-based): user-0001, … */
export function benignKey(i: number): string {
  return `user-${String(i + 1).padStart(4, '0')}`;
}

/** Benign user i belongs to billing when i % 5 === 4, else to shop. */
export function benignApplication(i: number): string {
  return i % 5 === 4 ? 'billing' : 'shop';
}

/** A user's sliding window of points, as the scorer keeps it: (T − windowMs, T]. */
class WindowSum {
  private times: number[] = [];
  private points: number[] = [];
  sum = 0;
  constructor(private readonly windowMs: number) {}
  /** Moves the window end to `t` (events arrive in time order). */
  advance(t: number): void {
    let k = 0;
    while (k < this.times.length && (this.times[k] as number) <= t - this.windowMs) {
      this.sum -= this.points[k] as number;
      k++;
    }
    if (k) {
      this.times.splice(0, k);
      this.points.splice(0, k);
    }
  }
  add(t: number, p: number): void {
    if (p <= 0) return;
    this.times.push(t);
    this.points.push(p);
    this.sum += p;
  }
}

const NOISE: ReadonlyArray<readonly [{ type: string; severity: Severity; method: string; path: string }, number]> = [
  [{ type: 'auth_failure', severity: 'LOW', method: 'POST', path: '/login' }, 40], // a mistyped password
  [{ type: 'auth_failure', severity: 'INFO', method: 'POST', path: '/login' }, 10],
  [{ type: 'scanner', severity: 'INFO', method: 'GET', path: '/favicon.ico.bak' }, 20], // a browser extension
  [{ type: 'sql_injection', severity: 'LOW', method: 'GET', path: '/search' }, 15], // "O'Reilly" in a search box
  [{ type: 'xss', severity: 'INFO', method: 'POST', path: '/profile' }, 15], // pasted HTML in a bio
];

const BROWSERS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
];

interface Attacker {
  entry: RosterEntry;
  wave: number;
  key: string;
  application: string;
  policy: Policy;
  goal: number;
  rng: Rng;
  window: WindowSum;
  nextAt: number;
  events: number;
  done: boolean;
}

/** The most points a benign user of an application with this policy may gather in a window. */
export function benignCapFor(policy: Pick<Policy, 'threshold'>, asked: number = Infinity): number {
  const cap = Number.isFinite(asked) ? asked : Math.floor(policy.threshold * 0.7);
  return Math.max(0, Math.min(cap, policy.threshold));
}

/** Options with defaults filled in (also used by the runner and the demo to describe the run). */
export function trafficDefaults(opts: TrafficOptions): Required<TrafficOptions> {
  return {
    seed: opts.seed,
    start: opts.start,
    scoring: opts.scoring,
    users: opts.users ?? 400,
    noisePerDay: opts.noisePerDay ?? 3000,
    benignCap: opts.benignCap ?? Infinity,
    attackers: opts.attackers ?? true,
    waveEveryMs: opts.waveEveryMs ?? DAY,
    attackerPace: opts.attackerPace ?? 1,
  };
}

/**
 * Generates simulated traffic, in non-decreasing event time, without end (stop pulling when done).
 * Yields nothing only when there are neither users nor attackers.
 */
export function* generateTraffic(options: TrafficOptions): Generator<SimEvent, void, undefined> {
  const o = trafficDefaults(options);
  if (!Number.isFinite(o.start)) throw new RangeError('start must be a finite epoch-millisecond time');
  if (!(o.users >= 0) || !(o.noisePerDay >= 0)) throw new RangeError('users and noisePerDay must be >= 0');
  const seed = String(o.seed);
  const idPrefix = `sim-${seedTag(`${seed}@${o.start}`)}-`;
  let seq = 0;
  const windowMs = o.scoring.windowMs;

  // Benign users: each with an activity weight (a few are much noisier than the rest) and an IP.
  const rng = new Rng(`${seed}/benign`);
  const users = Array.from({ length: o.users }, (_, i) => ({
    key: benignKey(i),
    application: benignApplication(i),
    weight: 0.2 + rng.exponential(1),
    ip: `10.${rng.between(0, 255)}.${rng.between(0, 255)}.${rng.between(1, 254)}`,
    userAgent: rng.pick(BROWSERS),
    window: new WindowSum(windowMs),
  }));
  const cumulative: number[] = [];
  let total = 0;
  for (const u of users) cumulative.push((total += u.weight));
  const pickUser = () => {
    const r = rng.next() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) <= r) lo = mid + 1;
      else hi = mid;
    }
    return users[lo]!;
  };
  const meanGap = o.noisePerDay > 0 && users.length > 0 ? DAY / o.noisePerDay : Infinity;
  let nextBenign = Number.isFinite(meanGap) ? o.start + Math.round(rng.exponential(meanGap)) : Infinity;

  const attackers: Attacker[] = [];
  let nextWave = o.attackers && ROSTER.length ? o.start : Infinity;
  let wave = 0;

  const make = (p: {
    at: number;
    application: string;
    user: string;
    identifiers: Record<string, string>;
    type: string;
    severity: Severity;
    method: string;
    path: string;
    ip: string;
    userAgent: string;
    blocked: boolean;
  }): Attack => ({
    event_id: `${idPrefix}${(seq++).toString(36)}`,
    occurred_at: p.at,
    application_id: p.application,
    environment: SIM_ENVIRONMENT,
    user: { key: p.user, identifiers: p.identifiers },
    attack_type: p.type,
    severity: p.severity,
    points: null,
    blocked: p.blocked,
    request: { ip: p.ip, method: p.method, path: p.path, user_agent: p.userAgent },
    agent: { ...SIMULATOR_AGENT },
  });

  for (;;) {
    let next: Attacker | undefined;
    for (const a of attackers) if (!a.done && (!next || a.nextAt < next.nextAt)) next = a;
    const tAttack = next ? next.nextAt : Infinity;
    const t = Math.min(nextWave, tAttack, nextBenign);
    if (t === Infinity) return;

    if (t === nextWave) {
      for (const entry of ROSTER) {
        const policy = resolvePolicy(o.scoring, entry.application);
        attackers.push({
          entry,
          wave,
          key: attackerKey(entry.role, wave),
          application: entry.application,
          policy,
          goal: tierBound(policy, entry.goalTier),
          rng: new Rng(`${seed}/${entry.role}/${wave}`),
          window: new WindowSum(windowMs),
          nextAt: nextWave + entry.offsetMs,
          events: 0,
          done: false,
        });
      }
      wave++;
      nextWave += o.waveEveryMs;
      // Forget finished attackers (bounded memory over long runs).
      for (let i = attackers.length - 1; i >= 0; i--) if (attackers[i]!.done) attackers.splice(i, 1);
      continue;
    }

    if (next && t === tAttack) {
      const a = next;
      a.window.advance(t);
      const progress = a.goal > 0 ? a.window.sum / a.goal : 1;
      const stage = a.entry.stages[Math.min(a.entry.stages.length - 1, Math.floor(progress * a.entry.stages.length))]!;
      const step = a.rng.pick(stage);
      const attack = make({
        at: t,
        application: a.application,
        user: a.key,
        identifiers: { login: a.key, email: `${a.key}@example.net` },
        type: step.type,
        severity: step.severity,
        method: step.method,
        path: step.path,
        ip: a.entry.ip,
        userAgent: a.entry.userAgent,
        blocked: step.blocked ?? false,
      });
      const points = pointsFor(a.policy, attack);
      a.window.add(t, points);
      a.events++;
      if (a.window.sum > a.goal || a.events >= MAX_ATTACKER_EVENTS) a.done = true;
      const [lo, hi] = a.entry.gapMinutes;
      a.nextAt = t + Math.max(1, Math.round(a.rng.between(lo * 60, hi * 60) * 1000 * o.attackerPace));
      yield { attack, actor: a.entry.role, wave: a.wave, points };
      continue;
    }

    // Benign noise.
    nextBenign = t + Math.max(1, Math.round(rng.exponential(meanGap)));
    const u = pickUser();
    const kind = rng.weighted(NOISE);
    const policy = resolvePolicy(o.scoring, u.application);
    u.window.advance(t);
    const attack = make({
      at: t,
      application: u.application,
      user: u.key,
      identifiers: { login: u.key, email: `${u.key}@example.com` },
      type: kind.type,
      severity: kind.severity,
      method: kind.method,
      path: kind.path,
      ip: u.ip,
      userAgent: u.userAgent,
      blocked: false,
    });
    const cap = benignCapFor(policy, o.benignCap);
    let points = pointsFor(policy, attack);
    if (u.window.sum + points > cap) {
      // Over the cap: the same mistake at INFO, or nothing at all.
      attack.severity = 'INFO';
      points = pointsFor(policy, attack);
      if (u.window.sum + points > cap) {
        seq--; // keep ids dense: this event never existed
        continue;
      }
    }
    u.window.add(t, points);
    yield { attack, actor: 'benign', wave: null, points };
  }
}
