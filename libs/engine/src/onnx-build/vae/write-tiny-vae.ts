/**
 * Writes a tiny stand-alone VAE directory for VAE swaps (pipelines/vae-swap/): `vae_decoder/` and `vae_encoder/`
 * (model.onnx + config.json) with Optimum's VAE signatures, weights of its own seed, so a swapped VAE visibly
 * changes the decoded image. Deterministic bytes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTinyVaeDecoder, buildTinyVaeEncoder } from '../sd/tiny-vae.js';

/** Options of writeTinyVae. */
export interface TinyVaeOptions {
  /** 4 (SD 1.x / 2.x / SDXL / PixArt) or 16 (SD3, Flux). Default 4. */
  latentChannels?: number;
  /** config.json scaling_factor. Default 0.18215 (SD 1.x, as kl-f8-anime2). */
  scalingFactor?: number;
  /** Weight seed. Default 811. */
  seed?: number;
}

/** Writes the tiny VAE into `dir`; returns `dir`. */
export async function writeTinyVae(dir: string, opts: TinyVaeOptions = {}): Promise<string> {
  const latentChannels = opts.latentChannels ?? 4;
  const scalingFactor = opts.scalingFactor ?? 0.18215;
  const seed = opts.seed ?? 811;
  const config = JSON.stringify(
    {
      _class_name: 'AutoencoderKL',
      latent_channels: latentChannels,
      block_out_channels: [8, 8, 8, 8],
      scaling_factor: scalingFactor,
    },
    null,
    2,
  );
  const files: Record<string, Uint8Array | string> = {
    'vae_decoder/model.onnx': buildTinyVaeDecoder({ latentChannels, scalingFactor, floatType: 'float32', seed }),
    'vae_decoder/config.json': config,
    'vae_encoder/model.onnx': buildTinyVaeEncoder({
      latentChannels,
      scalingFactor,
      output: 'latent_parameters',
      floatType: 'float32',
      seed: seed + 1,
    }),
    'vae_encoder/config.json': config,
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}
