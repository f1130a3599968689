/**
 * Opens an Optimum ONNX Stable-Diffusion directory and builds the pipeline its model_index.json names. Sessions
 * are created through an injected loader (default: OrtModel on the chosen execution provider), so tests and the
 * engine worker decide where inference runs.
 */
import { join } from 'node:path';
import { OrtModel, type OrtModelOptions } from '../../ort-session.js';
import { loadClipTokenizer } from '../../tokenizer/load-clip-tokenizer.js';
import { SdModelLayoutError } from './errors.js';
import { readOptimumLayout, type OptimumSdLayout, type SdFamily } from './optimum-layout.js';
import type { SdModel, SdModelLoader } from './sd-model.js';
import type { SdDefaults, SdRunOptions, SdRunParams, SdRunResult } from './sd-params.js';
import type { SdSchedulerChoice } from './sd-scheduler.js';
import { StableDiffusion3Pipeline, type Sd3T5Encoder } from './stable-diffusion-3-pipeline.js';
import { loadT5Tokenizer } from './t5-tokenizer.js';
import { StableDiffusionPipeline } from './stable-diffusion-pipeline.js';
import { StableDiffusionXLPipeline } from './stable-diffusion-xl-pipeline.js';
import { StableDiffusionXLRefinerPipeline } from './stable-diffusion-xl-refiner-pipeline.js';
import { readCascadeLayout, type CascadeStage } from '../cascade/cascade-layout.js';
import { buildCascadePipeline } from '../cascade/load-cascade-pipeline.js';
import { buildHunyuanPipeline, readHunyuanLayout } from '../hunyuan/load-hunyuan-pipeline.js';
import { controlNetSupport } from '../controlnet/controlnet.js';
import { buildFluxPipeline } from '../flux/load-flux-pipeline.js';
import { buildPixArtPipeline } from '../pixart/load-pixart-pipeline.js';
import { withVae } from '../vae-swap/vae-override.js';

/** diffusers' SD3 `max_sequence_length` default: T5 tokens per prompt. */
const SD3_MAX_SEQUENCE_LENGTH = 256;

/** What every SD-family pipeline offers. */
export interface SdPipeline {
  readonly family: SdFamily | CascadeStage | 'hunyuan-dit';
  /** The scheduler it runs (an SdSchedulerChoice for the SD families; Stable Cascade runs ddpm-wuerstchen). */
  readonly scheduler: Pick<SdSchedulerChoice, 'className' | 'substitutedFor'> & { readonly name: string };
  readonly defaults: SdDefaults;
  run(params: SdRunParams, options?: SdRunOptions): Promise<SdRunResult>;
  /** Releases every session; the pipeline must not be used afterwards. */
  close(): Promise<void>;
}

/** Options of loadSdPipeline; every field is optional. */
export interface LoadSdPipelineOptions extends OrtModelOptions {
  /** Scheduler override: `euler`, `euler-ancestral`, `ddim`, `dpm++2m`, `flow-match-euler` or a diffusers class name. */
  scheduler?: string;
  /** Opens one `model.onnx`; default `OrtModel.load(path, options)`. */
  loadModel?: SdModelLoader;
  /** Another VAE directory whose halves and config replace the model's (pipelines/vae-swap/). */
  vaeDir?: string;
}

/**
 * Reads `dir` (see readOptimumLayout), opens its sub-models and returns the family's pipeline. Throws
 * SdModelLayoutError for a malformed directory, SdParamsError('scheduler') for a bad override, and the session
 * loader's errors (ExecutionProviderUnavailableError, EngineError). Sessions opened before a failure are closed.
 */
export async function loadSdPipeline(dir: string, options: LoadSdPipelineOptions = {}): Promise<SdPipeline> {
  // A Stable Cascade stage directory (prior, decoder or VQGAN) has its own layout; anything else is Optimum SD.
  // So does Hunyuan-DiT (BERT + mT5 encoders, a DiT with rotary embeddings).
  const cascade = await readCascadeLayout(dir);
  const hunyuan = cascade ? null : await readHunyuanLayout(dir);
  if ((cascade || hunyuan) && options.vaeDir)
    throw new SdModelLayoutError(dir, 'a VAE swap needs an Optimum-layout model (not Stable Cascade / Hunyuan-DiT)');
  const own = cascade || hunyuan ? undefined : await readOptimumLayout(dir);
  const layout = own && options.vaeDir ? await withVae(own, options.vaeDir) : own;
  const load = options.loadModel ?? ((path: string) => OrtModel.load(path, options));
  const opened: SdModel[] = [];
  const open = async (path: string | undefined): Promise<SdModel | undefined> => {
    if (!path) return undefined;
    const m = await load(path);
    opened.push(m);
    return m;
  };
  try {
    if (cascade) return await buildCascadePipeline(cascade, open);
    if (hunyuan) return await buildHunyuanPipeline(hunyuan, open);
    return await build(layout!, open, options.scheduler, load);
  } catch (err) {
    await Promise.allSettled(opened.map((m) => m.close()));
    throw err;
  }
}

