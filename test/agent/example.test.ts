import { afterEach, describe, expect, it } from 'vitest';
import type { Attack } from '../../src/contracts.ts';
import { createAgent } from '@risk-hub/agent';
import { startExampleApp } from '../../examples/express-app/server.ts';
import { ATTACKS, driveTraffic } from '../../examples/express-app/attack.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

describe('example app + traffic driver', { timeout: 60_000 }, () => {
  it('the driver’s attacks are detected for the right users; its benign traffic is not', async () => {
    const sent: Attack[] = [];
    const agent = createAgent({
      application: 'demo-shop',
      transport: { send: async (e) => (sent.push(...e), { rejected: [] }), close: async () => undefined },
      lingerMs: 5,
      logger: null,
      wafBudgetMicros: 1_000_000,
    });
    const app = await startExampleApp({ agent });
    cleanup.push(() => agent.close({ timeoutMs: 1000 }), () => app.close());

    const benign = await driveTraffic({ url: app.url, attacks: false });
    expect(benign.errors).toBe(0);
    expect(await agent.flush(3000)).toBe(true);
    expect(sent).toEqual([]);

    const r = await driveTraffic({ url: app.url, benign: false });
    expect(r.errors).toBe(0);
    const deadline = Date.now() + 20_000;
    while (sent.length < ATTACKS.length + 2 + 10 + 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    await agent.flush(3000);
    const by = (key: string): string[] => sent.filter((e) => e.user.key === key).map((e) => e.attack_type);
    expect(new Set(by('u-1001'))).toEqual(new Set(r.expected.alice));
    expect(by('u-1001')).toHaveLength(ATTACKS.length + 1); // the cmd injection also names /etc/shadow: path_traversal too
    expect(new Set(by('anon:127.0.0.1'))).toEqual(new Set(r.expected.anonymous));
    expect(by('u-1003').filter((t) => t === 'auth_failure')).toHaveLength(10);
    expect(by('u-1003').filter((t) => t === 'credential_stuffing')).toHaveLength(2);
  });
});
