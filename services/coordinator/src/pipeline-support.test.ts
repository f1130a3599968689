import { describe, expect, it } from 'vitest';
import { deriveStageSeed } from '@tessera/protocol';
import { loadHardwareTable, type ModelRow } from '@tessera/hardware';
import { InvalidArgumentError } from './errors.js';
import { checkPipelineRequest, renderedSize, requireEnginePipeline, stageUsesOwnDefaults } from './pipeline-support.js';
import { resolveImageParams, type ImageRequest } from './planner-image.js';
import { deriveSeed, planUpscale } from './planner.js';
import { compileCoordinatorOptions } from './options.js';

const row = (over: Partial<ModelRow>): ModelRow => ({
  id: 'm',
  family: 'x',
  kind: 'image',
  minVramGb: 6,
  source: 'test',
  ...over,
});
const req = (model: string, over: Partial<ImageRequest> = {}): ImageRequest => ({
  model,
  prompt: 'a cat',
  negativePrompt: '',
  width: 0,
  height: 0,
  steps: 0,
  guidanceScale: 0,
  strength: 0,
  scheduler: '',
  refine: false,
  highNoiseFrac: 0,
  ...over,
});
const fieldOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return `${(e as InvalidArgumentError).field}: ${(e as Error).message}`;
  }
  throw new Error('expected InvalidArgumentError');
};

describe('engine pipeline support at submit', () => {
  it('a row without a pipeline, or naming one the engine lacks, is refused naming the model', () => {
    expect(requireEnginePipeline(row({ pipeline: 'stable-cascade' }), 'image.model')).toBe('stable-cascade');
    expect(fieldOf(() => requireEnginePipeline(row({ id: 'my-model' }), 'image.model'))).toMatch(
      /^image\.model: .*model my-model: no engine pipeline runs it \(its hardware-table row names no pipeline/,
    );
    expect(fieldOf(() => requireEnginePipeline(row({ id: 'px', pipeline: 'pixart-x' }), 'image.model'))).toMatch(
      /model px: no engine pipeline runs it \(its row names pipeline pixart-x, which the engine does not implement/,
    );
  });

  it('the bundled table: every image row of the engine plans; Cascade sizes are multiples of 128, no scheduler, no img2img', () => {
    const table = loadHardwareTable();
    for (const id of ['sd15', 'sd21', 'sdxl', 'sd35m', 'cascade', 'hunyuan-dit-1.2']) {
      expect(resolveImageParams(req(id), table).row.id).toBe(id);
    }
    expect(resolveImageParams(req('cascade', { width: 128, height: 256 }), table).params.stages).toEqual([
      'c',
      'b',
      'a',
    ]);
    expect(fieldOf(() => resolveImageParams(req('cascade', { width: 200, height: 128 }), table))).toMatch(
      /^image\.width: .*200 is not a multiple of 128, which cascade needs/,
    );
    expect(fieldOf(() => resolveImageParams(req('cascade', { scheduler: 'euler' }), table))).toMatch(
      /^image\.scheduler/,
    );
    expect(
      fieldOf(() => resolveImageParams(req('cascade', { init: { width: 128, height: 128 }, strength: 0.5 }), table)),
    ).toMatch(/^image\.init_image: .*no img2img/);
    expect(fieldOf(() => resolveImageParams(req('sd35m', { width: 72, height: 64 }), table))).toMatch(/multiple of 16/);
    expect(() =>
      checkPipelineRequest(
        'stable-diffusion',
        { model: 'sd15', width: 72, height: 64, scheduler: 'euler', img2img: true },
        'image',
      ),
    ).not.toThrow();
  });

  it('Hunyuan-DiT jobs record the binned size the engine renders (diffusers map_to_standard_shapes)', () => {
    const table = loadHardwareTable();
    const size = (w: number, h: number) => {
      const p = resolveImageParams(req('hunyuan-dit-1.2', { width: w, height: h }), table).params;
      return [p.width, p.height];
    };
    expect(size(0, 0)).toEqual([1024, 1024]);
    expect(size(64, 64)).toEqual([1024, 1024]);
    expect(size(800, 600)).toEqual([1024, 768]);
    expect(size(1920, 1088)).toEqual([1280, 768]);
    expect(size(960, 1280)).toEqual([960, 1280]);
    expect(renderedSize('stable-diffusion', 64, 48)).toEqual({ width: 64, height: 48 });
    expect(fieldOf(() => resolveImageParams(req('hunyuan-dit-1.2', { scheduler: 'ddim' }), table))).toMatch(
      /^image\.scheduler/,
    );
  });

  it('upscale refine tiles need an img2img pipeline: Hunyuan-DiT is refused at submit, SD accepted', () => {
    const plan = (model: string) =>
      planUpscale(
        {
          jobId: 'j',
          name: '',
          model: 'esrgan-slim-x2',
          seed: 1,
          priority: 0,
          maxAttempts: 3,
          width: 64,
          height: 64,
          tile: 0,
          overlap: 0,
          agents: 1,
          nowMs: 0,
          refine: {
            model,
            prompt: 'x',
            negativePrompt: '',
            strength: 0,
            steps: 0,
            guidanceScale: 0,
            tile: 0,
            overlap: 0,
            scheduler: '',
          },
        },
        loadHardwareTable(),
        compileCoordinatorOptions(),
      );
    expect(fieldOf(() => plan('hunyuan-dit-1.2'))).toMatch(
      /^upscale\.refine\.model: .*hunyuan-dit-1\.2 has no img2img pipeline/,
    );
    expect(plan('sd15').shards.some((s) => s.stage === 'refine')).toBe(true);
  });

  it('Cascade stages after the first run their own defaults; other chains keep the job parameters', () => {
    expect([0, 1, 2].map((i) => stageUsesOwnDefaults(['c', 'b', 'a'], i))).toEqual([false, true, true]);
    expect(stageUsesOwnDefaults(['base', 'refiner'], 1)).toBe(false);
  });

  it("the protocol's deriveStageSeed is the planner's deriveSeed", () => {
    for (const seed of [0, 1, 42, 2 ** 31, 2 ** 53 - 1]) {
      for (const [stage, i] of [
        ['b', 1],
        ['a', 2],
        ['refiner', 1],
        ['refine', 7],
      ] as const) {
        expect(deriveStageSeed(seed, stage, i)).toBe(deriveSeed(seed, stage, i));
      }
    }
  });
});
