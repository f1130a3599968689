/**
 * What a slot computes for each kind of shard: the per-kind engine call (upscale a tile or frames, an
 * SVD batch, an SD stage), with the input checks and the RGB8 padding an SD stage needs. No lease, no
 * messaging: the slot (slot.ts) fetches the input, holds the models and reports the output.
 */
import { join } from 'node:path';
import { InvalidImageError, UnknownModelError, type EngineHost, type SdRunParams } from '@tessera/engine';
import type { ShardTask } from '@tessera/protocol';
import { concatBytes } from '@tessera/runtime';
import { splitImageInput } from './image-inputs.js';

/** A shard's output: `frames` raw images of width × height back to back (`channels` only for latents). */
export interface ShardOutput {
  data: Uint8Array;
  width: number;
  height: number;
  frames: number;
  channels?: number;
}

/** How one shard runs: the engine and model layout, cancellation and progress. */
export interface ComputeContext {
  /** The engine calls a shard needs (a slot's SlotEngine provides them). */
  engine: Pick<EngineHost, 'upscale' | 'imageToVideo' | 'generateImage'>;
  /** Where model directories live (`<modelsDir>/<model id>/`). */
  modelsDir: string;
  /** Aborts the engine run (lease lost, job cancelled). */
  signal: AbortSignal;
  /** hook(models): the directory of the shard's model, from the cache; else `<modelsDir>/<id>/`. */
  modelDir?: string;
  /** Progress in [0, 1] as the engine reports it. */
  onProgress: (fraction: number) => void;
}

/**
 * Runs the engine on a task. Outputs are raw RGB8: one image (upscale_tile) or `frames` images of
 * width × height back to back (upscale_frames, svd_batch).
 */
