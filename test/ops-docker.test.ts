/**
 * Issue 4, "Operate it" — images. No Docker engine runs here, so the Dockerfiles are checked
 * statically: parsed with `dockerfile-ast` and linted with `dockerfile-utils` (the parser and linter
 * of the Docker language server), then held to what the deployment relies on: multi-stage builds, a
 * numeric non-root USER in the final stage, an exec-form ENTRYPOINT through an init, the ports the
 * manifests probe, onnxruntime-node's CUDA 12 install in the agent, and build contexts filtered by
 * a per-Dockerfile .dockerignore that keeps host node_modules out.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DockerfileParser, type Copy, type Env, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/process.js';

const DIR = join(repoRoot, 'deploy/docker');

interface Stage {
  name: string;
  image: string;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages, resolving `FROM ${ARG}` with the ARG defaults before the first FROM. */
function stagesOf(file: string): Stage[] {
  const df = DockerfileParser.parse(readFileSync(join(DIR, file), 'utf8'));
  const args = new Map<string, string>();
  for (const a of df.getInitialARGs()) {
    const p = a.getProperty();
    if (p?.getValue()) args.set(p.getName(), p.getValue()!);
  }
  const stages: Stage[] = [];
  for (const i of df.getInstructions()) {
    if (i.getKeyword() === 'FROM') {
      const [image, , name] = (i.getArgumentsContent() ?? '').split(/\s+/);
      stages.push({
        name: name ?? String(stages.length),
        image: image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args.get(a ?? b) ?? ''),
        instructions: [],
      });
    } else if (stages.length) stages.at(-1)!.instructions.push(i);
  }
  return stages;
}

const envOf = (s: Stage) =>
  new Map(
    s.instructions
      .filter((i) => i.getKeyword() === 'ENV')
      .flatMap((i) => (i as Env).getProperties().map((p) => [p.getName(), p.getValue() ?? ''] as const)),
  );
const args = (i: Instruction) => i.getArgumentsContent() ?? '';
/** The stage a COPY copies from (its --from flag), or undefined for the build context. */
const copyFrom = (i: Instruction) =>
  i.getKeyword() === 'COPY'
    ? ((i as Copy)
        .getFlags()
        .find((f) => f.getName() === 'from')
        ?.getValue() ?? undefined)
    : undefined;
const runs = (s: Stage) => s.instructions.filter((i) => i.getKeyword() === 'RUN').map(args);

