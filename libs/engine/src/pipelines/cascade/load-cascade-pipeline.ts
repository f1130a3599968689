/**
 * Opens a Stable Cascade stage directory (see cascade-layout.ts) and builds its stage's pipeline, through the same
 * injected session loader as the SD pipelines.
 */
import { loadClipTokenizer } from '../../tokenizer/load-clip-tokenizer.js';
import type { SdModel } from '../sd/sd-model.js';
import type { CascadeLayout } from './cascade-layout.js';
import { StableCascadeDecoderPipeline } from './stable-cascade-decoder-pipeline.js';
import { StableCascadePriorPipeline } from './stable-cascade-prior-pipeline.js';
import { StableCascadeVqganPipeline } from './stable-cascade-vqgan-pipeline.js';

/** Any of the three stage pipelines. */
export type StableCascadeStagePipeline =
  StableCascadePriorPipeline | StableCascadeDecoderPipeline | StableCascadeVqganPipeline;

/** Builds the pipeline of `layout`'s stage; `open` opens (and tracks, for cleanup) one model.onnx. */
export async function buildCascadePipeline(
  layout: CascadeLayout,
  open: (path: string | undefined) => Promise<SdModel | undefined>,
): Promise<StableCascadeStagePipeline> {
  const { models } = layout;
  switch (layout.stage) {
    case 'cascade-prior':
      return new StableCascadePriorPipeline({
        textEncoder: (await open(models.textEncoder))!,
        tokenizer: await loadClipTokenizer(layout.tokenizer!),
        prior: (await open(models.prior))!,
        schedulerConfig: layout.schedulerConfig,
        priorConfig: layout.unetConfig,
        resolutionMultiple: layout.resolutionMultiple,
      });
    case 'cascade-decoder':
      return new StableCascadeDecoderPipeline({
        textEncoder: (await open(models.textEncoder))!,
        tokenizer: await loadClipTokenizer(layout.tokenizer!),
        decoder: (await open(models.decoder))!,
        vqgan: await open(models.vqgan),
        schedulerConfig: layout.schedulerConfig,
        decoderConfig: layout.unetConfig,
        latentDimScale: layout.latentDimScale,
        vqganScaleFactor: layout.vqganScaleFactor,
      });
    case 'cascade-vqgan': {
      const vqgan = (await open(models.vqgan))!;
      const c = vqgan.inputs.find((i) => i.name === 'latent_sample')?.shape[1];
      return new StableCascadeVqganPipeline({
        vqgan,
        scaleFactor: layout.vqganScaleFactor,
        latentChannels: typeof c === 'number' ? c : 4,
      });
    }
  }
}
