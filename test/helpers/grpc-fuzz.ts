/**
 * The hostile-gRPC suite's (fuzz-grpc.test.ts) wire side and corpus: raw calls through a grpc-js client
 * with identity serializers (undecodable protobuf reaches the server), the status codes a malformed
 * request may get, and the valid SubmitJob requests the mutants start from.
 */
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { crc32 } from 'node:zlib';
import { SubmitJobRequest, VideoFormat, VideoMode, type DeepPartial } from '@tessera/protocol';
import type { FieldPools, Seed } from './mutate.js';

/** The codes a malformed request may get: each one a clear, client-side error. */
export const ALLOWED = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.NOT_FOUND,
  grpc.status.FAILED_PRECONDITION,
]);
/** INVALID_ARGUMENT details start with the field: `upscale.tile: …`, `video.keyframes[3]: …`, `request: …`. */
export const FIELD_DETAILS = /^[a-z_.[\]0-9]+: /;

const SVC = '/tessera.v1.JobService/';
/** The methods the fuzzer calls. */
export type Method = 'SubmitJob' | 'GetJob' | 'WatchJob' | 'CancelJob' | 'GetJobOutput' | 'ListJobs' | 'ListAgents';
const PATHS: Record<Method, string> = {
  SubmitJob: `${SVC}SubmitJob`,
  GetJob: `${SVC}GetJob`,
  WatchJob: `${SVC}WatchJob`,
  CancelJob: `${SVC}CancelJob`,
  GetJobOutput: `${SVC}GetJobOutput`,
  ListJobs: `${SVC}ListJobs`,
  ListAgents: '/tessera.v1.AgentService/ListAgents',
};
const STREAMING = new Set<Method>(['WatchJob', 'GetJobOutput']);

/** A PNG whose IHDR claims `width`×`height` (CRC fixed), with the pixel data of a small image. */
export function pngClaiming(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

/** A call's outcome: its status, and the first message when OK. */
export interface Answer {
  code: grpc.status;
  details: string;
  body?: Buffer;
}

const identity = (b: Buffer) => b;

/** One raw call: the first answer (a unary reply, a stream's first message) or the error status. */
export const rawCall = (raw: grpc.Client, method: Method, bytes: Uint8Array, deadlineMs: number): Promise<Answer> =>
  new Promise((resolve) => {
    const arg = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const options = { deadline: Date.now() + deadlineMs };
    if (!STREAMING.has(method)) {
      raw.makeUnaryRequest<Buffer, Buffer>(PATHS[method], identity, identity, arg, options, (err, res) =>
        resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '', body: res }),
      );
      return;
    }
    // A stream that answered with a message is OK; stop it there (WatchJob could run until its job ends).
    const stream = raw.makeServerStreamRequest<Buffer, Buffer>(PATHS[method], identity, identity, arg, options);
    let first: Buffer | undefined;
    stream.on('data', (m: Buffer) => {
      if (first) return;
      first = m;
      stream.cancel();
    });
    stream.on('error', (err: grpc.ServiceError) =>
      resolve(first ? { code: grpc.status.OK, details: '', body: first } : { code: err.code, details: err.details }),
    );
    stream.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) resolve({ code: grpc.status.OK, details: '', body: first });
    });
  });

/**
 * The corpus: field pools (the image in other formats, an animated clip, PNGs whose header lies) and
 * one or two valid SubmitJob requests of each job kind, each accepted as it stands.
 */
export async function fuzzCorpus(
  png: Buffer,
  maxValueBytes: number,
): Promise<{
  pools: FieldPools;
  submitSeeds: Seed<SubmitJobRequest>[];
  header: { name: string; seed: number; priority: number; maxAttempts: number };
}> {
  const jpeg = await sharp(png).jpeg().toBuffer();
  const webp = await sharp(png).webp().toBuffer();
  const gif = await sharp(png).gif().toBuffer();
  const tiny = await sharp(png).resize(1, 1).png().toBuffer();
  const clip = await sharp([png, await sharp(png).flop().png().toBuffer()], { join: { animated: true } })
    .webp({ delay: 125 })
    .toBuffer();
  const pools: FieldPools = {
    images: [
      png,
      jpeg,
      webp,
      gif,
      tiny,
      clip,
      pngClaiming(png, 20_000, 20_000),
      pngClaiming(png, 0, 32),
      pngClaiming(png, 1, 1_000_000),
    ],
    maxValueBytes,
  };

  const header = { name: 'fuzz', seed: 7, priority: 0, maxAttempts: 0 };
  const submit = (label: string, spec: DeepPartial<SubmitJobRequest>['spec']): Seed<SubmitJobRequest> => ({
    label,
    // fromPartial fills every field the proto has, so the corpus survives fields being added.
    message: SubmitJobRequest.fromPartial({ ...header, spec }),
    codec: SubmitJobRequest,
    oneofNumbers: [10, 11, 12, 13],
  });
  const video = {
    image: png,
    keyframes: [webp],
    model: 'svd-xt',
    totalFrames: 14,
    fps: 6,
    motionBucketId: 127,
    noiseAugStrength: 0.02,
    steps: 4,
    minGuidanceScale: 1,
    maxGuidanceScale: 3,
    framesPerBatch: 7,
    overlap: 2,
    mode: VideoMode.VIDEO_MODE_KEYFRAMED,
    formats: [VideoFormat.VIDEO_FORMAT_WEBP, VideoFormat.VIDEO_FORMAT_PNG_FRAMES],
    width: 64,
    height: 64,
  };
  const submitSeeds = [
    submit('upscale', { $case: 'upscale', value: { image: png, model: 'esrgan-slim-x4' } }),
    submit('upscale', { $case: 'upscale', value: { image: jpeg, model: 'esrgan-slim-x2', tile: 24, overlap: 12 } }),
    submit('video', { $case: 'video', value: video }),
    submit('video', { $case: 'video', value: { ...video, mode: VideoMode.VIDEO_MODE_CHAINED, keyframes: [] } }),
    submit('video_upscale', {
      $case: 'videoUpscale',
      value: {
        frames: [png, png],
        model: 'esrgan-slim-x2',
        framesPerBatch: 1,
        formats: [VideoFormat.VIDEO_FORMAT_WEBP],
        fps: 8,
      },
    }),
    submit('video_upscale', { $case: 'videoUpscale', value: { clip, model: 'esrgan-slim-x4' } }),
    submit('image', {
      $case: 'image',
      value: {
        model: 'sd15',
        prompt: 'a baboon',
        negativePrompt: 'blurry',
        width: 64,
        height: 64,
        steps: 2,
        guidanceScale: 7.5,
        scheduler: 'euler',
      },
    }),
    submit('image', {
      $case: 'image',
      value: {
        model: 'sdxl',
        prompt: 'a baboon, oil on canvas',
        width: 64,
        height: 64,
        steps: 2,
        guidanceScale: 5,
        initImage: png,
        strength: 0.5,
        refine: true,
        highNoiseFrac: 0.8,
      },
    }),
  ];
  return { pools, submitSeeds, header };
}
