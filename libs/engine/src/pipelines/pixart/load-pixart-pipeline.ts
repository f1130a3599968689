/**
 * Builds a PixArtPipeline from a parsed layout (called by loadSdPipeline for the `pixart` family): T5 from
 * `text_encoder/` + `tokenizer/tokenizer.json` padded to max_sequence_length (α 120, Σ 300, diffusers' defaults),
 * the variant from model_index.json's class (PixArtAlphaPipeline / PixArtSigmaPipeline).
 */
import { join } from 'node:path';
import { SdModelLayoutError } from '../sd/errors.js';
import type { OptimumSdLayout } from '../sd/optimum-layout.js';
import type { SdModel } from '../sd/sd-model.js';
import { loadT5Tokenizer } from '../sd/t5-tokenizer.js';
import { PixArtPipeline } from './pixart-pipeline.js';

/** T5 tokens per prompt: PixArt-α 120 (its paper, §3.1), PixArt-Σ 300. */
export const PIXART_MAX_SEQUENCE_LENGTH = { alpha: 120, sigma: 300 } as const;

/** Opens PixArt's sub-models through `open` and returns the pipeline. */
export async function buildPixArtPipeline(
  layout: OptimumSdLayout,
  open: (path: string | undefined) => Promise<SdModel | undefined>,
  common: {
    vaeEncoder: SdModel | undefined;
    vaeDecoder: SdModel;
    schedulerConfig: Record<string, unknown>;
    vae: OptimumSdLayout['vae'];
  },
  scheduler: string | undefined,
): Promise<PixArtPipeline> {
  // txt2img only: a vae_encoder shipped with the export is not needed.
  await common.vaeEncoder?.close();
  const variant = /Sigma/.test(layout.pipelineClass) ? 'sigma' : 'alpha';
  if (!layout.tokenizers.tokenizer) {
    throw new SdModelLayoutError(join(layout.dir, 'tokenizer'), 'PixArt needs the T5 tokenizer/tokenizer.json');
  }
  const tokenizer = await loadT5Tokenizer(layout.tokenizers.tokenizer, PIXART_MAX_SEQUENCE_LENGTH[variant]);
  const dc = layout.denoiserConfig;
  const sampleSize = typeof dc.sample_size === 'number' ? dc.sample_size : 128;
  const outChannels = typeof dc.out_channels === 'number' ? dc.out_channels : 2 * common.vae.latentChannels;
  return new PixArtPipeline(
    {
      variant,
      t5: {
        model: (await open(layout.models.textEncoder))!,
        tokenize: (text) => tokenizer.encodeForModel(text),
        eosId: tokenizer.eosId,
      },
      transformer: (await open(layout.models.transformer))!,
      vaeDecoder: common.vaeDecoder,
      schedulerConfig: common.schedulerConfig,
      vae: common.vae,
      sampleSize,
      outChannels,
    },
    { scheduler },
  );
}
