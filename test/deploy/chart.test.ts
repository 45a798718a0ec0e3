// The Helm chart, rendered by the real helm binary for the default values and every values file of
// deploy/helm/risk-hub/ci/: lint clean, every object valid against the Kubernetes and
// prometheus-operator schemas, hardened, wired together (selectors, ports, volumes, secrets), and a
// configuration file the real loader accepts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema } from '../../src/config/schema.ts';
import { deepMerge, envOverrides } from '../../src/config/load.ts';
import { CHANNELS } from '../../src/config/notify.ts';
import { resolveTargets } from '../../src/notify/secrets.ts';
import {
  CHART,
  NAMESPACE,
  ciValuesFiles,
  find,
  helm,
  matches,
  one,
  podLabels,
  podSpec,
  renderChart,
  validateObject,
  type ContainerLike,
  type K8sObject,
  type PodSpecLike,
} from './helm.ts';

const cases: Array<{ name: string; files: string[] }> = [{ name: 'default values', files: [] }, ...ciValuesFiles().map((f) => ({ name: f.split('/').pop()!, files: [f] }))];

const WORKLOADS = ['StatefulSet', 'Deployment', 'Job'];

function containers(spec: PodSpecLike): ContainerLike[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

function workloads(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => WORKLOADS.includes(o.kind));
}

