import { z } from 'zod';
import { IDENTIFIER_PATTERN } from '../identity.ts';
import { MAX_DECISION_MS, MIN_DECISION_MS, parseDuration } from '../decisions/duration.ts';

// The counter-measures policy: which alert tier leads to which decision, for how long (escalating for
// users who come back), who is never acted on, and whether an application only simulates.

/** "15m" or a number of ms, within [MIN_DECISION_MS, MAX_DECISION_MS]; parsed to ms. */
const duration = z.union([z.string(), z.number().int()]).transform((v, ctx) => {
  const ms = typeof v === 'number' ? v : parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${String(v)}" is not a duration: write a whole number and a unit, e.g. 90s, 15m, 1h, 7d` });
    return z.NEVER;
  }
  if (ms < MIN_DECISION_MS || ms > MAX_DECISION_MS) {
    ctx.addIssue({ code: 'custom', message: `${String(v)} is outside [1m, 365d]` });
    return z.NEVER;
  }
  return ms;
});

export const DecisionRuleSchema = z.strictObject({
  /** The rule applies to alerts of this tier and above (up to the next rule's tier). */
  tier: z.number().int().min(1).max(100),
  // Upper case too, so that the parsed configuration (`config print`) loads again unchanged.
  action: z.enum(['monitor', 'challenge', 'block', 'MONITOR', 'CHALLENGE', 'BLOCK']).transform((a) => a.toUpperCase() as 'MONITOR' | 'CHALLENGE' | 'BLOCK'),
  /**
   * How long the decision lasts, by offense: the user's first enforced decision takes the first entry,
   * the second the second, and so on; the last entry repeats.
   */
  durations: z.array(duration).min(1).max(10),
});

/** A user-key pattern: a regular expression tested against the whole key, bounded so it stays cheap. */
const pattern = z
  .string()
  .min(1)
  .max(256)
  .superRefine((p, ctx) => {
    try {
      new RegExp(p, 'u');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a regular expression: ${(err as Error).message}` });
    }
  });

export const ExemptSchema = z.strictObject({
  /** User keys never acted on automatically (exact match). */
  users: z.array(z.string().min(1).max(256)).max(10_000).default([]),
  /** Regular expressions (anchored: the whole user key must match) of users never acted on automatically. */
  patterns: z.array(pattern).max(100).default([]),
});

const rules = z
  .array(DecisionRuleSchema)
  .max(20)
  .superRefine((rs, ctx) => {
    rs.forEach((r, i) => {
      if (i > 0 && r.tier <= rs[i - 1]!.tier) ctx.addIssue({ code: 'custom', path: [i, 'tier'], message: `rules must be in strictly increasing tier order (${r.tier} after ${rs[i - 1]!.tier})` });
    });
  });

const overrideSchema = z.strictObject({
  simulate: z.boolean().optional(),
  rules: rules.optional(),
  exempt: ExemptSchema.optional(),
});

export const DecisionsSchema = z
  .strictObject({
    /**
     * Rules by tier, in increasing tier order; an alert takes the rule of the highest tier at or below
     * its own. Empty: alerts make no decisions (the default, so an upgrade never starts blocking anyone).
     */
    rules: rules.default([]),
    /** Decisions are recorded and notified, never enforced by the agents. */
    simulate: z.boolean().default(false),
    exempt: ExemptSchema.default(ExemptSchema.parse({})),
    /** Per-application overrides, keyed by application_id: each field replaces the global one. */
    applications: z.record(z.string(), overrideSchema).default({}),
  })
  .superRefine((d, ctx) => {
    for (const app of Object.keys(d.applications)) {
      if (!IDENTIFIER_PATTERN.test(app)) {
        ctx.addIssue({ code: 'custom', path: ['applications', app], message: `no alert of application_id "${app}" can exist: application ids must match ${IDENTIFIER_PATTERN.source}` });
      }
    }
  });

export type DecisionsConfig = z.infer<typeof DecisionsSchema>;
export type DecisionRule = z.infer<typeof DecisionRuleSchema>;
