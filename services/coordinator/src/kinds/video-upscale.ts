/**
 * The video-upscale kind in one place: validation and plan (planner-video.ts: frame batches),
 * inputs (each batch's frames stored as its shard input), the agent's task (the base task: frames
 * in, frames out) and assembly (video-assembler.ts).
 */
import { blobKeys, type VideoUpscaleSpec } from '@tessera/protocol';
import { InvalidArgumentError } from '../errors.js';
import { concatBytes } from '@tessera/runtime';
import { sha256Hex } from '../blobs.js';
import { planVideoUpscale } from '../planner-video.js';
import { mapLimit } from '../util.js';
import {
  checkInputBytes,
  formatsOf,
  jobHeader,
  type ApiLimits,
  type Intake,
  type IntakeContext,
  type SubmissionHeader,
  type VideoUpscaleSubmission,
} from './requests.js';

export { createVideoAssembler as createAssembler } from '../video-assembler.js';

/** The API request as a submission (sizes, clip xor frames, fps and formats checked first). */
export function fromApi(v: VideoUpscaleSpec, header: SubmissionHeader, limits: ApiLimits): VideoUpscaleSubmission {
  checkInputBytes('video_upscale.clip', [v.clip, ...v.frames], limits);
  if (v.clip.length && v.frames.length)
    throw new InvalidArgumentError('video_upscale.clip', 'send a clip or frames, not both');
  // The same range as video.fps; unchecked, 4194404 fps was accepted and only failed in assembly.
  if (v.fps > 120) throw new InvalidArgumentError('video_upscale.fps', `${v.fps} is outside 0..120 (0 = the input's)`);
  return {
    ...header,
    clip: v.clip,
    frames: v.frames,
    model: v.model,
    framesPerBatch: v.framesPerBatch,
    fps: v.fps,
    formats: formatsOf('video_upscale.formats', v.formats),
  };
}

/** Validates, plans and stores the frame batches of a video upscale. */
export async function intake(sub: VideoUpscaleSubmission, ctx: IntakeContext): Promise<Intake> {
  const { d } = ctx;
  const o = d.options;
  ctx.checkQueueRoom(1, sub.owner);
  const clip = await d.codec.decodeClip(sub, o.maxInputPixels, o.maxFrames);
  const now = d.clock.now();
  const plan = planVideoUpscale(
    jobHeader(sub, ctx.jobId(now), now, o.maxAttempts),
    {
      model: sub.model,
      totalFrames: clip.frames.length,
      width: clip.width,
      height: clip.height,
      // Animated images can imply a fractional rate (70 ms delays → 14.29 fps); the API carries whole fps.
      fps: Math.min(120, Math.max(1, Math.round(sub.fps || clip.fps || 8))),
      framesPerBatch: sub.framesPerBatch,
      formats: sub.formats,
      agents: ctx.liveAgents(),
    },
    d.table,
    o,
    d.codec.ffmpeg,
  );
  ctx.checkQueueRoom(plan.shards.length, sub.owner);
  const { job, shards } = plan;
  await mapLimit(shards, 8, async (s) => {
    const bytes = concatBytes(clip.frames.slice(s.firstFrame, s.firstFrame + s.frameCount));
    s.inputKey = blobKeys.shardInput(job.id, s.index);
    s.inputSha256 = sha256Hex(bytes);
    await d.blobs.put(s.inputKey, bytes);
  });
  return { job, shards, log: { frames: clip.frames.length, input: `${clip.width}x${clip.height}` } };
}