describe('the chart lints', () => {
  it('helm lint --strict passes for the defaults and every ci values file', () => {
    const failures: string[] = [];
    for (const c of cases) {
      const r = helm(['lint', CHART, '--strict', '--namespace', NAMESPACE, ...c.files.flatMap((f) => ['-f', f])]);
      if (r.status !== 0) failures.push(`${c.name}:\n${r.stdout}${r.stderr}`);
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('has ci values files for minimal, full and notifiers-disabled installs', () => {
    expect(cases.map((c) => c.name)).toEqual(expect.arrayContaining(['minimal-values.yaml', 'full-values.yaml', 'notifiers-disabled-values.yaml']));
  });
});

describe.each(cases)('helm template with $name', ({ files }) => {
  let objects: K8sObject[];
  beforeAll(() => {
    objects = renderChart(files);
  }, 60_000);

  it('renders only objects that validate against their schemas', () => {
    expect(objects.length).toBeGreaterThan(5);
    for (const o of objects) validateObject(o);
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(names).size, 'duplicate objects').toBe(names.length);
    for (const o of objects) {
      expect(o.metadata.name.length, o.metadata.name).toBeLessThanOrEqual(63);
      expect(o.metadata.labels?.['app.kubernetes.io/instance'], `${o.kind}/${o.metadata.name}`).toBe('rh');
    }
  });

  it('hardens every pod and container', () => {
    const ws = workloads(objects);
    expect(ws.length).toBeGreaterThanOrEqual(2);
    for (const w of ws) {
      const spec = podSpec(w)!;
      const where = `${w.kind}/${w.metadata.name}`;
      expect(spec.securityContext?.runAsNonRoot, where).toBe(true);
      expect((spec.securityContext?.seccompProfile as { type?: string } | undefined)?.type, where).toBe('RuntimeDefault');
      expect(spec.securityContext?.runAsUser, where).toBeGreaterThan(0);
      expect((spec as { automountServiceAccountToken?: boolean }).automountServiceAccountToken, where).toBe(false);
      for (const c of containers(spec)) {
        const at = `${where} container ${c.name}`;
        const sc = c.securityContext;
        expect(sc, at).toBeDefined();
        expect(sc!.runAsNonRoot, at).toBe(true);
        expect(sc!.readOnlyRootFilesystem, at).toBe(true);
        expect(sc!.allowPrivilegeEscalation, at).toBe(false);
        expect(sc!.privileged ?? false, at).toBe(false);
        expect(sc!.capabilities?.drop, at).toContain('ALL');
        expect(sc!.capabilities?.add ?? [], at).toEqual([]);
        expect(sc!.seccompProfile?.type, at).toBe('RuntimeDefault');
        expect(c.resources?.requests?.cpu, at).toBeTruthy();
        expect(c.resources?.requests?.memory, at).toBeTruthy();
        expect(c.resources?.limits?.memory, at).toBeTruthy();
        // A read-only root needs a writable /tmp.
        expect(c.volumeMounts?.some((m) => m.mountPath === '/tmp'), at).toBe(true);
        expect(c.image, at).toMatch(/^[^\s:@]+(:[\w.-]+|@sha256:[a-f0-9]{64})$/);
      }
    }
  });

  it('runs the scorer as a StatefulSet with persistent state, a stable identity and the right probes', () => {
    const sts = only(objects, 'StatefulSet');
    const spec = sts.spec as {
      serviceName: string;
      replicas: number;
      podManagementPolicy: string;
      volumeClaimTemplates: Array<{ metadata: { name: string }; spec: { accessModes: string[]; resources: { requests: { storage: string } } } }>;
      selector: { matchLabels: Record<string, string> };
    };
    const pod = podSpec(sts)!;
    const c = pod.containers.find((x) => x.name === 'scorer')!;
    expect(c.args).toEqual(['scorer']);
    // The V8 flags NODE_OPTIONS cannot carry, on the image's own entrypoint (same node, flags and script).
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(readFileSync('Dockerfile', 'utf8'))![1]!) as string[];
    expect(c.command).toEqual([...entrypoint.slice(0, -1), '--single-threaded-gc', '--heap-growing-percent=100', entrypoint.at(-1)]);

    // State on a claim per pod, mounted where the configuration says the state lives.
    const claim = spec.volumeClaimTemplates.find((v) => v.metadata.name === 'state');
    expect(claim?.spec.accessModes).toContain('ReadWriteOnce');
    const mount = c.volumeMounts!.find((m) => m.name === 'state')!;
    const cfg = renderedConfig(objects, mainConfigMap(objects));
    expect((cfg.scorer as { stateDir: string }).stateDir.startsWith(mount.mountPath + '/')).toBe(true);
    expect(envValue(c, 'STATE_DIR')).toBe((cfg.scorer as { stateDir: string }).stateDir);

    // Stable identity: a headless governing Service that also publishes pods still restoring.
    const headless = one(objects, 'Service', spec.serviceName);
    const hs = headless.spec as { clusterIP: string; publishNotReadyAddresses: boolean; selector: Record<string, string> };
    expect(hs.clusterIP).toBe('None');
    expect(hs.publishNotReadyAddresses).toBe(true);
    expect(matches(hs.selector, podLabels(sts))).toBe(true);
    expect(envValue(c, 'RISK_HUB_SCORER__ADVERTISED_URL')).toBe(`http://$(POD_NAME).${spec.serviceName}.$(POD_NAMESPACE).svc:9464`);
    expect(matches(spec.selector.matchLabels, podLabels(sts))).toBe(true);

    // Shutdown: longer than the scorer's own budget (25 s unless configured).
    const shutdownMs = (cfg.scorer as { shutdownTimeoutMs?: number }).shutdownTimeoutMs ?? 25_000;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(Math.max(40, shutdownMs / 1000 + 10));

    // Probes: startup and readiness on /readyz (restore), liveness on /healthz (no broker dependency).
    expect(c.startupProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.startupProbe!.periodSeconds! * c.startupProbe!.failureThreshold!).toBeGreaterThanOrEqual(1800);
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.ports).toEqual([expect.objectContaining({ name: 'http', containerPort: 9464 })]);

    // Disruptions: at most one scorer at a time.
    for (const pdb of find(objects, 'PodDisruptionBudget')) {
      const ps = pdb.spec as { maxUnavailable?: number; selector: { matchLabels: Record<string, string> } };
      expect(matches(ps.selector.matchLabels, podLabels(sts))).toBe(true);
      expect(ps.maxUnavailable).toBe(1);
    }
  });

  it('wires every Service to pods and a named port', () => {
    const pods = workloads(objects).filter((w) => w.kind !== 'Job');
    for (const svc of find(objects, 'Service')) {
      const s = svc.spec as { selector: Record<string, string>; ports: Array<{ name: string; targetPort: string }> };
      const backing = pods.filter((w) => matches(s.selector, podLabels(w)));
      expect(backing.length, `Service ${svc.metadata.name} selects no workload`).toBe(1);
      const portNames = podSpec(backing[0]!)!.containers.flatMap((c) => c.ports ?? []).map((p) => p.name);
      for (const p of s.ports) expect(portNames, `Service ${svc.metadata.name}`).toContain(p.targetPort);
    }
  });

  it('mounts only ConfigMaps it renders and Secrets the values name', () => {
    for (const w of workloads(objects)) {
      const spec = podSpec(w)!;
      for (const v of spec.volumes ?? []) {
        if (v.configMap) expect(find(objects, 'ConfigMap', v.configMap.name), `${w.metadata.name} volume ${v.name}`).toHaveLength(1);
      }
      const volumeNames = (spec.volumes ?? []).map((v) => v.name);
      for (const c of containers(spec)) {
        for (const m of c.volumeMounts ?? []) {
          if (m.name === 'state') continue; // from volumeClaimTemplates
          expect(volumeNames, `${w.metadata.name}/${c.name}`).toContain(m.name);
        }
        for (const e of c.env ?? []) {
          if (e.valueFrom?.secretKeyRef) {
            expect(e.valueFrom.secretKeyRef.name, `${c.name} ${e.name}`).toMatch(/^[a-z0-9][-a-z0-9.]*$/);
            expect(e.name).toMatch(/^(RISK_HUB_[A-Z0-9_]+|[A-Z_]+)$/);
          }
        }
      }
      // The pods restart when the configuration changes.
      if (w.kind !== 'Job') {
        const ann = (w.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata.annotations ?? {};
        expect(ann['checksum/config'], w.metadata.name).toMatch(/^[a-f0-9]{64}$/);
      }
    }
  });

  it('applies topics and registers schemas in a pre-install/pre-upgrade hook that brings its own configuration', () => {
    const jobs = find(objects, 'Job');
    expect(jobs).toHaveLength(1);
    const job = jobs[0]!;
    const ann = job.metadata.annotations!;
    expect(ann['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    expect(ann['helm.sh/hook-delete-policy']).toContain('before-hook-creation');
    const spec = podSpec(job)!;
    expect((spec as { restartPolicy?: string }).restartPolicy).toBe('Never');
    const steps = containers(spec).map((c) => c.args);
    expect(steps[0]).toEqual(['topics', 'apply']);
    // The hook runs before the release's ConfigMap and ServiceAccount exist: its own ConfigMap is
    // an earlier hook, and it does not use the chart's ServiceAccount.
    const cmName = spec.volumes!.find((v) => v.name === 'config')!.configMap!.name;
    const cm = one(objects, 'ConfigMap', cmName);
    expect(cm.metadata.annotations?.['helm.sh/hook']).toBe('pre-install,pre-upgrade');
    expect(Number(cm.metadata.annotations?.['helm.sh/hook-weight'])).toBeLessThan(Number(ann['helm.sh/hook-weight'] ?? 0));
    expect(cm.data!['config.yaml']).toBe(one(objects, 'ConfigMap', mainConfigMap(objects)).data!['config.yaml']);
    const sas = find(objects, 'ServiceAccount').map((s) => s.metadata.name);
    expect(sas).not.toContain(spec.serviceAccountName ?? 'default');
  });

  it('renders a configuration file the real loader accepts, with secrets only from the environment', () => {
    for (const w of workloads(objects)) {
      const spec = podSpec(w)!;
      const cmName = spec.volumes!.find((v) => v.name === 'config')!.configMap!.name;
      for (const c of containers(spec)) {
        const env = containerEnv(c, w.metadata.name);
        expect(env.RISK_HUB_CONFIG, `${w.metadata.name}/${c.name}`).toBe(`${c.volumeMounts!.find((m) => m.name === 'config')!.mountPath}/config.yaml`);
        const raw = renderedConfig(objects, cmName);
        // Secrets are never written in the ConfigMap.
        expect(secretFields(raw), cmName).toEqual([]);
        const merged = deepMerge(raw, envOverrides(env));
        const parsed = ConfigSchema.safeParse(merged);
        expect(parsed.success ? [] : parsed.error.issues, `${w.metadata.name}/${c.name}`).toEqual([]);
      }
    }
  });

  it('loads the configuration from disk the way the processes do', async () => {
    const { loadConfig } = await import('../../src/config/load.ts');
    const dir = mkdtempSync(join(tmpdir(), 'risk-hub-chart-'));
    try {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, one(objects, 'ConfigMap', mainConfigMap(objects)).data!['config.yaml']!);
      const sts = only(objects, 'StatefulSet');
      const c = podSpec(sts)!.containers[0]!;
      const loaded = loadConfig({ file, env: { ...containerEnv(c, sts.metadata.name), RISK_HUB_CONFIG: file } });
      expect(loaded.http.port).toBe(9464);
      const svc = (sts.spec as { serviceName: string }).serviceName;
      expect(loaded.scorer.advertisedUrl).toBe(`http://${sts.metadata.name}-0.${svc}.${NAMESPACE}.svc:9464`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('what each values file turns on', () => {
  let full: K8sObject[];
  let disabled: K8sObject[];
  let defaults: K8sObject[];
  beforeAll(() => {
    full = renderChart(['deploy/helm/risk-hub/ci/full-values.yaml']);
    disabled = renderChart(['deploy/helm/risk-hub/ci/notifiers-disabled-values.yaml']);
    defaults = renderChart();
  }, 60_000);

  it('full: one Deployment per channel with its secrets from its existingSecret', () => {
    const deployments = find(full, 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['riskhub-notifier-email', 'riskhub-notifier-slack', 'riskhub-notifier-webhook']);
    for (const channel of ['slack', 'email', 'webhook']) {
      const d = one(full, 'Deployment', `riskhub-notifier-${channel}`);
      const c = podSpec(d)!.containers[0]!;
      expect(c.args).toEqual(['notifier', '--channel', channel]);
      expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
      expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
      // Waiting for Kafka at start is not a reason to restart (issue 13 item 6): startup on /healthz.
      expect(c.startupProbe?.httpGet?.path).toBe('/healthz');
      const secret = `risk-hub-${channel === 'email' ? 'smtp' : channel}`;
      const secretEnv = (c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef?.name === secret);
      expect(secretEnv.length, channel).toBeGreaterThan(0);
      // Kafka secrets too, but no other channel's secrets.
      expect(envNames(c)).toContain('RISK_HUB_KAFKA__SASL__PASSWORD');
      const otherSecrets = (c.env ?? []).filter((e) => /^risk-hub-(slack|smtp|webhook)$/.test(e.valueFrom?.secretKeyRef?.name ?? '') && e.valueFrom!.secretKeyRef!.name !== secret);
      expect(otherSecrets).toEqual([]);
      // Only its own channel is on in this pod.
      for (const other of ['slack', 'email', 'webhook']) {
        expect(envValue(c, `RISK_HUB_NOTIFY__${other.toUpperCase()}__ENABLED`)).toBe(String(other === channel));
      }
    }
  });

  it('full: each notifier pod has every secret its channel\'s targets need, and runs only its channel', () => {
    for (const channel of ['slack', 'email', 'webhook'] as const) {
      const d = one(full, 'Deployment', `riskhub-notifier-${channel}`);
      const c = podSpec(d)!.containers[0]!;
      const env = containerEnv(c, d.metadata.name);
      const raw = renderedConfig(full, mainConfigMap(full));
      const parsed = ConfigSchema.safeParse(deepMerge(raw, envOverrides(env)));
      expect(parsed.success ? [] : parsed.error.issues, channel).toEqual([]);
      const notify = parsed.data!.notify;
      expect(CHANNELS.filter((ch) => notify[ch].enabled)).toEqual([channel]);
      // Throws, naming the variable, when a secret the configuration references is missing.
      const targets = resolveTargets(notify, env);
      expect(targets[channel].length, channel).toBeGreaterThan(0);
      if (channel === 'email') expect(targets.smtpPassword).toBeTruthy();
    }
  });

  it('full: TLS files mounted from the Secret and named in the configuration, SASL and registry passwords from Secrets', () => {
    const cfg = renderedConfig(full, 'riskhub');
    expect(cfg.kafka).toMatchObject({
      ssl: { caFile: '/etc/risk-hub/kafka-tls/ca.crt', certFile: '/etc/risk-hub/kafka-tls/tls.crt', keyFile: '/etc/risk-hub/kafka-tls/tls.key', rejectUnauthorized: true },
      sasl: { mechanism: 'scram-sha-512', username: 'risk-hub' },
    });
    expect((cfg.kafka as { sasl: Record<string, unknown> }).sasl).not.toHaveProperty('password');
    const pod = podSpec(one(full, 'StatefulSet', 'riskhub-scorer'))!;
    expect(pod.volumes!.find((v) => v.name === 'kafka-tls')?.secret?.secretName).toBe('risk-hub-kafka-tls');
    const c = pod.containers[0]!;
    expect(c.volumeMounts!.find((m) => m.name === 'kafka-tls')).toMatchObject({ mountPath: '/etc/risk-hub/kafka-tls', readOnly: true });
    expect(c.env!.find((e) => e.name === 'RISK_HUB_KAFKA__SASL__PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'risk-hub-kafka', key: 'sasl-password' });
    expect(c.env!.find((e) => e.name === 'RISK_HUB_SCHEMA_REGISTRY__PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'risk-hub-kafka', key: 'registry-password' });
  });

  it('full: the ServiceMonitor scrapes the scorers and every notifier, not the query Service', () => {
    const sm = one(full, 'ServiceMonitor', 'riskhub');
    const spec = sm.spec as {
      selector: { matchLabels: Record<string, string>; matchExpressions: Array<{ key: string; operator: string; values: string[] }> };
      endpoints: Array<{ port: string; path: string }>;
    };
    expect(sm.metadata.labels?.release).toBe('kube-prometheus-stack');
    const selected = find(full, 'Service').filter((s) => {
      const labels = s.metadata.labels ?? {};
      return matches(spec.selector.matchLabels, labels) && spec.selector.matchExpressions.every((e) => e.operator === 'In' && e.values.includes(labels[e.key]!));
    });
    expect(selected.map((s) => s.metadata.name).sort()).toEqual(['riskhub-notifier-email', 'riskhub-notifier-slack', 'riskhub-notifier-webhook', 'riskhub-scorer']);
    for (const s of selected) {
      expect((s.spec as { ports: Array<{ name: string }> }).ports.map((p) => p.name)).toContain(spec.endpoints[0]!.port);
      expect((s.spec as { publishNotReadyAddresses?: boolean }).publishNotReadyAddresses).toBe(true);
    }
    expect(spec.endpoints[0]!.path).toBe('/metrics');
  });

  it('full: the dashboard ConfigMap carries the grafana_dashboard label in the sidecar namespace', () => {
    const cm = one(full, 'ConfigMap', 'riskhub-dashboard');
    expect(cm.metadata.labels?.grafana_dashboard).toBe('1');
    expect(cm.metadata.namespace).toBe('monitoring');
    expect(JSON.parse(cm.data!['risk-hub.json']!)).toMatchObject({ uid: 'risk-hub', title: 'Risk Hub' });
  });

  it('full: the PrometheusRule alerts on lag, dead letters, delivery failures and a scorer not ready', () => {
    const rule = one(full, 'PrometheusRule', 'riskhub');
    const alerts = (rule.spec as { groups: Array<{ rules: Array<{ alert: string; expr: string; labels: Record<string, string>; annotations: Record<string, string> }> }> }).groups.flatMap((g) => g.rules);
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining(['RiskHubConsumerLagHigh', 'RiskHubScorerDeadLettering', 'RiskHubNotificationsDeadLettered', 'RiskHubNotificationsFailing', 'RiskHubScorerNotReady', 'RiskHubScorerAbsent', 'RiskHubScorerPartitionHalted']),
    );
    // A vanished scorer or notifier: one absent() alert for the scorers, one per enabled notifier channel.
    expect(alerts.filter((a) => a.alert === 'RiskHubNotifierAbsent').map((a) => a.labels.channel).sort()).toEqual(['email', 'slack', 'webhook']);
    expect(alerts.find((a) => a.alert === 'RiskHubScorerAbsent')?.expr).toBe('absent(up{namespace="risk",job=~"riskhub-(scorer|notifier-.+)",job="riskhub-scorer"} == 1)');
    for (const a of alerts) {
      expect(a.labels.severity, a.alert).toMatch(/^(warning|critical)$/);
      expect(a.labels.team, a.alert).toBe('security');
      expect(a.annotations.summary, a.alert).toBeTruthy();
      expect(a.annotations.runbook_url, a.alert).toBe(`https://runbooks.example.com/risk-hub#${a.alert}`);
      // Scoped to this release's targets.
      expect(a.expr, a.alert).toContain('namespace="risk",job=~"riskhub-(scorer|notifier-.+)"');
      // Prometheus templates survive Helm's templating.
      for (const v of Object.values(a.annotations)) expect(v).not.toMatch(/<no value>/);
    }
  });

  it('notifiers disabled: a scorer, no notifier, and only the topics step in the hook', () => {
    expect(find(disabled, 'Deployment')).toEqual([]);
    expect(find(disabled, 'StatefulSet')).toHaveLength(1);
    const job = one(disabled, 'Job', 'rh-risk-hub-setup');
    expect(containers(podSpec(job)!).map((c) => c.args)).toEqual([['topics', 'apply']]);
    expect(find(disabled, 'PodDisruptionBudget')).toEqual([]);
    const cfg = renderedConfig(disabled, 'rh-risk-hub');
    expect((cfg.kafka as { ssl: unknown }).ssl).toEqual({ rejectUnauthorized: true });
  });

  it('defaults: no prometheus-operator objects (their CRDs may be missing), soft anti-affinity between scorers', () => {
    expect(find(defaults, 'ServiceMonitor')).toEqual([]);
    expect(find(defaults, 'PrometheusRule')).toEqual([]);
    const pod = podSpec(one(defaults, 'StatefulSet', 'rh-risk-hub-scorer'))!;
    expect(pod.affinity).toHaveProperty('podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution');
  });
});

function only(objects: K8sObject[], kind: string): K8sObject {
  const found = find(objects, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
}

/** The release's ConfigMap of the processes (not the hook's copy, not the dashboard). */
function mainConfigMap(objects: K8sObject[]): string {
  const cms = find(objects, 'ConfigMap').filter((c) => c.metadata.labels?.['app.kubernetes.io/component'] === 'config');
  if (cms.length !== 1) throw new Error(`expected one configuration ConfigMap, found ${cms.length}`);
  return cms[0]!.metadata.name;
}

function renderedConfig(objects: K8sObject[], configMap: string): Record<string, unknown> {
  return parseYaml(one(objects, 'ConfigMap', configMap).data!['config.yaml']!) as Record<string, unknown>;
}

/** Fields of the configuration that hold a secret value (they must come from the environment). */
function secretFields(cfg: unknown, path = ''): string[] {
  if (typeof cfg !== 'object' || cfg === null) return [];
  return Object.entries(cfg).flatMap(([k, v]) => {
    const p = path ? `${path}.${k}` : k;
    const secret = k === 'password' || k === 'secrets' || (/^notify\.slack\.targets\.[^.]+$/.test(path) && k === 'url');
    return secret ? [p] : secretFields(v, p);
  });
}

function envNames(c: ContainerLike): string[] {
  return (c.env ?? []).map((e) => e.name);
}

function envValue(c: ContainerLike, name: string): string | undefined {
  return c.env?.find((e) => e.name === name)?.value;
}

/**
 * The container's environment as the process sees it: secrets filled with plausible stand-ins (a URL
 * for …URL, Standard Webhooks secrets for …SECRETS, a password otherwise), field refs resolved,
 * $(VAR) expanded.
 */
function containerEnv(c: ContainerLike, podName: string): Record<string, string> {
  const env: Record<string, string> = {};
  const fields: Record<string, string> = { 'metadata.name': podName.endsWith('scorer') ? `${podName}-0` : podName, 'metadata.namespace': NAMESPACE };
  for (const e of c.env ?? []) {
    let v: string;
    if (e.valueFrom?.secretKeyRef) v = standIn(e.name);
    else if (e.valueFrom?.fieldRef) v = fields[e.valueFrom.fieldRef.fieldPath] ?? 'field';
    else v = (e.value ?? '').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n: string) => env[n] ?? m);
    env[e.name] = v;
  }
  return env;
}

function standIn(name: string): string {
  if (/URL$/.test(name)) return 'https://hooks.example.com/services/T0000/B0000/stand-in-token';
  if (/SECRETS?$/.test(name)) return `whsec_${Buffer.from('stand-in signing secret, 32 bytes').toString('base64')}`;
  return 'stand-in-secret-value';
}
