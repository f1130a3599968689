/**
 * Issue 4, "Operate it" — Kubernetes side. `kubectl kustomize` renders the base and every overlay
 * of deploy/k8s offline; every rendered object validates against the Kubernetes (and Prometheus
 * Operator) schemas of `kubernetes-models`, and, strictly, against their TypeScript types (the
 * schemas allow unknown fields, so a misspelt `readinesProbe` would pass them; excess-property
 * checks of tsc do not). Then what an operator relies on: the agent asks for a GPU on GPU nodes,
 * every container has probes on a port it opens and runs as non-root with a read-only root, names
 * and references agree, NATS forms a 3-node JetStream cluster whose config nats-server accepts, the
 * PrometheusRule equals the rule file, and every TESSERA_* variable set is one the service reads.
 */
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/process.js';
import {
  CLUSTER_SCOPED,
  OVERLAYS,
  RENDERS,
  containersOf,
  envOf,
  gate,
  modelFile,
  modelModule,
  of,
  one,
  useRenderedManifests,
  workloads,
  type Container,
  type Obj,
} from './helpers/k8s-manifests.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped JSON */

describe.skipIf(gate.skip)('operations: Kubernetes manifests', () => {
  const { rendered, tmp } = useRenderedManifests();

  it('kubectl kustomize renders the base and every overlay (dev and prod at least)', () => {
    expect(OVERLAYS).toEqual(expect.arrayContaining(['dev', 'prod']));
    for (const r of RENDERS) {
      const kinds = rendered.get(r)!.map((o) => o.kind);
      expect(kinds, r).toEqual(
        expect.arrayContaining([
          'Namespace',
          'ConfigMap',
          'Service',
          'StatefulSet',
          'Deployment',
          'DaemonSet',
          'ServiceMonitor',
          'PrometheusRule',
          'NetworkPolicy',
          'PodDisruptionBudget',
        ]),
      );
    }
  });

  it('every rendered object validates against its Kubernetes schema', async () => {
    for (const r of RENDERS) {
      for (const o of rendered.get(r)!) {
        const where = `${r}: ${o.kind}/${o.metadata?.name}`;
        expect(existsSync(modelFile(o.apiVersion, o.kind)), `${where}: no schema for ${o.apiVersion} ${o.kind}`).toBe(
          true,
        );
        const mod = (await import(modelModule(o.apiVersion, o.kind))) as Record<
          string,
          new (d: unknown) => { validate(): void }
        >;
        expect(() => new mod[o.kind](o).validate(), where).not.toThrow();
      }
    }
  });

  it('the schema validation does reject a wrong object (the check can fail)', async () => {
    const { Deployment } = await import('kubernetes-models/apps/v1/Deployment');
    const bad = structuredClone(one(rendered.get('overlays/prod')!, 'Deployment', 'tessera-coordinator')) as any;
    bad.spec.template.spec.containers[0].ports[0].containerPort = '50051';
    expect(() => new Deployment(bad).validate()).toThrow(/containerPort must be integer/);
  });

  it('no rendered object has a field its Kubernetes type does not know (tsc excess-property check)', () => {
    symlinkSync(join(repoRoot, 'node_modules'), join(tmp, 'node_modules'));
    const files: string[] = [];
    const write = (name: string, objs: Obj[]) => {
      const lines = objs.map((o, i) => `import { ${o.kind} as M${i} } from '${modelModule(o.apiVersion, o.kind)}';`);
      // The constructors take the object without apiVersion/kind (the runtime schema checks those).
      lines.push(...objs.map(({ apiVersion: _v, kind: _k, ...rest }, i) => `new M${i}(${JSON.stringify(rest)});`));
      const f = join(tmp, `${name}.ts`);
      writeFileSync(f, `${lines.join('\n')}\n`);
      files.push(f);
      return f;
    };
    for (const r of RENDERS) write(r.replace('/', '-'), rendered.get(r)!);
    // A control with one misspelt field, to prove the check sees such mistakes.
    const control = structuredClone(one(rendered.get('base')!, 'DaemonSet', 'tessera-agent')) as any;
    control.spec.template.spec.containers[0].readinesProbe = control.spec.template.spec.containers[0].readinessProbe;
    const controlFile = write('control', [control]);
    const program = ts.createProgram(files, {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
    });
    const problems = ts
      .getPreEmitDiagnostics(program)
      .map(
        (d) =>
          `${d.file?.fileName.slice(tmp.length + 1) ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ').slice(0, 300)}`,
      );
    const controlName = controlFile.slice(tmp.length + 1);
    expect(problems.filter((p) => p.startsWith(controlName)).join('\n')).toMatch(/'"readinesProbe"' does not exist/);
    expect(problems.filter((p) => !p.startsWith(controlName))).toEqual([]);
  });

  it('every namespaced object lands in the one Namespace the render creates', () => {
    for (const r of RENDERS) {
      const objs = rendered.get(r)!;
      const ns = of(objs, 'Namespace');
      expect(ns, r).toHaveLength(1);
      for (const o of objs.filter((x) => !CLUSTER_SCOPED.has(x.kind)))
        expect(o.metadata.namespace, `${r}: ${o.kind}/${o.metadata.name}`).toBe(ns[0].metadata.name);
      expect(ns[0].metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    }
  });

  it('the agent DaemonSet requests a GPU and runs only on GPU nodes', () => {
    for (const r of RENDERS) {
      const ds = one(rendered.get(r)!, 'DaemonSet', 'tessera-agent');
      const pod = ds.spec.template.spec;
      const [agent] = pod.containers as Container[];
      expect(String(agent.resources.limits['nvidia.com/gpu']), r).toBe('1');
      expect(pod.runtimeClassName, r).toBe('nvidia');
      expect(pod.nodeSelector, r).toEqual({ 'nvidia.com/gpu.present': 'true' });
      expect(pod.tolerations, r).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }),
        ]),
      );
      expect(envOf(agent, 'TESSERA_METRICS_ADDR')?.value, r).toBe('0.0.0.0:9465');
      expect(agent.ports?.find((p) => p.name === 'metrics')?.containerPort, r).toBe(9465);
      expect(agent.volumeMounts?.map((m) => m.mountPath)).toEqual(
        expect.arrayContaining(['/tmp', envOf(agent, 'TESSERA_MODEL_CACHE')?.value]),
      );
    }
  });

  it('every container has readiness and liveness probes on a port it opens', () => {
    for (const r of RENDERS) {
      for (const w of workloads(rendered.get(r)!)) {
        for (const c of containersOf(w)) {
          const where = `${r}: ${w.kind}/${w.metadata.name}/${c.name}`;
          for (const probe of [c.readinessProbe, c.livenessProbe]) {
            expect(probe, where).toBeDefined();
            const port = probe.httpGet?.port ?? probe.tcpSocket?.port ?? probe.grpc?.port;
            expect(port, `${where}: probe without a port`).toBeDefined();
            expect(
              c.ports?.some((p) => p.name === port || p.containerPort === port),
              `${where}: probe port ${port} is not a container port`,
            ).toBe(true);
          }
        }
      }
      // The Tessera services' probes are the endpoints libs/runtime/src/http.ts serves.
      for (const [kind, name, port] of [
        ['Deployment', 'tessera-coordinator', 9464],
        ['DaemonSet', 'tessera-agent', 9465],
      ] as const) {
        const [c] = one(rendered.get(r)!, kind, name).spec.template.spec.containers as Container[];
        expect(c.readinessProbe.httpGet.path).toBe('/readyz');
        expect(c.livenessProbe.httpGet.path).toBe('/healthz');
        expect(c.ports?.find((p) => p.name === c.readinessProbe.httpGet.port)?.containerPort).toBe(port);
      }
    }
  });

  it('every container runs as non-root with a read-only root filesystem and no privileges', () => {
    for (const r of RENDERS) {
      for (const w of workloads(rendered.get(r)!)) {
        const pod = w.spec.template.spec;
        expect(pod.automountServiceAccountToken, `${r}: ${w.metadata.name}`).toBe(false);
        for (const c of containersOf(w)) {
          const where = `${r}: ${w.kind}/${w.metadata.name}/${c.name}`;
          const sc = { ...pod.securityContext, ...c.securityContext };
          expect(sc.runAsNonRoot, where).toBe(true);
          expect(sc.runAsUser, where).toBeGreaterThan(0);
          expect(sc.readOnlyRootFilesystem, where).toBe(true);
          expect(sc.allowPrivilegeEscalation, where).toBe(false);
          expect(sc.capabilities?.drop, where).toContain('ALL');
          expect(sc.capabilities?.add ?? [], where).toEqual([]);
          expect(sc.seccompProfile?.type, where).toBe('RuntimeDefault');
          expect(sc.privileged ?? false, where).toBe(false);
          // A read-only root needs a writable /tmp.
          const tmpMount = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
          expect(
            pod.volumes.find((v: any) => v.name === tmpMount?.name)?.emptyDir,
            `${where}: /tmp is not an emptyDir`,
          ).toBeDefined();
        }
      }
    }
  });
});
