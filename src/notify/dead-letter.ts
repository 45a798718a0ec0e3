import type { Producer } from 'kafkajs';
import type { Channel } from '../config/notify.ts';
import type { Config } from '../config/schema.ts';
import type { AvroSerde } from '../kafka/serde.ts';
import { alertsDlqTopic, DLQ_HEADERS } from '../kafka/names.ts';
import { subjectFor } from '../kafka/serde.ts';
import { notificationFacts, notificationId } from './notification.ts';
import type { DeadLetter, DeadLetterWriter, RecordOrigin } from './processor.ts';

// Per-channel dead-letter topics (`<topics.alerts>.dlq.<channel>`, declared in topology/topics.yaml).
// The value is the alert exactly as it was on risk-alerts (Confluent wire format) — or, for a person's
// decision, the Decision record as it was on the decisions topic (header x-risk-hub-notification:
// decision); headers say which target failed, why, after how many attempts, and where the record came
// from. Header names follow the scorer's attacks DLQ (x-risk-hub-*).

export { DLQ_HEADERS };

export function dlqTopic(config: Pick<Config, 'topics'>, channel: Channel): string {
  return alertsDlqTopic(config, channel);
}

export function headerString(v: Buffer | string | (Buffer | string)[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
}

/** kafkajs headers → plain strings. */
export function stringHeaders(h: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    const s = headerString(v);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

export class KafkaDeadLetters implements DeadLetterWriter {
  constructor(
    private readonly producer: Producer,
    private readonly serde: AvroSerde,
    private readonly config: Pick<Config, 'topics'>,
  ) {}

  async write(d: DeadLetter): Promise<void> {
    const origin: RecordOrigin | undefined = d.origin;
    const fromDlq = origin?.headers?.[DLQ_HEADERS.channel] !== undefined;
    const n = d.notification;
    const value =
      origin?.value ?? (await this.serde.encode(subjectFor(n.kind === 'alert' ? this.config.topics.alerts : this.config.topics.decisions), n.kind === 'alert' ? n.alert : n.decision));
    const f = notificationFacts(n);
    const key = origin?.key ?? `${f.application_id}/${f.environment}/${f.user}`;
    const previous = Number(origin?.headers?.[DLQ_HEADERS.redeliveries] ?? '0');
    const headers: Record<string, string> = {
      ...(fromDlq ? (origin?.headers ?? {}) : {}),
      [DLQ_HEADERS.reason]: d.reason,
      [DLQ_HEADERS.message]: d.error.slice(0, 1000),
      [DLQ_HEADERS.status]: d.status,
      [DLQ_HEADERS.channel]: d.channel,
      [DLQ_HEADERS.target]: d.targetId,
      [DLQ_HEADERS.attempts]: String(d.attempts),
      [DLQ_HEADERS.alertId]: notificationId(n),
      [DLQ_HEADERS.notification]: n.kind,
      [DLQ_HEADERS.deadLetteredAt]: new Date().toISOString(),
      [DLQ_HEADERS.redeliveries]: String(fromDlq ? previous + 1 : 0),
    };
    if (origin && !fromDlq) {
      headers[DLQ_HEADERS.originalTopic] = origin.topic;
      headers[DLQ_HEADERS.originalPartition] = String(origin.partition);
      headers[DLQ_HEADERS.originalOffset] = origin.offset;
      if (origin.timestamp) headers[DLQ_HEADERS.originalTimestamp] = origin.timestamp;
    }
    await this.producer.send({ topic: dlqTopic(this.config, d.channel), acks: -1, messages: [{ key, value, headers }] });
  }

  /** A record that is not a decodable alert: straight to the channel's DLQ with the decoder's reason. */
  async writePoison(channel: Channel, origin: RecordOrigin, reason: string, message: string): Promise<void> {
    await this.producer.send({
      topic: dlqTopic(this.config, channel),
      acks: -1,
      messages: [
        {
          key: origin.key,
          value: origin.value,
          headers: {
            [DLQ_HEADERS.reason]: `poison:${reason}`,
            [DLQ_HEADERS.message]: message.slice(0, 1000),
            [DLQ_HEADERS.channel]: channel,
            [DLQ_HEADERS.deadLetteredAt]: new Date().toISOString(),
            [DLQ_HEADERS.originalTopic]: origin.topic,
            [DLQ_HEADERS.originalPartition]: String(origin.partition),
            [DLQ_HEADERS.originalOffset]: origin.offset,
            ...(origin.timestamp ? { [DLQ_HEADERS.originalTimestamp]: origin.timestamp } : {}),
          },
        },
      ],
    });
  }
}
