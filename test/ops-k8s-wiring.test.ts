/**
 * Issue 4, "Operate it" — Kubernetes side, how the rendered pieces fit together (the schemas and each
 * container's own checks are ops-k8s.test.ts): the coordinator's configuration, Services and policies
 * selecting pods that exist on ports they open, ConfigMaps and operator Secrets, TESSERA_* variables a
 * service reads, NATS as a 3-node JetStream cluster whose config nats-server accepts, prod and dev
 * sizes, the PrometheusRule equal to the rule file, and the optional gRPC security components.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { repoRoot } from './helpers/process.js';
import { OPERATOR_SECRETS } from './helpers/k8s.js';
import { runTool } from './helpers/prometheus.js';
import {
  K8S,
  RENDERS,
  containersOf,
  envNamesRead,
  envOf,
  gate,
  matches,
  of,
  one,
  run,
  useRenderedManifests,
  workloads,
  type Container,
  type Obj,
} from './helpers/k8s-manifests.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped JSON */

describe.skipIf(gate.skip)('operations: Kubernetes manifests', () => {
  const { rendered, tmp } = useRenderedManifests();

  it('the coordinator is configured by environment, serves gRPC and metrics through its Service', () => {
    for (const r of RENDERS) {
      const objs = rendered.get(r)!;
      const d = one(objs, 'Deployment', 'tessera-coordinator');
      const [c] = d.spec.template.spec.containers as Container[];
      expect(envOf(c, 'TESSERA_GRPC_ADDR')?.value).toBe('0.0.0.0:50051');
      expect(envOf(c, 'TESSERA_METRICS_ADDR')?.value).toBe('0.0.0.0:9464');
      expect(envOf(c, 'TESSERA_NATS_URL')?.value).toBe('nats://tessera-nats:4222');
      const svc = one(objs, 'Service', 'tessera-coordinator');
      expect(svc.spec.ports.map((p: any) => [p.port, p.targetPort])).toEqual([
        [50051, 'grpc'],
        [9464, 'metrics'],
      ]);
      expect(c.ports?.map((p) => [p.name, p.containerPort])).toEqual([
        ['grpc', 50051],
        ['metrics', 9464],
      ]);
    }
  });

  it('Services, ServiceMonitors and PDBs select pods that exist, on ports those pods open', () => {
    for (const r of RENDERS) {
      const objs = rendered.get(r)!;
      const pods = workloads(objs).map((w) => ({
        labels: w.spec.template.metadata.labels as Record<string, string>,
        containers: containersOf(w),
        w,
      }));
      for (const w of workloads(objs))
        expect(
          matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels),
          `${r}: ${w.metadata.name} selector`,
        ).toBe(true);
      for (const s of of(objs, 'Service')) {
        const target = pods.filter((p) => matches(s.spec.selector, p.labels));
        expect(target.length, `${r}: Service ${s.metadata.name} selects nothing`).toBeGreaterThan(0);
        for (const port of s.spec.ports) {
          for (const p of target)
            expect(
              p.containers.some((c) =>
                c.ports?.some((cp) => cp.name === port.targetPort || cp.containerPort === port.targetPort),
              ),
              `${r}: Service ${s.metadata.name} port ${port.name}`,
            ).toBe(true);
        }
      }
      for (const sm of of(objs, 'ServiceMonitor')) {
        const svcs = of(objs, 'Service').filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
        expect(svcs.length, `${r}: ServiceMonitor ${sm.metadata.name} selects no Service`).toBeGreaterThan(0);
        for (const e of sm.spec.endpoints)
          for (const s of svcs)
            expect(
              s.spec.ports.map((p: any) => p.name),
              `${r}: ${sm.metadata.name}`,
            ).toContain(e.port);
      }
      const monitored = of(objs, 'ServiceMonitor').map((sm) => sm.spec.selector.matchLabels['app.kubernetes.io/name']);
      expect(monitored.sort()).toEqual(['agent', 'coordinator']);
      const pdbs = of(objs, 'PodDisruptionBudget');
      expect(pdbs.map((p) => p.metadata.name).sort()).toEqual(['tessera-coordinator', 'tessera-nats']);
      for (const pdb of pdbs)
        expect(
          pods.filter((p) => matches(pdb.spec.selector.matchLabels, p.labels)).length,
          `${r}: PDB ${pdb.metadata.name}`,
        ).toBe(1);
    }
  });

  it('every ConfigMap a pod refers to is rendered, and every Secret is one the operator creates, with the key it names', () => {
    for (const r of RENDERS) {
      const objs = rendered.get(r)!;
      // Secrets are never shipped (test/ops-k8s-operator.test.ts): those pods name are created by the
      // operator, with the keys docs/operations.md's `kubectl create secret` commands give them.
      const keys = (kind: string, name: string) => {
        if (kind === 'Secret') return OPERATOR_SECRETS[name];
        const o = of(objs, kind, name)[0];
        return o ? Object.keys({ ...o.data, ...o.stringData }) : undefined;
      };
      for (const w of workloads(objs)) {
        for (const c of containersOf(w)) {
          for (const e of c.env ?? []) {
            const s = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
            if (!s) continue;
            const kind = e.valueFrom.secretKeyRef ? 'Secret' : 'ConfigMap';
            expect(keys(kind, s.name), `${r}: ${w.metadata.name} env ${e.name} → ${kind} ${s.name}`).toContain(s.key);
          }
        }
        for (const v of w.spec.template.spec.volumes ?? []) {
          if (v.configMap)
            expect(keys('ConfigMap', v.configMap.name), `${r}: ${w.metadata.name} volume ${v.name}`).toBeDefined();
          if (v.secret)
            expect(keys('Secret', v.secret.secretName), `${r}: ${w.metadata.name} volume ${v.name}`).toBeDefined();
        }
      }
      // The coordinator and the agents present their own role's user (one of permissions.conf) and
      // the password the NATS servers check for that user.
      const conf: string = one(objs, 'ConfigMap', 'tessera-nats-config').data['permissions.conf'];
      const natsEnv = (k: string, n: string, v: string) =>
        envOf((one(objs, k, n).spec.template.spec.containers as Container[])[0], v);
      for (const [kind, name, role] of [
        ['Deployment', 'tessera-coordinator', 'coordinator'],
        ['DaemonSet', 'tessera-agent', 'agent'],
      ] as const) {
        const user = natsEnv(kind, name, 'TESSERA_NATS_USER')?.value;
        expect(user, `${r}: ${name}`).toBe(`tessera-${role}`);
        expect(conf).toMatch(
          new RegExp(`user: "${user}"\\s+password: \\$TESSERA_NATS_${role.toUpperCase()}_PASSWORD\\s`),
        );
        expect(natsEnv(kind, name, 'TESSERA_NATS_PASSWORD')?.valueFrom?.secretKeyRef, `${r}: ${name}`).toEqual(
          natsEnv('StatefulSet', 'tessera-nats', `TESSERA_NATS_${role.toUpperCase()}_PASSWORD`)?.valueFrom
            ?.secretKeyRef,
        );
      }
      expect(
        natsEnv('StatefulSet', 'tessera-nats', 'TESSERA_NATS_VIEWER_PASSWORD')?.valueFrom?.secretKeyRef,
      ).toBeDefined();
    }
  });

  it('every TESSERA_* variable the manifests set is one the service reads', () => {
    const read = {
      coordinator: envNamesRead([
        'services/coordinator/src',
        'libs/runtime/src',
        'libs/protocol/src',
        'libs/hardware/src',
      ]),
      agent: envNamesRead([
        'services/agent/src',
        'libs/runtime/src',
        'libs/protocol/src',
        'libs/hardware/src',
        'libs/engine/src',
      ]),
    };
    const unread: string[] = [];
    for (const r of RENDERS) {
      const objs = rendered.get(r)!;
      for (const [svc, kind, name] of [
        ['coordinator', 'Deployment', 'tessera-coordinator'],
        ['agent', 'DaemonSet', 'tessera-agent'],
      ] as const) {
        for (const e of (one(objs, kind, name).spec.template.spec.containers as Container[])[0].env ?? []) {
          if (e.name.startsWith('TESSERA_') && !read[svc].has(e.name)) unread.push(`${r}: ${svc} ${e.name}`);
        }
      }
    }
    expect([...new Set(unread.map((u) => u.replace(/^[^:]+: /, '')))]).toEqual([]);
  });

  it('NATS runs as a 3-node JetStream cluster on volumes, routes naming each pod', () => {
    for (const r of RENDERS) {
      const objs = rendered.get(r)!;
      const sts = one(objs, 'StatefulSet', 'tessera-nats');
      expect(sts.spec.replicas).toBe(3);
      const headless = one(objs, 'Service', sts.spec.serviceName);
      expect(headless.spec.clusterIP).toBe('None');
      expect(headless.spec.publishNotReadyAddresses).toBe(true);
      const conf: string = one(objs, 'ConfigMap', 'tessera-nats-config').data['nats.conf'];
      const routes = [...conf.matchAll(/nats:\/\/([^:\s]+):6222/g)].map((m) => m[1]);
      expect(routes).toEqual([0, 1, 2].map((i) => `${sts.metadata.name}-${i}.${headless.metadata.name}`));
      const storeDir = /store_dir:\s*(\S+)/.exec(conf)?.[1] ?? '';
      const [nats] = sts.spec.template.spec.containers as Container[];
      const dataMount = nats.volumeMounts?.find((m) => m.name === sts.spec.volumeClaimTemplates[0].metadata.name);
      expect(
        dataMount && storeDir.startsWith(`${dataMount.mountPath}/`),
        `store_dir ${storeDir} is not on the volume`,
      ).toBe(true);
      expect(conf).toMatch(/jetstream\s*\{/);
    }
  });

  it('the NATS permissions are deploy/nats/permissions.conf, verbatim', () => {
    for (const r of RENDERS) {
      const data = one(rendered.get(r)!, 'ConfigMap', 'tessera-nats-config').data;
      expect(data['permissions.conf'], r).toBe(readFileSync(join(repoRoot, 'deploy/nats/permissions.conf'), 'utf8'));
      expect(data['nats.conf'], r).toMatch(/^include \.\/permissions\.conf$/m);
    }
  });

  it('the rendered nats.conf is valid for nats-server (nats-server -t)', async () => {
    const data = one(rendered.get('overlays/prod')!, 'ConfigMap', 'tessera-nats-config').data;
    const conf: string = data['nats.conf'];
    const file = join(tmp, 'nats.conf');
    writeFileSync(file, conf.replace(/store_dir:\s*\S+/, `store_dir: ${join(tmp, 'js')}`));
    writeFileSync(join(tmp, 'permissions.conf'), data['permissions.conf']);
    const env = {
      ...process.env,
      POD_NAME: 'tessera-nats-0',
      TESSERA_NATS_COORDINATOR_PASSWORD: 'c',
      TESSERA_NATS_AGENT_PASSWORD: 'a',
      TESSERA_NATS_VIEWER_PASSWORD: 'v',
      JS_MAX_FILE_STORE: '45GB',
    };
    const ok = await run('nats-server', ['-c', file, '-t'], { env }).then(
      (x) => ({ code: 0, output: x.stdout + x.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, output: e.stdout + e.stderr }),
    );
    expect(ok.code, ok.output).toBe(0);
    // And it does reject a broken one.
    writeFileSync(file, conf.replace('jetstream {', 'jetstream {{'));
    const bad = await runTool('nats-server', ['-c', file, '-t']);
    expect(bad.code).not.toBe(0);
  });

  it('prod runs two coordinators spread over nodes and one NATS server per node; dev is small', () => {
    const prod = rendered.get('overlays/prod')!;
    const coord = one(prod, 'Deployment', 'tessera-coordinator');
    expect(coord.spec.replicas).toBe(2);
    expect(
      coord.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]
        .podAffinityTerm.topologyKey,
    ).toBe('kubernetes.io/hostname');
    const nats = one(prod, 'StatefulSet', 'tessera-nats');
    const anti = nats.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
    expect(anti.topologyKey).toBe('kubernetes.io/hostname');
    expect(matches(anti.labelSelector.matchLabels, nats.spec.template.metadata.labels)).toBe(true);
    const dev = rendered.get('overlays/dev')!;
    expect(one(dev, 'Deployment', 'tessera-coordinator').spec.replicas).toBe(1);
    const gi = (o: Obj) =>
      Number(/^(\d+)Gi$/.exec(o.spec.volumeClaimTemplates[0].spec.resources.requests.storage)?.[1]);
    expect(gi(one(dev, 'StatefulSet', 'tessera-nats'))).toBeLessThan(gi(nats));
    for (const [kind, name] of [
      ['Deployment', 'tessera-coordinator'],
      ['DaemonSet', 'tessera-agent'],
      ['StatefulSet', 'tessera-nats'],
    ] as const) {
      const image = (o: Obj[]) => (one(o, kind, name).spec.template.spec.containers as Container[])[0].image;
      expect(image(prod), `${name} image is pinned`).toMatch(/:[\w.-]+$/);
      expect(image(prod)).not.toMatch(/:latest$/);
      expect(image(dev)).toBeTruthy();
    }
  });

  it('the PrometheusRule carries exactly the rules of deploy/prometheus/tessera-rules.yaml', () => {
    const file = parseYaml(readFileSync(join(repoRoot, 'deploy/prometheus/tessera-rules.yaml'), 'utf8')) as {
      groups: unknown;
    };
    for (const r of RENDERS)
      expect(one(rendered.get(r)!, 'PrometheusRule', 'tessera').spec.groups, r).toEqual(file.groups);
  });

  it('NetworkPolicies deny ingress by default and open exactly NATS, gRPC and metrics', () => {
    for (const r of RENDERS) {
      const objs = rendered.get(r)!;
      const nps = of(objs, 'NetworkPolicy');
      expect(
        nps.some(
          (n) =>
            Object.keys(n.spec.podSelector).length === 0 && n.spec.policyTypes.includes('Ingress') && !n.spec.ingress,
        ),
      ).toBe(true);
      const open = (app: string) =>
        nps
          .filter((n) => n.spec.podSelector.matchLabels?.['app.kubernetes.io/name'] === app)
          .flatMap((n) => (n.spec.ingress ?? []).flatMap((i: any) => i.ports.map((p: any) => p.port)))
          .sort();
      expect(open('nats')).toEqual([4222, 6222]);
      expect(open('coordinator')).toEqual([50051, 9464]);
      expect(open('agent')).toEqual([9465]);
    }
  });

  it('the optional gRPC security components mount their Secrets where the coordinator is told to read them', async () => {
    // Not an overlay of their own: their Secrets are the operator's to create, so the base's
    // every-reference-is-rendered check cannot hold for them. Render prod + both components here.
    const root = join(tmp, 'components-check');
    cpSync(K8S, root, { recursive: true });
    const dir = join(root, 'overlays', 'secure');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources: [../prod]',
        'components: [../../components/grpc-tls, ../../components/api-tokens]',
        '',
      ].join('\n'),
    );
    const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 << 20 });
    const objs = parseAllDocuments(stdout)
      .map((d) => d.toJS() as Obj)
      .filter(Boolean);
    const dep = one(objs, 'Deployment', 'tessera-coordinator');
    const { Deployment } = await import('kubernetes-models/apps/v1/Deployment');
    expect(() => new Deployment(dep).validate()).not.toThrow();
    const c = containersOf(dep)[0];
    const files = {
      TESSERA_GRPC_TLS_CERT: ['tessera-grpc-tls', 'tls.crt'],
      TESSERA_GRPC_TLS_KEY: ['tessera-grpc-tls', 'tls.key'],
      TESSERA_GRPC_TLS_CLIENT_CA: ['tessera-grpc-tls', 'ca.crt'],
      TESSERA_API_TOKENS_FILE: ['tessera-api-tokens', 'tokens'],
    };
    const read = envNamesRead(['services/coordinator/src']);
    for (const [name, [secret, key]] of Object.entries(files)) {
      expect(read, name).toContain(name);
      const path: string = envOf(c, name)?.value;
      expect(path, name).toMatch(new RegExp(`/${key.replace('.', '\\.')}$`));
      const mount = c.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`));
      expect(mount, name).toMatchObject({ readOnly: true });
      const volume = dep.spec.template.spec.volumes.find((v: any) => v.name === mount.name);
      expect(volume.secret.secretName, name).toBe(secret);
    }
    // Everything else of prod is unchanged: NATS credentials, probes, the tmp volume.
    expect(envOf(c, 'TESSERA_NATS_PASSWORD')?.valueFrom?.secretKeyRef?.name).toBe('tessera-nats-auth');
    expect(c.volumeMounts?.map((m) => m.mountPath)).toContain('/tmp');
  });
});
