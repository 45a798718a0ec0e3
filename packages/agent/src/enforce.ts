// Enforcing a user's decision on one request, whatever the framework (issue 15 item 4):
// - BLOCK: the application's onBlock handler answers, else (or if it answers nothing, or throws) a 403
//   with the configured body;
// - CHALLENGE: the application's onChallenge hook (re-authenticate, MFA…); if it answered, the request
//   stops there, else it goes on. Without a hook, CHALLENGE is not enforced (fail open, logged once);
// - MONITOR and simulated decisions: nothing happens to the request (the agent only reports them).
// Nothing here throws into the application: a hook that throws is counted, and the request goes on
// (CHALLENGE) or gets the default 403 (BLOCK: the decision is known, only the handler failed).

import type { ServerResponse } from 'node:http';
import type { ActiveDecision } from './decisions.ts';
import type { ResolvedDecisions } from './options.ts';

/** How one framework answers a request. */
export interface Answer {
  /** Whether a response has been started (by a hook or by the agent). */
  sent(): boolean;
  /** Sends a complete response. */
  send(status: number, contentType: string, body: string): void;
}

/** A plain node:http (and Express) response. */
export function nodeAnswer(res: ServerResponse): Answer {
  return {
    sent: () => res.headersSent || res.writableEnded,
    send: (status, contentType, body) => {
      res.statusCode = status;
      res.setHeader('content-type', contentType);
      res.setHeader('cache-control', 'no-store');
      res.end(body);
    },
  };
}

export interface EnforceContext {
  options: ResolvedDecisions;
  /** An error of an application hook (counted by the agent). */
  caught(err: unknown): void;
  /** CHALLENGE without an onChallenge hook (the agent logs it once). */
  noChallengeHook(): void;
}

/**
 * Applies `decision` (BLOCK or CHALLENGE, not simulated) to one request. `done(handled)`: handled =
 * a response was sent, the request must not go on. Synchronous hooks keep it synchronous.
 */
export function enforceDecision(ctx: EnforceContext, decision: ActiveDecision, hookReq: unknown, hookRes: unknown, answer: Answer, done: (handled: boolean) => void): void {
  const o = ctx.options;
  const refuse = (): void => {
    try {
      if (!answer.sent()) answer.send(403, o.blockContentType, o.blockBody);
    } catch (err) {
      ctx.caught(err);
    }
    done(true);
  };
  if (decision.action === 'BLOCK') {
    if (o.onBlock === undefined) return refuse();
    runHook(ctx, o.onBlock, hookReq, hookRes, decision, refuse, refuse);
    return;
  }
  if (decision.action === 'CHALLENGE') {
    if (o.onChallenge === undefined) {
      ctx.noChallengeHook();
      return done(false);
    }
    const after = (): void => done(safeSent(ctx, answer));
    runHook(ctx, o.onChallenge, hookReq, hookRes, decision, after, () => done(safeSent(ctx, answer)));
    return;
  }
  done(false);
}

function safeSent(ctx: EnforceContext, answer: Answer): boolean {
  try {
    return answer.sent();
  } catch (err) {
    ctx.caught(err);
    return false;
  }
}

/** Calls an application hook; `after` once it returned (or its promise resolved), `failed` if it threw or rejected. */
function runHook(ctx: EnforceContext, hook: NonNullable<ResolvedDecisions['onBlock']>, req: unknown, res: unknown, decision: ActiveDecision, after: () => void, failed: () => void): void {
  let result: unknown;
  try {
    result = hook(req, res, decision);
  } catch (err) {
    ctx.caught(err);
    return failed();
  }
  if (result && typeof (result as Promise<void>).then === 'function') {
    (result as Promise<void>).then(after, (err: unknown) => {
      ctx.caught(err);
      failed();
    });
    return;
  }
  after();
}
