/**
 * @tessera/video/codecs: clip I/O at the edge — animated WebP and PNG frames with sharp, MP4 / H.264 and video
 * decoding with ffmpeg when it is on PATH. Frames are RGB8 (`width × height × 3` bytes, row-major); inputs may be
 * arrays or async iterables, so a `ClipAssembler`'s output can stream straight into an encoder.
 */
export { ClipFormatError, FfmpegError } from './errors.js';
export { DEFAULT_FPS, requireFps, requireGeometry, type FrameInput } from './frames.js';
export { encodeAnimatedWebp, frameDelaysMs, MAX_WEBP_SIDE, type AnimatedWebpOptions } from './webp.js';
export { writePngFrames, frameFileName, DEFAULT_FRAME_PATTERN, type PngFramesOptions } from './png.js';
export {
  ffmpegAvailable,
  encodeMp4,
  probeFrameCount,
  probeVideo,
  decodeVideoFrames,
  type FfmpegTools,
  type Mp4Options,
  type Mp4Result,
  type VideoProbe,
} from './ffmpeg.js';
export { readClip, type Clip, type ClipFormat, type ClipInput, type ReadClipOptions } from './read-clip.js';
