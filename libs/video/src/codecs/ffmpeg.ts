/**
 * The only module that runs `ffmpeg` / `ffprobe` (MP4 / H.264 out, any ffmpeg-readable video in). Frames cross
 * the process boundary as raw `rgb24` through pipes, with backpressure both ways; a failing tool surfaces as
 * {@link FfmpegError} with the tail of its stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { ClipFormatError, FfmpegError } from './errors.js';
import { checkedFrames, requireFps, requireGeometry, type FrameInput } from './frames.js';

/** Which binaries to run (names on PATH or paths). Defaults `ffmpeg` and `ffprobe`. */
export interface FfmpegTools {
  ffmpeg?: string;
  ffprobe?: string;
}

interface Running {
  child: ChildProcess;
  /** Resolves on exit status 0; rejects with FfmpegError (or the AbortError of `signal`). Never unhandled. */
  exited: Promise<void>;
}

function start(bin: string, args: string[], stdin: 'pipe' | 'ignore', signal?: AbortSignal): Running {
  signal?.throwIfAborted();
  const child = spawn(bin, args, { stdio: [stdin, 'pipe', 'pipe'], signal, killSignal: 'SIGKILL' });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => (stderr = (stderr + d).slice(-4096)));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.name === 'AbortError'
          ? (signal?.reason ?? e)
          : new FfmpegError(bin, `${bin} could not be started (${e.code ?? e.message}); is it installed?`, {
              cause: e,
            }),
      ),
    );
    child.once('close', (code, sig) => {
      if (code === 0) return resolve();
      const last = stderr.trim().split('\n').pop() ?? '';
      reject(new FfmpegError(bin, `${bin} exited with ${code ?? sig}: ${last}`, { exitCode: code, stderr }));
    });
  });
  exited.catch(() => {}); // callers await it; this only keeps an early failure from being "unhandled"
  return { child, exited };
}

async function output(bin: string, args: string[], signal?: AbortSignal): Promise<string> {
  const { child, exited } = start(bin, args, 'ignore', signal);
  let out = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => (out += d));
  await exited;
  return out;
}

/** True when both `ffmpeg` and `ffprobe` run (`-version` exits 0). Never throws. */
export async function ffmpegAvailable(tools: FfmpegTools = {}): Promise<boolean> {
  try {
    await output(tools.ffmpeg ?? 'ffmpeg', ['-version']);
    await output(tools.ffprobe ?? 'ffprobe', ['-version']);
    return true;
  } catch {
    return false;
  }
}

/** Options of {@link encodeMp4}. */
export interface Mp4Options extends FfmpegTools {
  width: number;
  height: number;
  /** Frames per second, (0, 1000]. */
  fps: number;
  /** x264 constant rate factor 0 (lossless) – 51. Default 18 (visually lossless). */
  crf?: number;
  /** x264 preset. Default `medium`. */
  preset?: string;
  signal?: AbortSignal;
}

/** What {@link encodeMp4} wrote. `width` / `height` are the encoded size (even, see encodeMp4). */
export interface Mp4Result {
  file: string;
  width: number;
  height: number;
  frames: number;
}

/**
 * Encodes RGB8 frames to `outFile` as H.264 in MP4 (yuv420p, `+faststart`), streaming them to ffmpeg's stdin.
 * yuv420p needs even sides: an odd width or height is padded by one black column / row on the right / bottom
 * (`Mp4Result` gives the encoded size). On any failure or abort `outFile` is removed. Throws
 * {@link FfmpegError} when ffmpeg is missing or fails, {@link ClipFormatError} for bad frames or no frames.
 */
