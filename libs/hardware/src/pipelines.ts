/**
 * Which image pipelines the engine (@tessera/engine, pipelines/) implements, by the names hardware-table rows use in
 * their `pipeline` key, and what each needs of a job's size. The coordinator refuses at submit a job whose model's
 * row names no pipeline from this list, so a job never waits to fail on an agent. Pure data; the engine's tests
 * check each name against a pipeline that loads (model_index.json class → pipeline).
 */

/**
 * Pipelines the engine runs, by table name: the diffusers pipeline each mirrors, the multiple its width and height
 * must be, whether it has img2img (diffusers has none for Cascade and Hunyuan-DiT), and whether a job may pick one of
 * the SD schedulers ('sd') or the pipeline runs only its own ('own').
 */
export const ENGINE_IMAGE_PIPELINES: Readonly<
  Record<string, { diffusers: string; sizeMultiple: number; img2img: boolean; schedulers: 'sd' | 'own' }>
> = {
  'stable-diffusion': { diffusers: 'StableDiffusionPipeline', sizeMultiple: 8, img2img: true, schedulers: 'sd' },
  'stable-diffusion-xl': { diffusers: 'StableDiffusionXLPipeline', sizeMultiple: 8, img2img: true, schedulers: 'sd' },
  'stable-diffusion-3': { diffusers: 'StableDiffusion3Pipeline', sizeMultiple: 16, img2img: true, schedulers: 'sd' },
  // C → B → A returns exactly the requested size only for multiples of 128 (⌈H/42.67⌉ · 10.67 truncated, × 4).
  'stable-cascade': {
    diffusers: 'StableCascadePriorPipeline + StableCascadeDecoderPipeline',
    sizeMultiple: 128,
    img2img: false,
    schedulers: 'own',
  },
  // Sizes outside the trained shapes are binned to the closest one (diffusers' use_resolution_binning).
  'hunyuan-dit': { diffusers: 'HunyuanDiTPipeline', sizeMultiple: 16, img2img: false, schedulers: 'own' },
  // Packed 2×2 latents of an 8× VAE: sizes are multiples of 16; flow-match Euler with dynamic shifting only.
  flux: { diffusers: 'FluxPipeline', sizeMultiple: 16, img2img: true, schedulers: 'own' },
  // Resolution binning to the trained shapes, as diffusers; no img2img pipeline in diffusers.
  pixart: { diffusers: 'PixArtAlphaPipeline / PixArtSigmaPipeline', sizeMultiple: 8, img2img: false, schedulers: 'sd' },
};

/** The engine pipeline of an image row, or undefined when the row names none or one the engine lacks. */
export function enginePipelineOf(row: { pipeline?: string }): string | undefined {
  return row.pipeline !== undefined && Object.hasOwn(ENGINE_IMAGE_PIPELINES, row.pipeline) ? row.pipeline : undefined;
}
