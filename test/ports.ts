import { createServer, type AddressInfo } from 'node:net';

/**
 * A loopback TCP port free a moment ago: listened on and closed again. For a server a test starts, or
 * for an address nothing answers on (a broker or registry that is down).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
