/**
 * Kubernetes as an operator applies it: no rendered overlay ships a credential (the Secrets are
 * the operator's, created as docs/operations.md says), each overlay's JetStream limit fits its
 * volume (checked on a real nats-server started on the rendered config), and the optional
 * autoscaling component renders, validates and keeps its classes, nodes, agents and KEDA queries
 * consistent. The queries are checked against a live coordinator in test/autoscale.test.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classLabel, loadHardwareTable } from '@tessera/hardware';
import { composeOverlay, K8S, kustomize, OPERATOR_SECRETS, quantityBytes, type K8sObj } from './helpers/k8s.js';
import { freePort, repoRoot, waitFor } from './helpers/process.js';
import { metricNamesIn, toolGate } from './helpers/prometheus.js';

const gate = toolGate('ops-k8s-operator', ['kubectl', 'nats-server']);
const OVERLAYS = readdirSync(join(K8S, 'overlays'));

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped JSON */
const of = (objs: K8sObj[], kind: string, name?: string) =>
  objs.filter((o) => o.kind === kind && (!name || o.metadata.name === name));
const one = (objs: K8sObj[], kind: string, name: string): K8sObj => {
  const found = of(objs, kind, name);
  expect(found, `${kind}/${name}`).toHaveLength(1);
  return found[0];
};
const podSpecs = (objs: K8sObj[]) =>
  objs.filter((o) => ['Deployment', 'DaemonSet', 'StatefulSet'].includes(o.kind)).map((w) => w.spec.template.spec);
const containers = (spec: any): any[] => [...(spec.initContainers ?? []), ...spec.containers];

/** Everything in a render that ships a credential: Secrets, literal secret-like env values, placeholders. */
function shippedCredentials(objs: K8sObj[]): string[] {
  const found: string[] = [];
  for (const o of of(objs, 'Secret')) found.push(`Secret/${o.metadata.name}`);
  for (const spec of podSpecs(objs))
    for (const c of containers(spec))
      for (const e of c.env ?? [])
        if (
          /PASSWORD|TOKEN|SECRET|(^|_)KEY($|_)|SEED/.test(e.name) &&
          !/_FILE$/.test(e.name) &&
          e.value !== undefined &&
          !String(e.value).startsWith('/') // a path to a mounted Secret, not a secret
        )
          found.push(`${c.name} env ${e.name}=${String(e.value).slice(0, 20)}`);
  const text = stringify(objs);
  for (const m of text.matchAll(/CHANGE-?ME|placeholder|changeit|s3cr3t/gi)) found.push(`text "${m[0]}"`);
  return found;
}

/** A nats-server size (its config units: KB/MB/GB/TB are powers of 1024). */
function natsBytes(v: string): number {
  const m = /^(\d+)(KB|MB|GB|TB)?$/i.exec(v);
  if (!m) throw new Error(`not a nats-server size: ${v}`);
  const power: Record<string, number> = { KB: 1, MB: 2, GB: 3, TB: 4 };
  return Number(m[1]) * 1024 ** (m[2] ? power[m[2].toUpperCase()] : 0);
}

