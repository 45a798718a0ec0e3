// A single user flooded with 1,000,000 events keeps a bounded state (and scoring stays fast).

import { describe, expect, it } from 'vitest';
import { SEVERITIES, type Attack } from '../../src/contracts.ts';
import { candidateCount, contributionCap, emptyUserState, entryCap, riskView, scoreEvent } from '../../src/scoring/index.ts';
import { DAY, HOUR, policyWith, T0, rng } from './fixtures.ts';


describe('bounded state', () => {
  it('stays bounded under a flood of 1,000,000 events for one user', () => {
    const policy = policyWith(); // 24 h window, 1 min buckets, 10 contributions, 512 remembered ids
    const state = emptyUserState();
    const random = rng(42);
    // One mutable event object: the flood measures the scorer, not the allocator.
    const e: Attack = {
      event_id: '',
      occurred_at: T0,
      application_id: 'app',
      environment: 'production',
      user: { key: 'flooded-user', identifiers: {} },
      attack_type: 'scanner',
      severity: 'LOW',
      points: null,
      blocked: true,
      request: null,
      agent: { name: 'flood', version: '1', language: 'ts' },
    };
    const N = 1_000_000;
    let t = T0;
    let maxJson = 0;
    let alerts = 0;
    const outcomes = { scored: 0, duplicate: 0, late: 0 };
    const started = performance.now();
    for (let i = 0; i < N; i++) {
      const r = random();
      t += Math.floor(random() * 200); // ~100 ms apart on average: ~28 h of event time in all
      if (r < 0.01 && i > 0) {
        e.event_id = `flood-${i - 1 - Math.floor(random() * 100)}`; // agent retries
      } else {
        e.event_id = `flood-${i}`;
      }
      // 5% out of order by up to 2 h; 0.1% far too old (late).
      e.occurred_at = r > 0.95 ? t - Math.floor(random() * 2 * HOUR) : r > 0.949 ? t - 2 * DAY : t;
      e.severity = SEVERITIES[Math.floor(random() * SEVERITIES.length)] as Attack['severity'];
      // Some agent-chosen points with many distinct values: the worst case for the contribution list.
      e.points = random() < 0.1 ? 1 + Math.floor(random() * 1000) : null;
      const res = scoreEvent(state, e, policy, t + HOUR);
      outcomes[res.outcome]++;
      if (res.alert) alerts++;
      if (i % 100_000 === 99_999) maxJson = Math.max(maxJson, JSON.stringify(state).length);
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `flood: ${N} events in ${seconds.toFixed(2)} s (${Math.round(N / seconds)} events/s); largest JSON state ${maxJson} chars; ` +
        `${state.et.length} entries, ${candidateCount(state)} candidates, ${state.ids.length} ids; outcomes ${JSON.stringify(outcomes)}, ${alerts} alerts`,
    );
    expect(outcomes.duplicate).toBeGreaterThan(1000);
    expect(outcomes.late).toBeGreaterThan(100);
    expect(state.et.length).toBeLessThanOrEqual(entryCap(policy)); // 2162
    expect(candidateCount(state)).toBeLessThanOrEqual(contributionCap(policy)); // 80
    expect(state.ids.length).toBe(policy.maxRememberedEvents);
    // Each entry is 3 numbers (<= ~25 chars), each id ~14 chars, each candidate ~150 chars.
    expect(maxJson).toBeLessThan(entryCap(policy) * 25 + 512 * 16 + contributionCap(policy) * 160 + 1000);
    // Sums stay consistent with the entries.
    const view = riskView(state, policy, { application_id: 'app', environment: 'production', user: 'flooded-user' });
    expect(view.increase_24h).toBe(state.ep.reduce((a, b) => a + b, 0));
    expect(view.contributions).toHaveLength(policy.maxContributions);
    expect(view.contributions_truncated).toBe(state.ec.reduce((a, b) => a + b, 0) - policy.maxContributions);
  }, 120_000);
});
