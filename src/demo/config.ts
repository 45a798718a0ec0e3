// The demo's configuration: the user's configuration (file + environment) with, applied last, fresh
// names for this run (application id, topics, state directory) and notification targets pointing at
// the loopback receivers. Every run gets its own topics and consumer groups, so a rerun never replays
// an earlier run's attacks or re-delivers its alerts, whether the broker was restarted or not.
//
// The decisions policy (docs/decisions.md) closes the loop in the demo: the example app's injection
// attacker (alice's account, u-1001) is detected HIGH, 6 points per request (threshold 10, tiers 25,
// 50): her 2nd detection (12 points) makes a tier-1 monitor, her 5th (30) a tier-2 challenge, her 9th
// (54) a tier-3 block, which the app's agent enforces. The traffic driver (app-traffic.ts) has her
// keep attacking past that, so her next requests are answered 403. The challenge is the first
// enforced decision (offense 1, 15m), the block the second (offense 2, 1h): escalation, visible.

import { pythonRelayOverrides } from './python-app.ts';

export interface DemoEndpoints {
  slackUrl: string;
  webhookUrl: string;
  webhookSecret: string;
  smtpPort: number;
}

export interface DemoNames {
  runId: string;
  applicationId: string;
  topics: { attacks: string; alerts: string; deliveries: string; attacksDlq: string; decisions: string; decisionRequests: string };
}

export function demoNames(runId: string): DemoNames {
  const applicationId = `risk-hub-demo-${runId}`;
  return {
    runId,
    applicationId,
    topics: {
      attacks: `${applicationId}-attacks`,
      alerts: `${applicationId}-risk-alerts`,
      deliveries: `${applicationId}-risk-alert-deliveries`,
      attacksDlq: `${applicationId}-attacks.dlq`,
      decisions: `${applicationId}-risk-decisions`,
      decisionRequests: `${applicationId}-risk-decision-requests`,
    },
  };
}

/** The demo's counter-measures policy (config `decisions`), in the configuration's own words. */
export const DEMO_DECISIONS = {
  rules: [
    { tier: 1, action: 'monitor', durations: ['1h'] },
    { tier: 2, action: 'challenge', durations: ['15m'] },
    { tier: 3, action: 'block', durations: ['15m', '1h', '24h'] },
  ],
};

export function demoOverrides(
  names: DemoNames,
  endpoints: DemoEndpoints,
  opts: { stateDir: string; httpPort: number; cluster?: { brokers: string[]; registryUrl: string } | undefined },
): Record<string, unknown> {
  return {
    applicationId: names.applicationId,
    ...(opts.cluster ? { kafka: { brokers: opts.cluster.brokers }, schemaRegistry: { url: opts.cluster.registryUrl } } : {}),
    topics: names.topics,
    scorer: { stateDir: opts.stateDir, advertisedUrl: `http://127.0.0.1:${opts.httpPort}` },
    http: { host: '127.0.0.1', port: opts.httpPort },
    decisions: DEMO_DECISIONS,
    // the example Python app's relay (python-app.ts): loopback, a free port, its token from this run
    relay: pythonRelayOverrides(),
    notify: {
      // The receivers listen on loopback, which the SSRF guard refuses unless allowed explicitly.
      egress: { allow: ['127.0.0.1'] },
      slack: {
        enabled: true,
        targets: { demo: { url: endpoints.slackUrl } },
      },
      email: {
        enabled: true,
        smtp: { host: '127.0.0.1', port: endpoints.smtpPort, secure: false, requireTLS: false },
        from: 'Risk Hub demo <risk-hub@localhost>',
        // The demo's mailbox finds the user in the subject as application/environment/user.
        subjectTemplate: '[Risk Hub] tier {{tier}}: {{application}}/{{environment}}/{{user}} +{{increase}} points in 24 h',
        targets: { security: { to: ['security-team@example.com'] } },
      },
      webhook: {
        enabled: true,
        targets: { demo: { url: endpoints.webhookUrl, secrets: endpoints.webhookSecret } },
      },
    },
  };
}
