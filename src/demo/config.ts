// The demo's configuration: the user's configuration (file + environment) with, applied last, fresh
// names for this run (application id, topics, state directory) and notification targets pointing at
// the loopback receivers. Every run gets its own topics and consumer groups, so a rerun never replays
// an earlier run's attacks or re-delivers its alerts, whether the broker was restarted or not.

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
