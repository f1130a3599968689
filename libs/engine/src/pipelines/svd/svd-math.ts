/**
 * Tensor bookkeeping of the SVD denoising loop, pure float32 arithmetic on flat row-major arrays
 * (layouts as diffusers' StableVideoDiffusionPipeline holds them: latents [1,F,4,h,w], UNet input
 * [N,F,8,h,w] with N = 2 under classifier-free guidance, unconditional half first).
 */
import { torchLinspaceF32 } from '../../schedulers/numeric.js';

const f32 = Math.fround;

/**
 * Per-frame guidance scales: `torch.linspace(min, max, numFrames)` in float32 (frame 0 gets `min`, the last
 * frame `max`), as diffusers ramps classifier-free guidance over the video.
 */
export function guidanceScales(minGuidanceScale: number, maxGuidanceScale: number, numFrames: number): Float32Array {
  return torchLinspaceF32(minGuidanceScale, maxGuidanceScale, numFrames);
}

/** Whether the pipeline runs the unconditional half: diffusers' `guidance_scale.max() > 1`. */
export function usesGuidance(minGuidanceScale: number, maxGuidanceScale: number): boolean {
  return Math.max(minGuidanceScale, maxGuidanceScale) > 1;
}

/**
 * Classifier-free guidance over a [2,F,…] prediction (unconditional half first): for frame f,
 * uncond + scale[f]·(cond − uncond), float32 at each operation as torch computes it. Returns [1,F,…].
 */
export function applyGuidance(prediction: Float32Array, scales: Float32Array): Float32Array {
  const half = prediction.length / 2;
  const frames = scales.length;
  const frameSize = half / frames;
  if (!Number.isInteger(frameSize))
    throw new RangeError(`prediction of ${prediction.length} values is not [2,${frames},…]`);
  const out = new Float32Array(half);
  for (let f = 0; f < frames; f++) {
    const g = scales[f];
    for (let k = f * frameSize; k < (f + 1) * frameSize; k++) {
      const u = prediction[k];
      out[k] = f32(u + f32(g * f32(prediction[half + k] - u)));
    }
  }
  return out;
}

/**
 * The UNet's `sample` [N,F,8,h,w]: per item and frame, the 4 scaled noisy latent channels followed by the 4
 * image-latent channels (the same image latent for every frame; zeros for the unconditional item when
 * `guidance`). `latents` is [1,F,4,h,w], `imageLatent` [1,4,h,w].
 */
export function unetSample(
  latents: Float32Array,
  imageLatent: Float32Array,
  numFrames: number,
  guidance: boolean,
): Float32Array {
  const frameSize = imageLatent.length; // 4·h·w
  const batch = guidance ? 2 : 1;
  const out = new Float32Array(batch * numFrames * 2 * frameSize);
  for (let n = 0; n < batch; n++) {
    const conditional = !guidance || n === 1;
    for (let f = 0; f < numFrames; f++) {
      const base = (n * numFrames + f) * 2 * frameSize;
      out.set(latents.subarray(f * frameSize, (f + 1) * frameSize), base);
      if (conditional) out.set(imageLatent, base + frameSize);
    }
  }
  return out;
}

/**
 * `added_time_ids` [N,3]: `[fps − 1, motion_bucket_id, noise_aug_strength]` per item (SVD was trained on
 * fps − 1; diffusers subtracts the 1 before building them), identical for both guidance halves.
 */
export function addedTimeIds(
  fps: number,
  motionBucketId: number,
  noiseAugStrength: number,
  batch: number,
): Float32Array {
  const out = new Float32Array(batch * 3);
  for (let n = 0; n < batch; n++) out.set([fps - 1, motionBucketId, noiseAugStrength], n * 3);
  return out;
}

/** The image embedding [N,1,D] of the UNet's cross-attention: zeros first under guidance, then the embedding. */
export function encoderHiddenStates(embedding: Float32Array, guidance: boolean): Float32Array {
  if (!guidance) return embedding.slice();
  const out = new Float32Array(embedding.length * 2);
  out.set(embedding, embedding.length);
  return out;
}
