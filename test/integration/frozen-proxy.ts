import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

// A TCP proxy on loopback in front of a real server (the schema registry), that can be frozen: while
// frozen it still accepts connections (as a SIGSTOPped process's kernel does) but forwards nothing
// in either direction, so every request hangs without an error. Thawing forwards what was held
// back and carries on, as the process does on SIGCONT.

export interface FrozenProxy {
  readonly port: number;
  /** http://127.0.0.1:<port> + the target URL's path. */
  urlFor(targetUrl: string): string;
  freeze(): void;
  thaw(): void;
  readonly frozen: boolean;
  /** Connections accepted so far (a frozen registry still sees them arrive). */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startFrozenProxy(target: { host: string; port: number }): Promise<FrozenProxy> {
  let frozen = false;
  let accepted = 0;
  const pipes = new Set<{ client: Socket; upstream: Socket; held: Array<[Socket, Buffer]> }>();

  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(target.port, target.host);
    const pipe = { client, upstream, held: [] as Array<[Socket, Buffer]> };
    pipes.add(pipe);
    const forward = (to: Socket) => (chunk: Buffer) => {
      if (frozen) pipe.held.push([to, chunk]);
      else to.write(chunk);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    const end = () => {
      pipes.delete(pipe);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    urlFor(targetUrl: string) {
      const u = new URL(targetUrl);
      return `http://127.0.0.1:${port}${u.pathname}`.replace(/\/$/, '');
    },
    freeze() {
      frozen = true;
    },
    thaw() {
      frozen = false;
      for (const p of pipes) for (const [to, chunk] of p.held.splice(0)) if (!to.destroyed) to.write(chunk);
    },
    get frozen() {
      return frozen;
    },
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pipes) {
          p.client.destroy();
          p.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

/**
 * A TCP gate in front of a real server (the broker's bootstrap address): while closed, every
 * connection is reset at once (a broker that is down); once opened, connections are forwarded.
 */
export async function startGate(target: { host: string; port: number }): Promise<{ port: number; open(): void; close(): Promise<void>; readonly refused: number }> {
  let open = false;
  let refused = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (!open) {
      refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => void (open = true),
    get refused() {
      return refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
