import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import type { Decision, RiskAlert } from '../contracts.ts';
import { decideForAlert, formatDuration, resolveDecisionPolicy, ruleFor } from '../decisions/index.ts';
import { ConfigError } from '../errors.ts';
import { parseSampleAlert, previewAlert } from '../notify/preview.ts';
import { configFrom } from './context.ts';

/** What `config test` shows of the decisions policy for an alert (the `decision` entry of --json). */
export interface DecisionPreview {
  channel: 'decision';
  /** Where the policy comes from: the application's override or the global `decisions` section. */
  policy: string;
  simulate: boolean;
  exempt: { users: string[]; patterns: string[] };
  /** The rule the alert's tier takes, if any. */
  rule: { tier: number; action: string; durations: string[] } | null;
  /** The durations of the 1st, 2nd and 3rd offense under that rule (the last entry repeats). */
  escalation: string[];
  /** The decision for a user with no earlier decision (decideForAlert with an empty memory); null with why. */
  decision: Decision | null;
  why?: string;
}

const WHY: Record<string, string> = {
  'no-rule': 'no rule covers this tier (decisions.rules)',
  exempt: 'the user is exempt (decisions.exempt)',
  'already-stronger': 'a stronger decision already holds',
};

/** The decision `alert` would produce for a user with no history, with the policy behind it. */
export function previewDecision(cfg: Pick<Config, 'decisions'>, alert: RiskAlert, nowMs: number): DecisionPreview {
  const app = alert.application_id;
  const overridden = Object.hasOwn(cfg.decisions.applications, app);
  const policy = resolveDecisionPolicy(cfg.decisions, app);
  const rule = ruleFor(policy, alert.tier);
  const outcome = decideForAlert(alert, { offenses: 0, dec: null }, policy, nowMs);
  const enforced = rule && rule.action !== 'MONITOR';
  return {
    channel: 'decision',
    policy: overridden ? `decisions.applications.${app} (over the global decisions section)` : 'decisions (global)',
    simulate: policy.simulate,
    exempt: { users: [...policy.exemptUsers], patterns: [...((overridden ? cfg.decisions.applications[app]?.exempt : undefined) ?? cfg.decisions.exempt).patterns] },
    rule: rule ? { tier: rule.tier, action: rule.action, durations: rule.durations.map(formatDuration) } : null,
    escalation: rule && enforced ? [1, 2, 3].map((n) => formatDuration(rule.durations[Math.min(n, rule.durations.length) - 1]!)) : [],
    decision: outcome.decision,
    ...(outcome.decision ? {} : { why: WHY[outcome.why] ?? outcome.why }),
  };
}

/** The text of the decision section, in the style of the channel sections. */
export function formatDecisionPreview(p: DecisionPreview): string[] {
  const lines = [`\n== decision (${p.policy}${p.simulate ? ', SIMULATION: recorded and notified, never enforced' : ''})`];
  if (p.decision) {
    const d = p.decision;
    lines.push(`   → ${d.action} for ${formatDuration(d.until - d.made_at)} (1st offense)${d.simulated ? ', simulated' : ''}\n     because tier ${d.tier} takes rule { tier: ${p.rule!.tier}, action: ${p.rule!.action.toLowerCase()} }`);
    if (p.escalation.length) lines.push(`     escalation: 1st ${p.escalation[0]}, 2nd ${p.escalation[1]}, 3rd ${p.escalation[2]} (the last duration repeats)`);
  } else lines.push(`   no decision: ${p.why}`);
  if (p.exempt.users.length || p.exempt.patterns.length) {
    lines.push(`   exempt: ${[...p.exempt.users.map((u) => JSON.stringify(u)), ...p.exempt.patterns.map((x) => `/${x}/`)].join(', ')}`);
  } else lines.push('   exempt: nobody');
  return lines;
}

export function register(program: Command): void {
  const config = program.commands.find((c) => c.name() === 'config') ?? program.command('config').description('configuration');
  config
    .command('test')
    .description('show where an alert would be notified, each rendered message and the decision it would produce; sends nothing')
    .requiredOption('--alert <file>', 'a RiskAlert as JSON (e.g. test/notify/fixtures/alert.json)')
    .option('--json', 'print the result as JSON')
    .action((opts: { alert: string; json?: boolean }, cmd: Command) => {
      const cfg = configFrom(cmd);
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(opts.alert, 'utf8'));
      } catch (err) {
        throw new ConfigError(`${opts.alert}: ${(err as Error).message}`, { cause: err });
      }
      const alert = parseSampleAlert(raw, opts.alert);
      const preview = previewAlert(cfg, alert);
      const decision = previewDecision(cfg, alert, Date.now());
      if (opts.json) {
        // The channels as before, then one entry { channel: "decision", ... } (additive: readers keyed by channel keep working).
        process.stdout.write(JSON.stringify([...preview, decision], null, 2) + '\n');
        return;
      }
      console.log(`alert ${alert.alert_id}: ${alert.application_id}/${alert.environment}, user ${alert.user.key}, tier ${alert.tier}`);
      for (const c of preview) {
        console.log(`\n== ${c.channel} (${c.enabled ? 'enabled' : 'disabled'})`);
        if (c.dropped) console.log(`   not sent: ${c.dropped}`);
        if (!c.routes.length && !c.dropped) console.log('   no target matches');
        for (const r of c.routes) {
          console.log(`   → ${r.target}: ${r.destination}\n     because ${r.reason}`);
          if (r.egress) console.log(`     WARNING: ${r.egress}`);
        }
        if (c.message) console.log(indent(JSON.stringify(c.message, null, 2)));
      }
      for (const l of formatDecisionPreview(decision)) console.log(l);
    });
}

function indent(s: string): string {
  return s.split('\n').map((l) => `   ${l}`).join('\n');
}
