/**
 * Flux's pure pieces against diffusers' definitions:
 * - `_pack_latents` is `view(B, C, h/2, 2, w/2, 2).permute(0, 2, 4, 1, 3, 5).reshape(B, h/2·w/2, 4C)`; the test
 *   re-derives it from those strides rather than from packLatents' loops;
 * - μ and the shifted schedule: diffusers' `calculate_shift` (pipelines/flux/pipeline_flux.py) and
 *   FlowMatchEulerDiscreteScheduler.set_timesteps with `use_dynamic_shifting` (time_shift: e^μ / (e^μ + (1/σ − 1))),
 *   the expected numbers computed with numpy in float32 exactly as those functions do:
 *     s = np.linspace(1.0, 1/N, N).astype(np.float32); s = math.exp(mu) / (math.exp(mu) + (1/s - 1)); t = s * 1000
 */
import { describe, expect, it } from 'vitest';
import { FlowMatchEulerDiscreteScheduler } from '../../schedulers/flow-match-euler-discrete.js';
import {
  fluxImg2ImgStart,
  fluxMu,
  fluxSigmas,
  imageSeqLen,
  latentImageIds,
  packLatents,
  unpackLatents,
} from './flux-latents.js';

const DEV_CONFIG = {
  _class_name: 'FlowMatchEulerDiscreteScheduler',
  num_train_timesteps: 1000,
  shift: 3.0,
  use_dynamic_shifting: true,
  base_shift: 0.5,
  max_shift: 1.15,
  base_image_seq_len: 256,
  max_image_seq_len: 4096,
};

describe('Flux latent packing', () => {
  it('packs as view(C, h/2, 2, w/2, 2).permute(1, 3, 0, 2, 4) and unpacks back', () => {
    const [C, h, w] = [3, 4, 6];
    const x = Float32Array.from({ length: C * h * w }, (_, i) => i);
    const packed = packLatents(x, C, h, w);
    // Strided reading of the permuted view: output index (i, j, c, di, dj) ← input (c, i, di, j, dj).
    const expected: number[] = [];
    for (let i = 0; i < h / 2; i++)
      for (let j = 0; j < w / 2; j++)
        for (let c = 0; c < C; c++)
          for (let di = 0; di < 2; di++)
            for (let dj = 0; dj < 2; dj++) expected.push(x[c * h * w + (i * 2 + di) * w + j * 2 + dj]);
    expect(Array.from(packed)).toEqual(expected);
    expect(Array.from(unpackLatents(packed, C, h, w))).toEqual(Array.from(x));
    expect(() => packLatents(x, C, 3, 8)).toThrow(RangeError);
  });

  it('latent image ids are (0, row, column) of the packed grid; the sequence length is (h/2)·(w/2)', () => {
    expect(Array.from(latentImageIds(4, 6))).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 1, 0, 1, 2]);
    expect(imageSeqLen(128, 128)).toBe(4096); // 1024×1024 px
    expect(imageSeqLen(8, 8)).toBe(16);
  });
});

describe('Flux dynamic shifting (μ from the image sequence length)', () => {
  it('calculate_shift: 0.5 at 256 tokens, 1.15 at 4096, on the line between', () => {
    expect(fluxMu(256, DEV_CONFIG)).toBeCloseTo(0.5, 12);
    expect(fluxMu(4096, DEV_CONFIG)).toBeCloseTo(1.15, 12);
    expect(fluxMu(1024, DEV_CONFIG)).toBeCloseTo(0.63, 12); // 512×512 px
    expect(fluxMu(16, DEV_CONFIG)).toBeCloseTo(0.459375, 12); // 64×64 px (the tiny models)
    // The config's keys are read: a different max_shift moves μ.
    expect(fluxMu(4096, { ...DEV_CONFIG, max_shift: 1.5 })).toBeCloseTo(1.5, 12);
  });

  const cases: [string, number, number, number[], number[], number][] = [
    // [label, steps, tokens, first σ, first timesteps, Σσ]
    [
      '64×64 px, 4 steps',
      4,
      16,
      [1.0, 0.8260643482208252, 0.6128659248352051, 0.3454189896583557],
      [1000.0, 826.0643310546875, 612.8659057617188, 345.4189758300781],
      2.784349203109741,
    ],
    [
      '512×512 px, 4 steps',
      4,
      1024,
      [1.0, 0.8492348194122314, 0.652489423751831, 0.38494473695755005],
      [1000.0, 849.2348022460938, 652.4894409179688, 384.9447326660156],
      2.8866689205169678,
    ],
    [
      '1024×1024 px, 28 steps',
      28,
      4096,
      [1.0, 0.988408625125885, 0.9762224555015564, 0.9633944034576416],
      [1000.0, 988.4086303710938, 976.22247314453, 963.3944091796875],
      19.632335662841797,
    ],
  ];
  it.each(cases)(
    'FLUX.1-dev schedule, %s, equals diffusers’ set_timesteps(sigmas, mu)',
    (_l, steps, tokens, s, t, sum) => {
      const sch = FlowMatchEulerDiscreteScheduler.fromDiffusersConfig(DEV_CONFIG);
      sch.setTimesteps(null, { sigmas: fluxSigmas(steps), mu: fluxMu(tokens, DEV_CONFIG) });
      expect(sch.timesteps.length).toBe(steps);
      s.forEach((v, i) => expect(sch.sigmas[i]).toBeCloseTo(v, 6));
      t.forEach((v, i) => expect(sch.timesteps[i]).toBeCloseTo(v, 3));
      const total = Array.from(sch.sigmas.subarray(0, steps)).reduce((a, b) => a + b, 0);
      expect(total).toBeCloseTo(sum, 5);
      expect(sch.sigmas[steps]).toBe(0);
    },
  );

  it('schnell (shift 1, no dynamic shifting) runs the plain linspace(1, 1/N, N)', () => {
    const sch = FlowMatchEulerDiscreteScheduler.fromDiffusersConfig({
      ...DEV_CONFIG,
      use_dynamic_shifting: false,
      shift: 1,
    });
    sch.setTimesteps(null, { sigmas: fluxSigmas(4), mu: fluxMu(16, DEV_CONFIG) });
    expect(Array.from(sch.sigmas)).toEqual([1, 0.75, 0.5, 0.25, 0]);
  });

  it('img2img start keeps the fractional steps·strength (FluxImg2ImgPipeline.get_timesteps)', () => {
    expect(fluxImg2ImgStart(6, 0.5)).toBe(3);
    expect(fluxImg2ImgStart(4, 0.3)).toBe(2); // init 1.2 → t_start int(2.8) = 2 (SD 1.x's int() would give 3)
    expect(fluxImg2ImgStart(4, 1)).toBe(0);
    expect(fluxImg2ImgStart(4, 0.1)).toBe(3);
  });
});