export async function encodeMp4(frames: FrameInput, opts: Mp4Options, outFile: string): Promise<Mp4Result> {
  const { width, height, fps, crf = 18, preset = 'medium', signal } = opts;
  const frameBytes = requireGeometry(width, height);
  requireFps(fps);
  if (!Number.isInteger(crf) || crf < 0 || crf > 51)
    throw new ClipFormatError('crf', `crf must be an integer in [0, 51], got ${crf}`);
  const [evenW, evenH] = [width + (width % 2), height + (height % 2)];
  const pad = evenW !== width || evenH !== height ? ['-vf', `pad=${evenW}:${evenH}:0:0:black`] : [];
  const bin = opts.ffmpeg ?? 'ffmpeg';
  const args = [
    ...['-hide_banner', '-loglevel', 'error', '-y'],
    ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', String(fps), '-i', 'pipe:0'],
    ...pad,
    ...['-c:v', 'libx264', '-preset', preset, '-crf', String(crf), '-pix_fmt', 'yuv420p'],
    ...['-movflags', '+faststart', '-f', 'mp4', outFile],
  ];
  const { child, exited } = start(bin, args, 'pipe', signal);
  const stdin = child.stdin!;
  stdin.on('error', () => {}); // EPIPE when ffmpeg dies early; its exit status says why
  let n = 0;
  try {
    for await (const f of checkedFrames(frames, frameBytes, signal)) {
      if (!stdin.write(f)) await Promise.race([once(stdin, 'drain'), exited]);
      n++;
    }
    if (n === 0) throw new ClipFormatError('frames', 'an MP4 needs at least one frame');
    stdin.end();
    await exited;
  } catch (e) {
    child.kill('SIGKILL');
    await exited.catch(() => {});
    await rm(outFile, { force: true });
    throw e;
  }
  return { file: outFile, width: evenW, height: evenH, frames: n };
}

/** Number of video frames in `file` (packets of its first video stream, counted by ffprobe without decoding). */
export async function probeFrameCount(
  file: string,
  tools: FfmpegTools & { signal?: AbortSignal } = {},
): Promise<number> {
  const bin = tools.ffprobe ?? 'ffprobe';
  const args = ['-v', 'error', '-select_streams', 'v:0', '-count_packets'];
  const out = await output(
    bin,
    [...args, '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', file],
    tools.signal,
  );
  const n = Number.parseInt(out.trim(), 10);
  if (!Number.isInteger(n)) throw new ClipFormatError('input', `no video stream in ${file}`, { source: file });
  return n;
}

/** Size, frame rate and frame count of the first video stream of a file. */
export interface VideoProbe {
  width: number;
  height: number;
  fps: number;
  frameCount: number;
}

/** Reads {@link VideoProbe} with ffprobe (frame count from the container, else by counting packets). */
export async function probeVideo(
  file: string,
  tools: FfmpegTools & { signal?: AbortSignal } = {},
): Promise<VideoProbe> {
  const bin = tools.ffprobe ?? 'ffprobe';
  const entries = 'stream=width,height,avg_frame_rate,r_frame_rate,nb_frames';
  const out = await output(
    bin,
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', entries, '-of', 'json', file],
    tools.signal,
  );
  const s = (JSON.parse(out) as { streams?: Record<string, unknown>[] }).streams?.[0];
  if (s === undefined) throw new ClipFormatError('input', `no video stream in ${file}`, { source: file });
  const rate = (r: unknown) => {
    const [num, den] = String(r).split('/').map(Number);
    return den > 0 && num > 0 ? num / den : NaN;
  };
  const fps = [rate(s.avg_frame_rate), rate(s.r_frame_rate)].find(Number.isFinite) ?? NaN;
  const counted = Number(s.nb_frames);
  return {
    width: Number(s.width),
    height: Number(s.height),
    fps,
    frameCount: Number.isInteger(counted) && counted > 0 ? counted : await probeFrameCount(file, tools),
  };
}

/**
 * Decodes the first video stream of `file` to RGB8 frames of `width × height` (its coded size, from
 * {@link probeVideo}), one at a time: ffmpeg is paused while the consumer is busy and killed if it stops early.
 * Every decoded frame is yielded (no frame-rate conversion). Each yield is a fresh buffer the consumer may keep.
 */
export async function* decodeVideoFrames(
  file: string,
  geometry: { width: number; height: number },
  tools: FfmpegTools & { signal?: AbortSignal } = {},
): AsyncGenerator<Uint8Array> {
  const frameBytes = requireGeometry(geometry.width, geometry.height);
  const bin = tools.ffmpeg ?? 'ffmpeg';
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-i', file, '-map', '0:v:0'];
  const { child, exited } = start(
    bin,
    [...args, '-vsync', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
    'ignore',
    tools.signal,
  );
  try {
    let frame = new Uint8Array(frameBytes);
    let fill = 0;
    for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
      for (let off = 0; off < chunk.length;) {
        const n = Math.min(frameBytes - fill, chunk.length - off);
        frame.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === frameBytes) {
          yield frame;
          frame = new Uint8Array(frameBytes);
          fill = 0;
        }
      }
    }
    await exited;
    if (fill !== 0)
      throw new ClipFormatError('input', `${file} ended inside a frame (${fill} of ${frameBytes} bytes)`, {
        source: file,
      });
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