async function build(
  layout: OptimumSdLayout,
  open: (path: string | undefined) => Promise<SdModel | undefined>,
  scheduler: string | undefined,
  load: SdModelLoader,
): Promise<SdPipeline> {
  const { models, tokenizers, vae } = layout;
  const defaultSize = defaultImageSize(layout);
  const common = {
    vaeEncoder: await open(models.vaeEncoder),
    vaeDecoder: (await open(models.vaeDecoder))!,
    schedulerConfig: layout.schedulerConfig,
    vae,
    defaultSize,
  };
  const opts = { scheduler };
  switch (layout.family) {
    case 'sd':
      return new StableDiffusionPipeline(
        {
          ...common,
          textEncoder: (await open(models.textEncoder))!,
          tokenizer: await loadClipTokenizer(tokenizers.tokenizer!),
          unet: (await open(models.unet))!,
          controlNet: controlNetSupport(load, layout.denoiserConfig),
        },
        opts,
      );
    case 'sdxl':
      return new StableDiffusionXLPipeline(
        {
          ...common,
          textEncoder: (await open(models.textEncoder))!,
          tokenizer: await loadClipTokenizer(tokenizers.tokenizer!),
          textEncoder2: (await open(models.textEncoder2))!,
          tokenizer2: await loadClipTokenizer(tokenizers.tokenizer2!),
          unet: (await open(models.unet))!,
          forceZerosForEmptyPrompt: layout.forceZerosForEmptyPrompt,
          controlNet: controlNetSupport(load, layout.denoiserConfig),
        },
        opts,
      );
    case 'sdxl-refiner':
      return new StableDiffusionXLRefinerPipeline(
        {
          ...common,
          textEncoder2: (await open(models.textEncoder2))!,
          tokenizer2: await loadClipTokenizer(tokenizers.tokenizer2!),
          unet: (await open(models.unet))!,
          forceZerosForEmptyPrompt: layout.forceZerosForEmptyPrompt,
        },
        opts,
      );
    case 'sd3': {
      let t5: Sd3T5Encoder | undefined;
      if (models.textEncoder3) {
        if (!tokenizers.tokenizer3) {
          throw new SdModelLayoutError(
            join(layout.dir, 'tokenizer_3'),
            'text_encoder_3 needs tokenizer_3/tokenizer.json',
          );
        }
        const tokenizer = await loadT5Tokenizer(tokenizers.tokenizer3, SD3_MAX_SEQUENCE_LENGTH);
        t5 = { model: (await open(models.textEncoder3))!, tokenize: (text) => tokenizer.encodeForModel(text) };
      }
      const dc = layout.denoiserConfig;
      const num = (v: unknown) => (typeof v === 'number' && v > 0 ? v : undefined);
      return new StableDiffusion3Pipeline(
        {
          ...common,
          textEncoder: (await open(models.textEncoder))!,
          tokenizer: await loadClipTokenizer(tokenizers.tokenizer!),
          textEncoder2: (await open(models.textEncoder2))!,
          tokenizer2: await loadClipTokenizer(tokenizers.tokenizer2!),
          t5,
          transformer: (await open(models.transformer))!,
          jointAttentionDim: num(dc.joint_attention_dim),
          patchSize: num(dc.patch_size) ?? 2,
        },
        opts,
      );
    }
    case 'flux':
      return buildFluxPipeline(layout, open, common, scheduler);
    case 'pixart':
      return buildPixArtPipeline(layout, open, common, scheduler);
  }
}

/** diffusers' default size: the denoiser's `sample_size` × VAE scale factor, else the family's native size. */
export function defaultImageSize(layout: OptimumSdLayout): number {
  const s = layout.denoiserConfig.sample_size;
  if (typeof s === 'number' && Number.isInteger(s) && s > 0) return s * layout.vae.scaleFactor;
  return { sd: 512, sdxl: 1024, 'sdxl-refiner': 1024, sd3: 1024, flux: 1024, pixart: 1024 }[layout.family];
}
