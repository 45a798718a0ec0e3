// What the engine's events mean for a request: one detection per attack type, at the most severe of
// the rules that matched.

import { SEVERITIES, type Severity } from './contracts.ts';
import type { WafEvent } from './engine.ts';

export interface Detection {
  attackType: string;
  severity: Severity;
  /** Ids of the rules that matched (for logs and tests; not sent to Kafka). */
  rules: string[];
}

export interface DetectionResult {
  detections: Detection[];
  /** The WAF ran out of its budget: whatever it found is discarded. */
  timeout: boolean;
}

/** A request found clean (a new object each time: callers may keep it). */
export function clean(): DetectionResult {
  return { detections: [], timeout: false };
}

export function copyDetection(d: Detection): Detection {
  return { attackType: d.attackType, severity: d.severity, rules: [...d.rules] };
}

const RANK: Record<Severity, number> = { INFO: 0, LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4 };

/** One detection per attack type (tag `attack_type`, else `type`), at the highest severity among the rules that matched. */
export function summarize(events: WafEvent[]): Detection[] {
  const byType = new Map<string, Detection>();
  for (const event of events) {
    const tags = event.rule?.tags;
    // `attack_type` when the rule has one (the Risk Hub ruleset), else libddwaf's `type` (custom rulesets)
    const named = typeof tags?.attack_type === 'string' && tags.attack_type ? tags.attack_type : tags?.type;
    const type = typeof named === 'string' && named ? named : undefined;
    if (!type) continue;
    const severity: Severity = SEVERITIES.includes(tags?.severity as Severity) ? (tags?.severity as Severity) : 'MEDIUM';
    const id = event.rule?.id ?? '?';
    const seen = byType.get(type);
    if (!seen) {
      byType.set(type, { attackType: type, severity, rules: [id] });
    } else {
      seen.rules.push(id);
      if (RANK[severity] > RANK[seen.severity]) seen.severity = severity;
    }
  }
  return [...byType.values()];
}
