// Helpers for the chart tests: run the real helm binary (extracted from an npm package by
// scripts/helm.mjs), parse what it renders, validate every object against the Kubernetes and
// prometheus-operator schemas (kubernetes-models).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as coreV1 from 'kubernetes-models/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as monitoringV1 from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { helmPath } from '../../scripts/helm.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHART = join(ROOT, 'deploy', 'helm', 'risk-hub');
export const RELEASE = 'rh';
export const NAMESPACE = 'risk';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  [key: string]: unknown;
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): HelmResult {
  const r = spawnSync(helmPath(), args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, HELM_CACHE_HOME: join(ROOT, 'node_modules', '.cache', 'risk-hub-helm', 'home') } });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The values files CI renders: deploy/helm/risk-hub/ci/*.yaml (chart-testing's convention). */
export function ciValuesFiles(): string[] {
  return readdirSync(join(CHART, 'ci'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => relative(ROOT, join(CHART, 'ci', f)));
}

const rendered = new Map<string, string>();

/**
 * `helm template` with the given values files (none: the chart's defaults); throws with helm's
 * message on failure. Memoised per test file: helm runs are few (2 shared cores).
 */
export function renderChart(valuesFiles: string[] = [], extraArgs: string[] = []): K8sObject[] {
  const args = ['template', RELEASE, relative(ROOT, CHART), '--namespace', NAMESPACE, ...valuesFiles.flatMap((f) => ['-f', f]), ...extraArgs];
  const key = JSON.stringify(args);
  let text = rendered.get(key);
  if (text === undefined) {
    const r = helm(args);
    if (r.status !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${r.stderr}`);
    text = r.stdout;
    rendered.set(key, text);
  }
  // Parsed anew for every caller, so no test can change another's objects.
  return parseManifests(text);
}

export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
    const obj = doc.toJS() as K8sObject | null;
    if (obj) out.push(obj);
  }
  return out;
}

type ModelClass = new (data: never) => { validate(): void };
const MODELS: Record<string, Record<string, unknown>> = {
  v1: coreV1,
  'apps/v1': appsV1,
  'batch/v1': batchV1,
  'policy/v1': policyV1,
  'networking.k8s.io/v1': networkingV1,
  'monitoring.coreos.com/v1': monitoringV1,
};

/** Validates one object with the kubernetes-models class of its apiVersion and kind; throws naming the object. */
export function validateObject(obj: K8sObject): void {
  const group = MODELS[obj.apiVersion];
  const Model = group?.[obj.kind] as ModelClass | undefined;
  if (!Model) throw new Error(`${obj.apiVersion} ${obj.kind} ${obj.metadata?.name}: no schema known to the test (add it to MODELS)`);
  try {
    new Model(obj as never).validate();
  } catch (err) {
    throw new Error(`${obj.kind}/${obj.metadata.name} is invalid: ${(err as Error).message}`, { cause: err });
  }
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

export function one(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = find(objects, kind, name);
  if (found.length !== 1) throw new Error(`expected one ${kind}/${name}, found ${found.length} (have: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')})`);
  return found[0]!;
}

export interface PodSpecLike {
  containers: ContainerLike[];
  initContainers?: ContainerLike[];
  securityContext?: Record<string, unknown>;
  volumes?: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string }; emptyDir?: unknown }>;
  terminationGracePeriodSeconds?: number;
  serviceAccountName?: string;
  affinity?: Record<string, unknown>;
}

export interface ContainerLike {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }>;
  envFrom?: unknown[];
  ports?: Array<{ name?: string; containerPort: number }>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[]; add?: string[] }; seccompProfile?: { type: string } };
  startupProbe?: ProbeLike;
  readinessProbe?: ProbeLike;
  livenessProbe?: ProbeLike;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}

export interface ProbeLike {
  httpGet?: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
  timeoutSeconds?: number;
}

/** The pod template of a workload (Deployment, StatefulSet, Job). */
export function podSpec(obj: K8sObject): PodSpecLike | undefined {
  const tpl = (obj.spec as { template?: { spec?: PodSpecLike } } | undefined)?.template;
  return tpl?.spec;
}

export function podLabels(obj: K8sObject): Record<string, string> {
  return ((obj.spec as { template?: { metadata?: { labels?: Record<string, string> } } }).template?.metadata?.labels ?? {}) as Record<string, string>;
}

export function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}
