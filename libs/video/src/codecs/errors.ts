/**
 * Clip input that cannot be used: an unsupported or corrupt file, frames of the wrong size, a bad option
 * (`field` names it: 'width', 'height', 'fps', 'pattern', 'frames', 'input', …). `source` says which file,
 * directory or buffer it was about, when there is one.
 */
export class ClipFormatError extends Error {
  override readonly name = 'ClipFormatError';
  readonly field: string;
  readonly source: string | undefined;

  constructor(field: string, message: string, options?: { cause?: unknown; source?: string }) {
    super(message, options);
    this.field = field;
    this.source = options?.source;
  }
}

/**
 * `ffmpeg` or `ffprobe` is missing (`exitCode` null, `cause` the spawn error) or failed (`exitCode` its status,
 * `stderr` the last 4 KiB it wrote). `tool` is the binary as invoked.
 */
export class FfmpegError extends Error {
  override readonly name = 'FfmpegError';
  readonly tool: string;
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(
    tool: string,
    message: string,
    opts: { exitCode?: number | null; stderr?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.tool = tool;
    this.exitCode = opts.exitCode ?? null;
    this.stderr = opts.stderr ?? '';
  }
}
