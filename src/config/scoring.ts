import { z } from 'zod';
import { SEVERITIES } from '../contracts.ts';
import { IDENTIFIER_PATTERN } from '../identity.ts';
import { MAX_STATE_BYTES, stateBytesBound } from '../scoring/state.ts';

const points = z.number().int().min(0).max(1_000_000);
const severityTable = z.partialRecord(z.enum(SEVERITIES), points);

/** Points by severity when neither the event nor the attack-type table says otherwise. */
export const DEFAULT_SEVERITY_POINTS = Object.freeze({ INFO: 0, LOW: 1, MEDIUM: 3, HIGH: 6, CRITICAL: 10 });

const policyOverride = z.strictObject({
  threshold: points.optional(),
  tiers: z.array(points).optional(),
  severityPoints: severityTable.optional(),
  attackTypePoints: z.record(z.string(), severityTable).optional(),
});

export const ScoringSchema = z
  .strictObject({
    /** Tier 1 fires when the 24-hour increase is strictly greater than this (points). */
    threshold: points.default(10),
    /** Further tier bounds (points), strictly increasing, each above the threshold. */
    tiers: z.array(points).default([25, 50, 100]),
    /** Sliding window length (ms). */
    windowMs: z.number().int().positive().default(24 * 60 * 60 * 1000),
    /** Bucket width of the per-user window (ms); bounds state at windowMs / bucketMs buckets. */
    bucketMs: z.number().int().positive().default(60 * 1000),
    /** Extra time (ms) an event older than the window may still arrive without being dropped as late. */
    lateGraceMs: z.number().int().min(0).default(0),
    /** Events more than this far (ms) ahead of the processing clock are clamped to it. */
    maxFutureSkewMs: z.number().int().min(0).default(5 * 60 * 1000),
    /** Points per severity. */
    severityPoints: severityTable.default(DEFAULT_SEVERITY_POINTS),
    /** Points by attack type then severity, e.g. { credential_stuffing: { MEDIUM: 4 } }. */
    attackTypePoints: z.record(z.string(), severityTable).default({}),
    /** Per-application overrides of the fields above, keyed by application_id. */
    applications: z.record(z.string(), policyOverride).default({}),
    /** Contributions carried in an alert (highest points first). */
    maxContributions: z.number().int().min(1).max(100).default(10),
    /** Event ids remembered per user for duplicate detection (bounded). */
    maxRememberedEvents: z.number().int().min(16).max(100_000).default(512),
  })
  .superRefine((s, ctx) => {
    const check = (tiers: number[], threshold: number, path: (string | number)[]) => {
      let prev = threshold;
      tiers.forEach((t, i) => {
        if (t <= prev)
          ctx.addIssue({ code: 'custom', path: [...path, i], message: `tier bounds must be strictly increasing and above the threshold (${t} <= ${prev})` });
        prev = t;
      });
    };
    check(s.tiers, s.threshold, ['tiers']);
    // A user's state is one changelog record: it must fit whatever the input (src/scoring/state.ts).
    const bound = stateBytesBound(s);
    if (bound > MAX_STATE_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxRememberedEvents'],
        message: `with windowMs ${s.windowMs}, bucketMs ${s.bucketMs}, maxContributions ${s.maxContributions} and maxRememberedEvents ${s.maxRememberedEvents} a user's state can reach ${bound} bytes, above the ${MAX_STATE_BYTES}-byte limit: lower maxRememberedEvents or maxContributions, or raise bucketMs`,
      });
    }
    for (const [app, o] of Object.entries(s.applications)) {
      if (!IDENTIFIER_PATTERN.test(app)) {
        ctx.addIssue({ code: 'custom', path: ['applications', app], message: `no attack of application_id "${app}" can be scored: application ids must match ${IDENTIFIER_PATTERN.source}` });
      }
      check(o.tiers ?? s.tiers, o.threshold ?? s.threshold, ['applications', app, 'tiers']);
    }
  });

export type ScoringConfig = z.infer<typeof ScoringSchema>;
