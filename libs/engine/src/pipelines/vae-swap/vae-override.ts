/**
 * VAE swap: a job may name another VAE (e.g. kl-f8-anime2, sd-vae-ft-mse) for a model, as diffusers'
 * `Pipeline.from_pretrained(repo, vae=AutoencoderKL.from_pretrained(other))` does: decoding (and, for img2img,
 * encoding) then use that VAE's halves and its config (scaling factor, shift), everything else the model's.
 *
 * A VAE directory holds the VAE folders of an Optimum export: `vae_decoder/model.onnx` + `config.json` (required)
 * and `vae_encoder/model.onnx` (optional; without it img2img from an image is refused). Its latent space must match
 * the model's (same latent channels) — an SD 1.x VAE cannot decode SD3 latents.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SdModelLayoutError } from '../sd/errors.js';
import { parseVaeConfig, type OptimumSdLayout } from '../sd/optimum-layout.js';

/** `layout` with its VAE halves and VAE config taken from `vaeDir`. Throws SdModelLayoutError naming the file. */
export async function withVae(layout: OptimumSdLayout, vaeDir: string): Promise<OptimumSdLayout> {
  const decoder = join(vaeDir, 'vae_decoder', 'model.onnx');
  if (!existsSync(decoder))
    throw new SdModelLayoutError(decoder, 'missing: a VAE directory needs vae_decoder/model.onnx');
  const configPath = join(vaeDir, 'vae_decoder', 'config.json');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new SdModelLayoutError(configPath, `cannot read the VAE config: ${(err as Error).message}`, { cause: err });
  }
  const vae = parseVaeConfig(raw, layout.family);
  if (vae.latentChannels !== layout.vae.latentChannels) {
    throw new SdModelLayoutError(
      configPath,
      `has ${vae.latentChannels} latent channels; the model ${layout.dir} works in ${layout.vae.latentChannels}`,
    );
  }
  const encoder = join(vaeDir, 'vae_encoder', 'model.onnx');
  return {
    ...layout,
    models: { ...layout.models, vaeDecoder: decoder, vaeEncoder: existsSync(encoder) ? encoder : undefined },
    vae,
  };
}
