// Helpers for the agent's integration tests (test/integration/agent*.test.ts): read the attacks topic
// back from the real broker, and a TCP proxy that simulates a broker outage for one client only (the
// broker is shared with other tests and must keep running).

import net from 'node:net';
import type { Attack } from '../../src/contracts.ts';
import type { Config } from '../../src/config/schema.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { AvroSerde, readerType } from '../../src/kafka/serde.ts';

export interface ReadRecord {
  partition: number;
  key: string;
  value: Attack;
  raw: Buffer;
}

/** Consumes config.topics.attacks from the beginning into `records` until stop(). */
export async function readAttacks(config: Config): Promise<{ records: ReadRecord[]; stop: () => Promise<void> }> {
  const kafka = createKafka(config, { clientId: 'agent-it-reader' });
  const consumer = kafka.consumer({ groupId: `${config.applicationId}-agent-reader-${Date.now()}` });
  const serde = new AvroSerde(config);
  const reader = readerType('attack.avsc');
  const records: ReadRecord[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: config.topics.attacks, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const decoded = await serde.decode<Attack>(message.value, reader);
      records.push({ partition, key: message.key?.toString() ?? '', value: decoded.value, raw: message.value! });
    },
  });
  return { records, stop: () => consumer.disconnect() };
}

/**
 * A loopback TCP proxy in front of one broker. The agent's kafkajs socketFactory sends EVERY broker
 * connection (bootstrap and advertised addresses alike) through it, so closing the proxy is a broker
 * outage for that client alone, and reopening it (same port) is the broker coming back.
 */
export class BrokerProxy {
  port = 0;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const drop = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Stops accepting connections and cuts every open one. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** kafkajs socketFactory: whatever broker kafkajs asks for, connect to the proxy. */
  socketFactory = ({ onConnect }: { host: string; port: number; ssl: unknown; onConnect: () => void }): net.Socket => {
    const socket = net.connect({ host: '127.0.0.1', port: this.port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    return socket;
  };
}

export function brokerAddress(config: Config): { host: string; port: number } {
  const first = config.kafka.brokers[0]!;
  const i = first.lastIndexOf(':');
  return { host: first.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(first.slice(i + 1)) };
}
