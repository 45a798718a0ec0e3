// One checked event through the relay's Node agent: the same calls an Express application's
// integration makes for the same traffic (identify + the watched request's inspection, trackAuth,
// report, the enforcement event), with the event's own id and time (the agent's EventMeta).

import type { Agent, UserInput } from '@risk-hub/agent';
import { relayDetections } from '../metrics/index.ts';
import { toRequestLike, type RelayEvent } from './mapping.ts';

/**
 * Inspects consecutive request events together (Agent.inspectMany: one engine run over many requests
 * where it can, as the Node agent batches the requests of one turn); returns the attacks found.
 */
export function processRequests(agent: Agent, events: ReadonlyArray<Extract<RelayEvent, { kind: 'request' }>>): number {
  const items = events.map((ev) => {
    const { req, extras } = toRequestLike(ev.request);
    // a watched request of an identified user is reported for that user, else for anon:<ip>
    if (ev.user !== null) agent.identify(req, ev.user as UserInput);
    return { req, extras, meta: { eventId: ev.id, at: ev.at } };
  });
  let n = 0;
  for (const found of agent.inspectMany(items)) {
    for (const d of found) relayDetections.labels(d.attackType).inc();
    n += found.length;
  }
  return n;
}

/** Processes one event; returns the attacks found in it (request events). */
export function processEvent(agent: Agent, ev: RelayEvent): number {
  const meta = { eventId: ev.id, at: ev.at };
  const user = ev.user as UserInput | null;
  switch (ev.kind) {
    case 'request': {
      const { req, extras } = toRequestLike(ev.request);
      // a watched request of an identified user is reported for that user, else for anon:<ip>
      if (user !== null) agent.identify(req, user);
      const found = agent.inspect(req, extras, meta);
      for (const d of found) relayDetections.labels(d.attackType).inc();
      return found.length;
    }
    case 'login': {
      const req = ev.request === null ? undefined : toRequestLike(ev.request).req;
      agent.trackAuth(ev.success, user as UserInput, req, meta);
      return 0;
    }
    case 'custom': {
      const req = ev.request === null ? undefined : toRequestLike(ev.request).req;
      agent.report({ type: ev.type, severity: ev.severity, ...(user === null ? {} : { user }), req, points: ev.points, blocked: ev.blocked, occurredAt: ev.at, eventId: ev.id });
      return 0;
    }
    case 'enforcement': {
      const { req } = toRequestLike(ev.request);
      if (user !== null) agent.identify(req, user);
      agent.reportEnforced(req, { action: ev.action, simulated: ev.simulated, ...(ev.decisionId === null ? {} : { decision_id: ev.decisionId }) }, meta);
      return 0;
    }
  }
}