export async function computeShard(
  task: ShardTask,
  input: Uint8Array,
  { engine, modelsDir, signal, modelDir: heldDir, onProgress }: ComputeContext,
): Promise<ShardOutput> {
  const { inputWidth: w, inputHeight: h } = task;
  const frameBytes = w * h * 3;
  switch (task.kind) {
    case 'upscale_tile': {
      const out = await engine.upscale(task.model, { width: w, height: h, data: input }, { signal, onProgress });
      return { data: out.data, width: out.width, height: out.height, frames: 1 };
    }
    case 'upscale_frames': {
      const n = task.inputFrames;
      if (input.length !== n * frameBytes)
        throw new InvalidImageError(`input has ${input.length} bytes, expected ${n} frames of ${w}×${h}`);
      const outs: Uint8Array[] = [];
      let size = { width: 0, height: 0 };
      for (let i = 0; i < n; i++) {
        const out = await engine.upscale(
          task.model,
          { width: w, height: h, data: input.subarray(i * frameBytes, (i + 1) * frameBytes) },
          { signal },
        );
        outs.push(out.data);
        size = { width: out.width, height: out.height };
        onProgress((i + 1) / n);
      }
      return { data: concatBytes(outs), ...size, frames: n };
    }
    case 'svd_batch': {
      const v = task.video;
      if (!v) throw new InvalidImageError('svd_batch task without video parameters');
      const f = v.conditioningFrame;
      if (input.length < (f + 1) * frameBytes)
        throw new InvalidImageError(`input has no frame ${f} (${input.length} bytes of ${w}×${h} frames)`);
      const modelDir = heldDir ?? join(modelsDir, task.model);
      const frames = await engine.imageToVideo(
        modelDir,
        {
          image: { width: w, height: h, data: input.slice(f * frameBytes, (f + 1) * frameBytes) },
          numFrames: v.numFrames,
          width: v.width,
          height: v.height,
          fps: v.fps,
          motionBucketId: v.motionBucketId,
          noiseAugStrength: v.noiseAugStrength,
          steps: v.steps,
          minGuidanceScale: v.minGuidanceScale,
          maxGuidanceScale: v.maxGuidanceScale,
          seed: task.seed,
          decodeChunkSize: v.decodeChunk,
        },
        { signal, onProgress },
      );
      return {
        data: concatBytes(frames.map((x) => x.data)),
        width: v.width,
        height: v.height,
        frames: frames.length,
      };
    }
    case 'sd_stage': {
      const t = task.image;
      if (!t) throw new InvalidImageError('sd_stage task without image parameters');
      const params: SdRunParams = {
        prompt: t.prompt,
        // The wire cannot tell "no negative prompt" from "empty": '' means diffusers' None.
        negativePrompt: t.negativePrompt || undefined,
        width: t.width,
        height: t.height,
        steps: t.steps || undefined,
        guidanceScale: t.guidanceScale || undefined,
        seed: task.seed,
        scheduler: t.scheduler || undefined,
        strength: t.strength || undefined,
        denoisingStart: t.denoisingStart || undefined,
        denoisingEnd: t.denoisingEnd || undefined,
        outputType: t.outputLatents ? 'latent' : 'image',
      };
      let crop: { width: number; height: number } | undefined;
      // hook(engines-b): control images follow the init image in the input blob (image-inputs.ts).
      const split = splitImageInput(t, input, modelsDir);
      if (split.controlNets.length) params.controlNets = split.controlNets;
      input = split.init;
      if (t.inputKind === 'image') {
        if (input.length !== t.width * t.height * 3)
          throw new InvalidImageError(`input image has ${input.length} bytes, expected ${t.width}×${t.height} RGB8`);
        // SD works on multiples of 8 pixels: pad an odd-sized tile by repeating its edge, crop after.
        const padded = padToMultiple({ width: t.width, height: t.height, data: input }, 8);
        if (padded.width !== t.width || padded.height !== t.height) crop = { width: t.width, height: t.height };
        params.image = padded;
        params.width = padded.width;
        params.height = padded.height;
      } else if (t.inputKind === 'latents') {
        const n = t.latentChannels * t.latentHeight * t.latentWidth;
        if (input.length !== n * 4)
          throw new InvalidImageError(`input latents have ${input.length} bytes, expected ${n} float32`);
        const data = new Float32Array(n);
        new Uint8Array(data.buffer).set(input);
        params.latents = { channels: t.latentChannels, height: t.latentHeight, width: t.latentWidth, data };
      }
      const r = await engine.generateImage(heldDir ?? join(modelsDir, t.modelDir), params, {
        ...(t.vaeDir ? { vaeDir: join(modelsDir, t.vaeDir) } : {}),
        signal,
        onProgress,
      });
      if ('latents' in r) {
        const l = r.latents;
        return {
          data: new Uint8Array(l.data.buffer, l.data.byteOffset, l.data.byteLength),
          width: l.width,
          height: l.height,
          frames: 1,
          channels: l.channels,
        };
      }
      const img = crop ? cropTopLeft(r.images[0], crop.width, crop.height) : r.images[0];
      return { data: img.data, width: img.width, height: img.height, frames: 1 };
    }
    default:
      throw new UnknownModelError(`this agent cannot run shards of kind ${JSON.stringify(task.kind)}`);
  }
}

type Rgb = { width: number; height: number; data: Uint8Array };

/** Pads an RGB8 image right and bottom to multiples of `m` by repeating the last column and row. */
function padToMultiple(img: Rgb, m: number): Rgb {
  const width = Math.ceil(img.width / m) * m;
  const height = Math.ceil(img.height / m) * m;
  if (width === img.width && height === img.height) return img;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(y, img.height - 1);
    const row = img.data.subarray(sy * img.width * 3, (sy + 1) * img.width * 3);
    out.set(row, y * width * 3);
    const last = row.subarray(row.length - 3);
    for (let x = img.width; x < width; x++) out.set(last, (y * width + x) * 3);
  }
  return { width, height, data: out };
}

/** The top-left width × height of an RGB8 image. */
function cropTopLeft(img: Rgb, width: number, height: number): Rgb {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    out.set(img.data.subarray(y * img.width * 3, y * img.width * 3 + width * 3), y * width * 3);
  }
  return { width, height, data: out };
}
