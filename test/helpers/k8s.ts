/**
 * Rendering deploy/k8s for the operations tests: `kubectl kustomize` of a directory, and of a
 * throw-away overlay that adds components to an existing one (components are not overlays of their
 * own: they need an overlay to land in).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from './process.js';

const run = promisify(execFile);

export const K8S = join(repoRoot, 'deploy/k8s');

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped JSON */
export type K8sObj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: any;
  data?: any;
  stringData?: any;
};
/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * The Secrets the manifests refer to and the operator creates (none is shipped), with their keys:
 * docs/operations.md gives a `kubectl create secret` command for each.
 */
export const OPERATOR_SECRETS: Record<string, string[]> = {
  'tessera-nats-auth': ['coordinator-password', 'agent-password', 'viewer-password'],
  'tessera-api-tokens': ['tokens'],
  'tessera-grpc-tls': ['tls.crt', 'tls.key', 'ca.crt'],
};

/** `kubectl kustomize DIR` parsed into objects. */
export async function kustomize(dir: string): Promise<K8sObj[]> {
  const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 << 20 });
  return parseAllDocuments(stdout)
    .map((d) => {
      if (d.errors.length) throw new Error(`${dir}: ${d.errors[0].message}`);
      return d.toJS() as K8sObj;
    })
    .filter(Boolean);
}

/**
 * Copies deploy/k8s under `tmp` and writes an overlay there on top of `overlay` with `components`
 * (names under deploy/k8s/components); returns its directory.
 */
export function composeOverlay(tmp: string, name: string, overlay: string, components: string[]): string {
  const root = join(tmp, `k8s-${name}`);
  cpSync(K8S, root, { recursive: true });
  const dir = join(root, 'overlays', name);
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      `resources: [../${overlay}]`,
      `components: [${components.map((c) => `../../components/${c}`).join(', ')}]`,
      '',
    ].join('\n'),
  );
  return dir;
}

/** Bytes of a Kubernetes quantity such as 50Gi or 800Mi (binary suffixes only, as the manifests use). */
export function quantityBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti)$/.exec(q);
  if (!m) throw new Error(`not a binary quantity: ${q}`);
  const power: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4 };
  return Number(m[1]) * 1024 ** power[m[2]];
}
