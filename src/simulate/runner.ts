// Plays the generator against a Kafka cluster: events are produced when their event time comes up on
// the simulation clock (clock.ts), as Avro (Confluent wire format through the registry), keyed
// `application/environment/user`, partitioned by kafkajs' default (Java-compatible murmur2)
// partitioner, from an idempotent producer. Usable against any cluster the configuration names.

import type { Config } from '../config/schema.ts';
import { userKey } from '../contracts.ts';
import { ConnectionError, RiskHubError } from '../errors.ts';
import { createKafka } from '../kafka/client.ts';
import { AvroSerde, subjectFor } from '../kafka/serde.ts';
import { waitForBroker } from '../kafka/wait.ts';
import type { Logger } from '../log.ts';
import { SimClock } from './clock.ts';
import { generateTraffic, trafficDefaults, type Actor, type SimEvent, type TrafficOptions } from './generator.ts';

export interface RunOptions extends Omit<TrafficOptions, 'scoring' | 'noisePerDay'> {
  /** Event-time speed-up: 1440 plays a day per minute. */
  speed: number;
  /** Benign events per wall-clock second while event time runs at `speed` (attackers come on top). */
  rate: number;
  /** Stop after this long (wall clock, ms). */
  durationMs?: number;
  /** Stop after this many events. */
  maxEvents?: number;
  /** Called for every event produced (after the broker acknowledged it). */
  onEvent?: (e: SimEvent) => void;
  log: Logger;
  /** Wall clock (tests). */
  now?: () => number;
}

export interface SimulationStats {
  sent: number;
  byActor: Record<Actor, number>;
  /** Distinct users that received at least one event. */
  users: number;
  /** Current event time of the simulation clock. */
  eventTime: number;
  /** Event time has reached the present and advances in real time. */
  caughtUp: boolean;
  startedAt: number;
  start: number;
  speed: number;
}

export interface SimulationHandle {
  stats(): SimulationStats;
  /** Resolves when the run ends by itself (duration, event count) or after stop(). */
  readonly done: Promise<SimulationStats>;
  stop(): Promise<SimulationStats>;
}

const MAX_BATCH = 1000;
const SEND_ATTEMPTS = 5;

/** Benign events per simulated day for a wall-clock rate at a speed. */
export function noisePerDay(rate: number, speed: number): number {
  return (rate * 86_400) / speed;
}

export async function startSimulation(config: Config, opts: RunOptions): Promise<SimulationHandle> {
  const now = opts.now ?? Date.now;
  const log = opts.log;
  await waitForBroker(config, config.kafka.connectWaitMs);
  const serde = new AvroSerde(config);
  const subject = subjectFor(config.topics.attacks);
  await serde.latestId(subject); // fails clearly when the schemas were never registered
  const kafka = createKafka(config, { clientId: `${config.kafka.clientId}-simulator`, logger: log.child({ component: 'kafkajs' }) });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();

  const traffic = trafficDefaults({ ...opts, scoring: config.scoring, noisePerDay: noisePerDay(opts.rate, opts.speed) });
  const events = generateTraffic(traffic);
  const wallStart = now();
  const clock = new SimClock(traffic.start, opts.speed, wallStart);
  const deadline = opts.durationMs !== undefined ? wallStart + opts.durationMs : Infinity;
  const maxEvents = opts.maxEvents ?? Infinity;
  const seenUsers = new Set<string>();
  const byActor: Record<Actor, number> = { benign: 0, scanner: 0, credential_stuffer: 0, injection: 0 };
  let sent = 0;
  let stopping = false;
  let wake: (() => void) | undefined;

  const stats = (): SimulationStats => ({
    sent,
    byActor: { ...byActor },
    users: seenUsers.size,
    eventTime: clock.at(now()),
    caughtUp: clock.caughtUp(now()),
    startedAt: wallStart,
    start: traffic.start,
    speed: opts.speed,
  });

  async function send(batch: SimEvent[]): Promise<void> {
    const messages = await Promise.all(
      batch.map(async (e) => ({ key: userKey(e.attack.application_id, e.attack.environment, e.attack.user.key), value: await serde.encode(subject, e.attack) })),
    );
    for (let attempt = 1; ; attempt++) {
      try {
        await producer.send({ topic: config.topics.attacks, acks: -1, messages });
        return;
      } catch (err) {
        if (attempt >= SEND_ATTEMPTS || stopping) {
          throw new ConnectionError(
            `could not produce to ${config.topics.attacks} on ${config.kafka.brokers.join(',')}: ${(err as Error).message}. Check that the broker runs and the topic exists (risk-hub topics apply).`,
            { cause: err },
          );
        }
        log.warn({ err, attempt }, 'produce failed; retrying');
        await sleep(500 * 2 ** attempt);
      }
    }
  }

  const sleepOrWake = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        resolve();
      };
    });

  async function loop(): Promise<SimulationStats> {
    let pending = events.next();
    try {
      while (!stopping && !pending.done && sent < maxEvents && now() < deadline) {
        const wallNow = now();
        const eventNow = clock.at(wallNow);
        const batch: SimEvent[] = [];
        while (!pending.done && pending.value.attack.occurred_at <= eventNow && batch.length < MAX_BATCH && sent + batch.length < maxEvents) {
          batch.push(pending.value);
          pending = events.next();
        }
        if (batch.length) {
          await send(batch);
          sent += batch.length;
          for (const e of batch) {
            byActor[e.actor]++;
            seenUsers.add(userKey(e.attack.application_id, e.attack.environment, e.attack.user.key));
            opts.onEvent?.(e);
          }
          if (batch.length === MAX_BATCH) continue;
        }
        if (pending.done) break;
        const due = clock.wallFor(pending.value.attack.occurred_at, now());
        await sleepOrWake(Math.max(5, Math.min(100, due - now(), deadline - now())));
      }
    } finally {
      await producer.disconnect().catch(() => undefined);
    }
    return stats();
  }

  const done = loop();
  done.catch(() => undefined);
  return {
    stats,
    done,
    async stop() {
      stopping = true;
      wake?.();
      try {
        return await done;
      } catch (err) {
        if (err instanceof RiskHubError) log.warn({ err: err.message }, 'simulation ended with an error');
        return stats();
      }
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
