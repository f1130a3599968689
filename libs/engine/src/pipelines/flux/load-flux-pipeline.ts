/**
 * Builds a FluxPipeline from a parsed Optimum layout (called by loadSdPipeline for the `flux` family): CLIP-L from
 * `text_encoder/` + `tokenizer/`, T5 from `text_encoder_2/` + `tokenizer_2/tokenizer.json` padded to
 * max_sequence_length (256 without the guidance embedding — schnell's limit — else 512, diffusers' default).
 */
import { join } from 'node:path';
import { loadClipTokenizer } from '../../tokenizer/load-clip-tokenizer.js';
import { SdModelLayoutError } from '../sd/errors.js';
import type { OptimumSdLayout } from '../sd/optimum-layout.js';
import type { SdModel } from '../sd/sd-model.js';
import { loadT5Tokenizer } from '../sd/t5-tokenizer.js';
import { FluxPipeline } from './flux-pipeline.js';

/** max_sequence_length of FLUX.1 [schnell] (its T5 was trained with 256 tokens) and of [dev]. */
export const FLUX_SCHNELL_MAX_SEQUENCE_LENGTH = 256;
export const FLUX_DEV_MAX_SEQUENCE_LENGTH = 512;

/** Opens Flux's sub-models through `open` and returns the pipeline. */
export async function buildFluxPipeline(
  layout: OptimumSdLayout,
  open: (path: string | undefined) => Promise<SdModel | undefined>,
  common: {
    vaeEncoder: SdModel | undefined;
    vaeDecoder: SdModel;
    schedulerConfig: Record<string, unknown>;
    vae: OptimumSdLayout['vae'];
    defaultSize: number;
  },
  scheduler: string | undefined,
): Promise<FluxPipeline> {
  const { models, tokenizers } = layout;
  if (!tokenizers.tokenizer2) {
    throw new SdModelLayoutError(join(layout.dir, 'tokenizer_2'), 'Flux needs the T5 tokenizer_2/tokenizer.json');
  }
  const guidanceEmbeds = layout.denoiserConfig.guidance_embeds === true;
  const maxLength = guidanceEmbeds ? FLUX_DEV_MAX_SEQUENCE_LENGTH : FLUX_SCHNELL_MAX_SEQUENCE_LENGTH;
  const t5Tokenizer = await loadT5Tokenizer(tokenizers.tokenizer2, maxLength);
  return new FluxPipeline(
    {
      ...common,
      textEncoder: (await open(models.textEncoder))!,
      tokenizer: await loadClipTokenizer(tokenizers.tokenizer!),
      t5: { model: (await open(models.textEncoder2))!, tokenize: (text) => t5Tokenizer.encodeForModel(text) },
      transformer: (await open(models.transformer))!,
      guidanceEmbeds,
    },
    { scheduler },
  );
}
