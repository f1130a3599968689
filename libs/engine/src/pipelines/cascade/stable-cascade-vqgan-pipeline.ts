/**
 * Stable Cascade stage A on its own: the Paella VQGAN decoder turns stage-B latents (passed as `latents`, 4 channels)
 * into pixels, ×4 — the last step of diffusers' StableCascadeDecoderPipeline, split out so that it can be a shard on
 * a small agent. Deterministic: it draws no noise, so its seed does not matter.
 */
import type { SdModel } from '../sd/sd-model.js';
import {
  throwIfAborted,
  type SdDefaults,
  type SdRunOptions,
  type SdRunParams,
  type SdRunResult,
} from '../sd/sd-params.js';
import { SdParamsError } from '../sd/errors.js';
import { CASCADE_SCHEDULER, compileCascadeParams, requireChannels, vqganDecode } from './cascade-common.js';

/** The loaded VQGAN of a stage-A directory. */
export interface StableCascadeVqganComponents {
  vqgan: SdModel;
  scaleFactor: number;
  /** vqgan/config.json latent_channels (4). */
  latentChannels: number;
}

/** Stage A: stage-B latents → image. */
export class StableCascadeVqganPipeline {
  readonly family = 'cascade-vqgan' as const;
  /** Stage A runs no scheduler; reported as the family's for uniformity. */
  readonly scheduler = CASCADE_SCHEDULER;
  readonly defaults: SdDefaults = {
    width: 1024,
    height: 1024,
    steps: 1,
    guidanceScale: 0,
    strength: 1,
    sizeMultiple: 128,
  };

  constructor(private readonly c: StableCascadeVqganComponents) {}

  async run(raw: SdRunParams, opts: SdRunOptions = {}): Promise<SdRunResult> {
    const p = compileCascadeParams({ ...raw, steps: undefined, scheduler: undefined }, this.defaults, true);
    if (p.outputType !== 'image') throw new SdParamsError('outputType', "stage A decodes to an image: ask for 'image'");
    requireChannels(p.latents!, this.c.latentChannels, 'the Stable Cascade VQGAN (stage-B latents)');
    throwIfAborted(opts.signal);
    const image = await vqganDecode(this.c.vqgan, p.latents!, this.c.scaleFactor);
    opts.onStep?.(1, 1);
    return { images: [image] };
  }

  async close(): Promise<void> {
    await this.c.vqgan.close();
  }
}
