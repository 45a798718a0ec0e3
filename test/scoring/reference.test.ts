// The reference model at the crash test's scale: 50,000 events over 1,000 users with the default
// policy, compared with src/scoring (a large cross-check beside the random small streams).

import { describe, expect, it } from 'vitest';
import { SEVERITIES, type Attack } from '../../src/contracts.ts';
import { ScoringSchema } from '../../src/config/scoring.ts';
import { emptyUserState, resolvePolicy, scoreEvent, type UserState } from '../../src/scoring/index.ts';
import { referenceAlerts } from './reference.ts';
import { DAY, HOUR, T0, rng } from './fixtures.ts';


describe('referenceAlerts', () => {
  it('handles 50,000 events over 1,000 users quickly and agrees with scoreEvent', () => {
    const config = ScoringSchema.parse({ applications: { shop: { threshold: 6, tiers: [20, 40] } } });
    const policyFor = (app: string) => resolvePolicy(config, app);
    const random = rng(7);
    const events: Attack[] = [];
    const span = 3 * DAY;
    const nowMs = T0 + span - HOUR; // the last hour of event time lies beyond now + 5 min: clamped
    for (let i = 0; i < 50_000; i++) {
      const r = random();
      if (r < 0.02 && events.length > 0) {
        events.push(events[events.length - 1 - Math.floor(random() * Math.min(events.length, 500))] as Attack);
        continue;
      }
      const base = T0 + Math.floor((i / 50_000) * span);
      const u = Math.floor(random() * 1000);
      events.push({
        event_id: `ev-${i}`,
        occurred_at: r < 0.1 ? base - Math.floor(random() * 30 * HOUR) : base,
        application_id: u % 5 === 0 ? 'shop' : 'blog',
        environment: u % 7 === 0 ? 'staging' : 'production',
        user: { key: `user-${u}`, identifiers: { id: String(u) } },
        attack_type: 'sql_injection',
        severity: SEVERITIES[Math.floor(random() * SEVERITIES.length)] as Attack['severity'],
        points: random() < 0.05 ? Math.floor(random() * 12) : null,
        blocked: true,
        request: null,
        agent: { name: 'a', version: '1', language: 'ts' },
      });
    }

    const started = performance.now();
    const expected = referenceAlerts(events, policyFor, nowMs);
    const seconds = (performance.now() - started) / 1000;
    console.log(`reference: ${events.length} events in ${seconds.toFixed(2)} s, ${expected.length} alerts`);

    const states = new Map<string, UserState>();
    const actual = events.flatMap((e) => {
      const key = `${e.application_id}/${e.environment}/${e.user.key}`;
      let s = states.get(key);
      if (!s) states.set(key, (s = emptyUserState()));
      const alert = scoreEvent(s, e, policyFor(e.application_id), nowMs).alert;
      return alert ? [alert] : [];
    });
    expect(expected.length).toBeGreaterThan(1000);
    expect(new Set(expected.map((a) => a.tier)).size).toBeGreaterThan(2);
    expect(actual).toEqual(expected);
  }, 60_000);
});