describe('operations: Dockerfiles', () => {
  for (const svc of ['coordinator', 'agent'] as const) {
    const file = `Dockerfile.${svc}`;
    const port = svc === 'coordinator' ? '9464' : '9465';

    describe(file, () => {
      const text = readFileSync(join(DIR, file), 'utf8');
      const stages = stagesOf(file);
      const final = stages.at(-1)!;

      it('has no lint errors (dockerfile-utils)', () => {
        const problems = validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`);
        expect(problems).toEqual([]);
        // The linter does report broken files (the check can fail).
        expect(validate('FROM node:20\nUSER\nEXPOSE abc\n').length).toBeGreaterThanOrEqual(2);
      });

      it('is multi-stage, each COPY --from naming an earlier stage', () => {
        expect(stages.length).toBeGreaterThanOrEqual(3);
        stages.forEach((s, n) => {
          for (const c of s.instructions.filter((i) => i.getKeyword() === 'COPY')) {
            const from = copyFrom(c);
            if (from)
              expect(
                stages.slice(0, n).map((x) => x.name),
                `${s.name}: ${args(c)}`,
              ).toContain(from);
          }
        });
        expect(final.instructions.filter((i) => copyFrom(i)).length).toBeGreaterThanOrEqual(2);
        // The build stage compiles; the final image does not carry the compiler.
        expect(stages.some((s) => runs(s).some((r) => r.includes(`tsc -b services/${svc}`)))).toBe(true);
        expect(runs(final).join('\n')).not.toMatch(/npm ci|tsc/);
      });

      it('runs as a numeric non-root USER in the final stage', () => {
        const users = final.instructions.filter((i) => i.getKeyword() === 'USER').map(args);
        expect(users.length).toBeGreaterThan(0);
        const [uid, gid] = users.at(-1)!.split(':');
        expect(Number(uid)).toBeGreaterThan(0);
        expect(Number(gid ?? uid)).toBeGreaterThan(0);
        // The same UID the manifests set, so a volume's fsGroup and runAsUser line up.
        const manifest = readFileSync(join(repoRoot, `deploy/k8s/base/${svc}.yaml`), 'utf8');
        expect(manifest).toMatch(new RegExp(`runAsUser: ${uid}\\b`));
        const later = final.instructions.slice(final.instructions.findIndex((i) => i.getKeyword() === 'USER'));
        expect(later.filter((i) => i.getKeyword() === 'RUN')).toEqual([]);
      });

      it('starts the service binary in exec form under tini, on the probed port', () => {
        const ep = final.instructions.filter((i) => i.getKeyword() === 'ENTRYPOINT').map(args);
        expect(ep).toHaveLength(1);
        const argv = JSON.parse(ep[0]) as string[];
        expect(argv.slice(0, 3)).toEqual(['/usr/bin/tini', '--', 'node']);
        expect(existsSync(join(repoRoot, argv[3])), argv[3]).toBe(true);
        expect(argv[3]).toBe(`services/${svc}/bin/tessera-${svc}.js`);
        expect(envOf(final).get('TESSERA_METRICS_ADDR')).toBe(`0.0.0.0:${port}`);
        expect(
          final.instructions
            .filter((i) => i.getKeyword() === 'EXPOSE')
            .map(args)
            .join(' '),
        ).toContain(port);
        // proto/ is where TESSERA_PROTO_DIR points (gRPC server reflection).
        expect(envOf(final).get('TESSERA_PROTO_DIR')).toBe('/app/proto/');
        expect(final.instructions.some((i) => copyFrom(i) === 'build' && args(i) === '/src/proto/ proto/')).toBe(true);
      });

      it('builds from files the repository has, through a .dockerignore that drops node_modules', () => {
        for (const s of stages) {
          for (const c of s.instructions.filter((i) => i.getKeyword() === 'COPY' && !copyFrom(i))) {
            const parts = args(c).split(/\s+/);
            for (const src of parts.slice(0, -1))
              expect(existsSync(join(repoRoot, src)), `${file}: COPY ${src}`).toBe(true);
          }
        }
        const ignore = readFileSync(join(DIR, `${file}.dockerignore`), 'utf8')
          .split('\n')
          .map((l) => l.trim());
        expect(ignore).toContain('**/node_modules');
        expect(ignore).toContain('**/dist');
        expect(ignore.indexOf('**/node_modules')).toBeGreaterThan(ignore.indexOf('!libs/**'));
      });
    });
  }

  describe('Dockerfile.agent: CUDA', () => {
    const stages = stagesOf('Dockerfile.agent');

    it('runs on a CUDA 12 + cuDNN runtime base with the Node.js binary copied in', () => {
      const final = stages.at(-1)!;
      expect(final.image).toMatch(/^nvidia\/cuda:12\.[\d.]+-cudnn-runtime-ubuntu/);
      expect(
        final.instructions.some((i) => copyFrom(i) === 'node' && args(i) === '/usr/local/bin/node /usr/local/bin/node'),
      ).toBe(true);
      expect(envOf(final).get('NVIDIA_DRIVER_CAPABILITIES')).toContain('utility');
    });

    it('installs onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 and its install script allowed', () => {
      const deps = stages.find((s) => runs(s).some((r) => r.includes('npm ci --omit=dev')))!;
      expect(deps).toBeDefined();
      const envAt = deps.instructions.findIndex(
        (i) =>
          i.getKeyword() === 'ENV' &&
          (i as Env).getProperties().some((p) => p.getName() === 'ONNXRUNTIME_NODE_INSTALL'),
      );
      const ciAt = deps.instructions.findIndex((i) => i.getKeyword() === 'RUN' && args(i).includes('npm ci'));
      expect(envOf(deps).get('ONNXRUNTIME_NODE_INSTALL')).toBe('cuda12');
      expect(envAt).toBeGreaterThanOrEqual(0);
      expect(envAt).toBeLessThan(ciAt);
      const ci = args(deps.instructions[ciAt]);
      expect(ci).toContain('npm pkg set allowScripts.onnxruntime-node=true --json');
      expect(ci).toContain('libonnxruntime_providers_cuda.so');
    });

    it('the coordinator image installs ffmpeg in its final stage (MP4 output and input)', () => {
      const final = stagesOf('Dockerfile.coordinator').at(-1)!;
      const install = runs(final).find((r) => /apt-get install/.test(r));
      expect(install).toBeDefined();
      const packages = install!
        .slice(install!.indexOf('apt-get install'))
        .split('&&')[0]
        .split(/\s+/)
        .filter((w) => /^[a-z0-9][a-z0-9.+-]*$/.test(w));
      expect(packages).toContain('ffmpeg');
    });

    it('no build copies the .npmrc (allowScripts in package.json and ONNXRUNTIME_NODE_INSTALL keep image installs offline)', () => {
      for (const f of ['Dockerfile.coordinator', 'Dockerfile.agent'])
        expect(readFileSync(join(DIR, f), 'utf8')).not.toContain('.npmrc');
    });

    it('the coordinator image does not install the CUDA provider', () => {
      const text = readFileSync(join(DIR, 'Dockerfile.coordinator'), 'utf8');
      expect(text).not.toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda/);
      expect(stagesOf('Dockerfile.coordinator').flatMap(runs).join('\n')).toContain('--workspace services/coordinator');
    });
  });
});
