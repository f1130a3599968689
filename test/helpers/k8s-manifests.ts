/**
 * The rendered deploy/k8s manifests for the Kubernetes operations tests (ops-k8s*.test.ts): the
 * renders (base and every overlay, by `kubectl kustomize`), the shapes the tests read and the look-ups
 * they share.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './process.js';
import { toolGate } from './prometheus.js';

export const run = promisify(execFile);
export const K8S = join(repoRoot, 'deploy/k8s');
export const OVERLAYS = readdirSync(join(K8S, 'overlays'));
export const RENDERS = ['base', ...OVERLAYS.map((o) => `overlays/${o}`)];
/** The tools the suites need: skipped without them, except in CI. */
export const gate = toolGate('ops-k8s', ['kubectl', 'nats-server']);

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped JSON */
export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
  data?: any;
  stringData?: any;
};
export type Container = {
  name: string;
  image: string;
  env?: any[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: any;
  livenessProbe?: any;
  startupProbe?: any;
  securityContext?: any;
  resources?: any;
  volumeMounts?: any[];
};

/* eslint-enable @typescript-eslint/no-explicit-any */

export const WORKLOADS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);
export const CLUSTER_SCOPED = new Set(['Namespace']);

/** Module of the kubernetes-models class for an apiVersion/kind. */
export function modelModule(apiVersion: string, kind: string): string {
  if (apiVersion.startsWith('monitoring.coreos.com/'))
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** The file of that class under node_modules. */
export function modelFile(apiVersion: string, kind: string): string {
  return join(repoRoot, 'node_modules', `${modelModule(apiVersion, kind)}.js`);
}

export const of = (objs: Obj[], kind: string, name?: string) =>
  objs.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
export const one = (objs: Obj[], kind: string, name: string): Obj => {
  const found = of(objs, kind, name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0];
};
export const workloads = (objs: Obj[]) => objs.filter((o) => WORKLOADS.has(o.kind));
export const containersOf = (w: Obj): Container[] => [
  ...(w.spec.template.spec.initContainers ?? []),
  ...w.spec.template.spec.containers,
];
export const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name);
export const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Every quoted TESSERA_* name in a service's sources and the libraries it uses (not tests). */
export function envNamesRead(dirs: string[]): Set<string> {
  const names = new Set<string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
        for (const m of readFileSync(p, 'utf8').matchAll(/['"`](TESSERA_[A-Z0-9_]+)['"`]|\benv\.(TESSERA_[A-Z0-9_]+)/g))
          names.add(m[1] ?? m[2]);
    }
  };
  for (const d of dirs) walk(join(repoRoot, d));
  return names;
}

/**
 * Renders the base and every overlay before the suite (by `kubectl kustomize`) and gives a scratch
 * directory removed after it. Call inside the suite's describe.
 */
export function useRenderedManifests(): { rendered: Map<string, Obj[]>; tmp: string } {
  const rendered = new Map<string, Obj[]>();
  const tmp = mkdtempSync(join(tmpdir(), 'tessera-k8s-'));

  beforeAll(async () => {
    gate.require();
    for (const r of RENDERS) {
      const { stdout } = await run('kubectl', ['kustomize', join(K8S, r)], { maxBuffer: 16 << 20 });
      const docs = parseAllDocuments(stdout).map((d) => {
        if (d.errors.length) throw new Error(`${r}: ${d.errors[0].message}`);
        return d.toJS() as Obj;
      });
      rendered.set(r, docs.filter(Boolean));
    }
  });

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  return { rendered, tmp };
}