describe.skipIf(gate.skip)('operations: Kubernetes as the operator applies it', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tessera-k8s-op-'));
  const renders = new Map<string, K8sObj[]>();

  beforeAll(async () => {
    gate.require();
    renders.set('base', await kustomize(join(K8S, 'base')));
    for (const o of OVERLAYS) renders.set(`overlays/${o}`, await kustomize(join(K8S, 'overlays', o)));
    renders.set('prod + autoscale-keda', await kustomize(composeOverlay(tmp, 'auto', 'prod', ['autoscale-keda'])));
    renders.set(
      'prod + grpc-tls + api-tokens',
      await kustomize(composeOverlay(tmp, 'secure', 'prod', ['grpc-tls', 'api-tokens'])),
    );
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('no rendered overlay or component ships a credential (Secret, literal password, placeholder)', () => {
    expect(OVERLAYS).toEqual(expect.arrayContaining(['dev', 'prod']));
    for (const [r, objs] of renders) expect(shippedCredentials(objs), r).toEqual([]);
    // The check can fail: the Secret the base used to carry, and a literal password.
    const control: K8sObj[] = [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'tessera-nats-auth' },
        stringData: { 'agent-password': 'CHANGE-ME-placeholder-agent' },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'x' },
        spec: {
          template: {
            spec: { containers: [{ name: 'x', env: [{ name: 'TESSERA_NATS_PASSWORD', value: 'hunter2' }] }] },
          },
        },
      },
    ];
    expect(shippedCredentials(control)).toEqual([
      'Secret/tessera-nats-auth',
      'x env TESSERA_NATS_PASSWORD=hunter2',
      'text "CHANGE-ME"',
      'text "placeholder"',
    ]);
  });

  it('every Secret a pod uses is one the docs tell the operator to create, with every key it reads', () => {
    const docs = readFileSync(join(repoRoot, 'docs/operations.md'), 'utf8').replace(/\\\n\s*/g, ' ');
    const created = new Map<string, Set<string>>();
    for (const m of docs.matchAll(/kubectl -n tessera create secret generic (\S+)([^\n`]*)/g))
      created.set(m[1], new Set([...m[2].matchAll(/--from-(?:literal|file)=([\w.-]+)=/g)].map((k) => k[1])));
    for (const [name, keys] of Object.entries(OPERATOR_SECRETS))
      expect([...(created.get(name) ?? [])].sort(), `docs: kubectl create secret generic ${name}`).toEqual(
        [...keys].sort(),
      );
    for (const [r, objs] of renders)
      for (const spec of podSpecs(objs)) {
        for (const c of containers(spec))
          for (const e of c.env ?? []) {
            const ref = e.valueFrom?.secretKeyRef;
            if (ref) expect(OPERATOR_SECRETS[ref.name], `${r}: ${c.name} ${e.name}`).toContain(ref.key);
          }
        for (const v of spec.volumes ?? [])
          if (v.secret) expect(Object.keys(OPERATOR_SECRETS), `${r}: volume ${v.name}`).toContain(v.secret.secretName);
      }
  });

  it("each overlay's JetStream limit, as nats-server applies it, fits its volume (75%–100%)", async () => {
    for (const r of ['base', ...OVERLAYS.map((o) => `overlays/${o}`)]) {
      const objs = renders.get(r)!;
      const sts = one(objs, 'StatefulSet', 'tessera-nats');
      const volume = quantityBytes(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage);
      const nats = sts.spec.template.spec.containers.find((c: any) => c.name === 'nats');
      const limit: string = nats.env.find((e: any) => e.name === 'JS_MAX_FILE_STORE')?.value;
      const data = one(objs, 'ConfigMap', 'tessera-nats-config').data;
      expect(data['nats.conf'], r).toMatch(/max_file_store:\s*\$JS_MAX_FILE_STORE\s*$/m);
      // What the server makes of it: start it on the rendered config (own ports, no routes) and read /varz.
      const [port, http] = [await freePort(), await freePort()];
      const dir = join(tmp, `nats-${r.replace('/', '-')}`);
      const conf = data['nats.conf']
        .replace(/^port: 4222$/m, `port: ${port}`)
        .replace(/^http_port: 8222$/m, `http_port: ${http}`)
        .replace(/store_dir:\s*\S+/, `store_dir: ${dir}`)
        .replace(/\ncluster \{[\s\S]*?\n\}\n/, '\n');
      expect(conf, r).not.toContain('routes');
      rmSync(dir, { recursive: true, force: true });
      writeFileSync(join(tmp, 'permissions.conf'), data['permissions.conf']);
      writeFileSync(join(tmp, 'nats.conf'), conf);
      const server = spawn('nats-server', ['-c', join(tmp, 'nats.conf')], {
        env: {
          ...process.env,
          POD_NAME: 'tessera-nats-0',
          JS_MAX_FILE_STORE: limit,
          TESSERA_NATS_COORDINATOR_PASSWORD: 'c',
          TESSERA_NATS_AGENT_PASSWORD: 'a',
          TESSERA_NATS_VIEWER_PASSWORD: 'v',
        },
        stdio: 'ignore',
      });
      try {
        const varz = await waitFor(
          async () => (await (await fetch(`http://127.0.0.1:${http}/varz`)).json()) as any,
          20_000,
          `nats-server for ${r}`,
        );
        const applied: number = varz.jetstream.config.max_storage;
        expect(applied, `${r}: ${limit}`).toBe(natsBytes(limit));
        expect(applied, `${r}: JetStream limit ${limit} vs volume`).toBeLessThan(volume);
        expect(applied, `${r}: JetStream limit ${limit} uses the volume`).toBeGreaterThanOrEqual(0.75 * volume);
      } finally {
        server.kill('SIGKILL');
      }
    }
    // Dev and prod really differ (the base's 9GB no longer leaks into both).
    const limits = OVERLAYS.map(
      (o) =>
        one(renders.get(`overlays/${o}`)!, 'StatefulSet', 'tessera-nats').spec.template.spec.containers[0].env.find(
          (e: any) => e.name === 'JS_MAX_FILE_STORE',
        ).value,
    );
    expect(new Set(limits).size).toBe(OVERLAYS.length);
  });

  describe('autoscale-keda component', () => {
    const auto = () => renders.get('prod + autoscale-keda')!;
    const table = loadHardwareTable();

    it('renders and validates: Kubernetes schemas for every object, the KEDA schema for ScaledObjects', async () => {
      const objs = auto();
      expect(of(objs, 'ScaledObject').length).toBeGreaterThanOrEqual(2);
      for (const o of objs) {
        const mod = o.apiVersion.startsWith('keda.sh/')
          ? `@kubernetes-models/keda/${o.apiVersion}/${o.kind}`
          : o.apiVersion.startsWith('monitoring.coreos.com/')
            ? `@kubernetes-models/prometheus-operator/${o.apiVersion}/${o.kind}`
            : `kubernetes-models/${o.apiVersion}/${o.kind}`;
        const m = (await import(mod)) as Record<string, new (d: unknown) => { validate(): void }>;
        expect(() => new m[o.kind](o).validate(), `${o.kind}/${o.metadata.name}`).not.toThrow();
        if (o.kind !== 'Namespace') expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('tessera');
      }
      // The KEDA schema does reject a broken ScaledObject.
      const { ScaledObject } = await import('@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject');
      const bad = structuredClone(of(objs, 'ScaledObject')[0]) as any;
      delete bad.spec.scaleTargetRef;
      expect(() => new ScaledObject(bad).validate()).toThrow();
    });

    it('one Deployment per class on its own node pool, scaled from zero on that class by its ScaledObject', () => {
      const objs = auto();
      const known = new Set(table.classesGb.map((gb) => classLabel(gb)));
      for (const so of of(objs, 'ScaledObject')) {
        const dep = one(objs, 'Deployment', so.spec.scaleTargetRef.name);
        const cls = dep.metadata.labels!['tessera.io/vram-class'];
        expect(known, `${dep.metadata.name}: class ${cls}`).toContain(cls);
        expect(dep.spec.template.spec.nodeSelector['tessera.io/vram-class']).toBe(cls);
        expect(dep.spec.selector.matchLabels['tessera.io/vram-class']).toBe(cls);
        expect(so.spec.minReplicaCount, so.metadata.name).toBe(0);
        expect(so.spec.maxReplicaCount).toBeGreaterThan(0);
        const [trigger] = so.spec.triggers;
        expect(trigger.type).toBe('prometheus');
        expect(trigger.metadata.serverAddress).toMatch(/^https?:\/\//);
        expect(Number(trigger.metadata.threshold)).toBeGreaterThan(0);
        const query: string = trigger.metadata.query;
        expect(metricNamesIn(query).sort()).toEqual(['tessera_agents', 'tessera_shards_queued']);
        expect(query).toContain(`tessera_shards_queued{required_class="${cls}"}`);
        expect(query).toContain(`tessera_agents{vram_class="${cls}",state="busy"}`);
        // Scale-down is a SIGTERM: the agent drains within the grace period.
        expect(dep.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(60);
      }
    });

    it("its agents run exactly as the DaemonSet's (same image, env, probes, security), and the DaemonSet leaves their pools", () => {
      const objs = auto();
      const ds = one(objs, 'DaemonSet', 'tessera-agent');
      const dsAgent = ds.spec.template.spec.containers[0];
      for (const dep of of(objs, 'Deployment').filter((d) => d.metadata.labels?.['tessera.io/vram-class'])) {
        const pod = dep.spec.template.spec;
        const a = pod.containers[0];
        const where = dep.metadata.name;
        expect(a.image, where).toBe(dsAgent.image);
        expect(
          a.env.map((e: any) => e.name),
          where,
        ).toEqual(dsAgent.env.map((e: any) => e.name));
        for (const e of a.env.filter((x: any) => x.name !== 'TESSERA_AGENT_NAME'))
          expect(e, `${where} ${e.name}`).toEqual(dsAgent.env.find((x: any) => x.name === e.name));
        for (const k of ['ports', 'startupProbe', 'readinessProbe', 'livenessProbe', 'securityContext', 'volumeMounts'])
          expect(a[k], `${where} ${k}`).toEqual(dsAgent[k]);
        for (const k of ['securityContext', 'serviceAccountName', 'runtimeClassName', 'tolerations'])
          expect(pod[k], `${where} ${k}`).toEqual(ds.spec.template.spec[k]);
        // The same volumes, except that the model cache is per pod (two pods may share a node; one cache
        // directory serves one agent process) where the DaemonSet's is the node's hostPath.
        const vols = (p: any) => p.volumes.filter((v: any) => v.name !== 'model-cache');
        expect(vols(pod), `${where} volumes`).toEqual(vols(ds.spec.template.spec));
        expect(pod.volumes.find((v: any) => v.name === 'model-cache').emptyDir, `${where} model-cache`).toBeDefined();
        expect(String(a.resources.limits['nvidia.com/gpu'])).toBe('1');
        // Its pods are agents to the Service, ServiceMonitor and NetworkPolicy of the agents.
        expect(dep.spec.template.metadata.labels['app.kubernetes.io/name']).toBe('agent');
      }
      expect(
        ds.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]
          .matchExpressions,
      ).toEqual([{ key: 'tessera.io/vram-class', operator: 'DoesNotExist' }]);
    });
  });
});
