/**
 * Streaming assembly of frame batches into one clip: cross-fade over overlaps (cross-fade.ts), optional colour
 * matching of every batch to batch 0 (colour.ts), frames emitted strictly in order as soon as they are determined.
 *
 * Colour rule: the reference is batch 0, measured over all its frames, and is known as soon as batch 0 is
 * pushed. Batch b ≥ 1 is measured over all its frames when pushed and mapped onto the reference with
 * `colourTransferLut(stats_b, stats_0)`; batch 0 is never changed. A batch whose colours drifted (the usual fault
 * of chained SVD: each batch inherits and adds to the tint of the frame it is conditioned on) is pulled back to the
 * first batch's colours; a batch with the reference's statistics is left byte-identical. All frames rather than
 * only the overlap frames are measured because the drift grows along a batch: matching the batch mean halves the
 * largest residual error, and 20-odd frames give steadier statistics than 4. Nothing ever waits on colour: frame 0
 * belongs to batch 0, so no frame of a later batch is due before the reference is in.
 *
 * Memory: pushed frames are held (not copied) until the clip frames they contribute to are emitted, each frame
 * freed individually; with batches pushed in plan order the peak is about one batch plus one overlap. Frames are
 * never held as floats: blending works a frame at a time, bytes in and bytes out.
 */
import { ClipAssemblyError, requireIntIn } from './errors.js';
import { frameSources, type FrameSource } from './cross-fade.js';
import { validateFramePlan, type FrameBatch } from './plan.js';
import {
  applyColourLut,
  colourTransferLut,
  isIdentityLut,
  measureColourStats,
  requireMaxGain,
  type ColourStats,
} from './colour.js';

/** Receives clip frame `index` (width × height × 3 bytes, RGB8); called once per frame, in order, from `push`. */
export type FrameSink = (index: number, rgb: Uint8Array) => void;

/** Options of {@link ClipAssembler}. */
export interface ClipAssemblerOptions {
  /** Frame width in px, ≥ 1. */
  width: number;
  /** Frame height in px, ≥ 1. */
  height: number;
  /** Frames of the clip; must be where the plan ends. */
  totalFrames: number;
  /** The frame plan (from `planFrameBatches`); validated with `validateFramePlan`. */
  batches: readonly FrameBatch[];
  /** Frames shared by consecutive batches; must match the plan. */
  overlap: number;
  /** Map every batch's colour statistics onto batch 0's (see the module comment). Use for chained jobs. */
  colourMatch: boolean;
  /** Clamp of the per-channel contrast gain of colour matching, see `ColourMatchOptions`. Default 2. */
  maxGain?: number;
  /**
   * Called synchronously from `push`, strictly in frame order. `rgb` is read-only and may be the very buffer that
   * was pushed (frames that need no blending or colour change are passed through without a copy). An exception
   * propagates out of `push`; that frame then counts as emitted.
   */
  onFrame: FrameSink;
}

/**
 * Assembles a clip from batches pushed in any order. Invariants: `onFrame` sees every index in [0, totalFrames)
 * exactly once, in increasing order, each as soon as all its source batches are in; every pushed frame is released
 * once its clip frame is emitted; the bytes emitted do not depend on push order.
 */
export class ClipAssembler {
  /** Bytes of one RGB8 frame: width × height × 3. */
  readonly frameBytes: number;
  private readonly batches: readonly FrameBatch[];
  private readonly overlap: number;
  private readonly totalFrames: number;
  private readonly colourMatch: boolean;
  private readonly maxGain: number;
  private readonly onFrame: FrameSink;
  private readonly frames: ((Uint8Array | undefined)[] | undefined)[];
  private readonly received: boolean[];
  private readonly stats: (ColourStats | undefined)[];
  private readonly luts: (Uint8Array | null | undefined)[];
  private next = 0;
  private held = 0;
  private peak = 0;

  constructor(opts: ClipAssemblerOptions) {
    const err = (field: 'width' | 'height' | 'total_frames' | 'overlap') => (m: string) =>
      new ClipAssemblyError(field, m);
    const width = requireIntIn(err('width'), 'width', opts.width, 1);
    const height = requireIntIn(err('height'), 'height', opts.height, 1);
    this.totalFrames = requireIntIn(err('total_frames'), 'total_frames', opts.totalFrames, 1);
    this.overlap = requireIntIn(err('overlap'), 'overlap', opts.overlap, 0);
    validateFramePlan(opts.batches, this.totalFrames, this.overlap);
    this.frameBytes = width * height * 3;
    this.batches = opts.batches;
    this.colourMatch = opts.colourMatch;
    this.maxGain = requireMaxGain(opts.maxGain);
    this.onFrame = opts.onFrame;
    const n = opts.batches.length;
    this.frames = new Array(n).fill(undefined);
    this.received = new Array(n).fill(false);
    this.stats = new Array(n).fill(undefined);
    this.luts = new Array(n).fill(undefined);
  }

  /** Clip frames emitted so far; the next one emitted has this index. */
  get nextFrame(): number {
    return this.next;
  }

  /** True once every clip frame has been emitted. */
  get done(): boolean {
    return this.next >= this.totalFrames;
  }

  /** Pushed frames held right now. */
  get heldFrames(): number {
    return this.held;
  }

  /** Most pushed frames ever held at once (× `frameBytes` for bytes). */
  get peakHeldFrames(): number {
    return this.peak;
  }

  /**
   * Accepts all frames of batch `batchIndex` (its plan `count` frames, each `frameBytes` bytes, in batch order)
   * and emits every clip frame this completes before returning. Returns the number of frames emitted by this call.
   * Throws {@link ClipAssemblyError} for an unknown or repeated batch or wrong data. Frames are not copied: do not
   * modify them after pushing.
   */
  push(batchIndex: number, frames: readonly Uint8Array[]): number {
    const n = this.batches.length;
    if (!Number.isInteger(batchIndex) || batchIndex < 0 || batchIndex >= n) {
      throw new ClipAssemblyError('batch_index', `batch index must be an integer in [0, ${n}), got ${batchIndex}`);
    }
    if (this.received[batchIndex]) throw new ClipAssemblyError('batch_index', `batch ${batchIndex} was already pushed`);
    const { count } = this.batches[batchIndex];
    if (frames.length !== count) {
      throw new ClipAssemblyError('frames', `batch ${batchIndex} must have ${count} frames, got ${frames.length}`);
    }
    frames.forEach((f, k) => {
      if (!(f instanceof Uint8Array) || f.length !== this.frameBytes) {
        throw new ClipAssemblyError(
          'frames',
          `frame ${k} of batch ${batchIndex} must be a Uint8Array of ${this.frameBytes} bytes, got ${f?.length}`,
        );
      }
    });
    if (this.colourMatch) this.stats[batchIndex] = measureColourStats(frames);
    this.received[batchIndex] = true;
    this.frames[batchIndex] = [...frames];
    this.held += count;
    this.peak = Math.max(this.peak, this.held);
    const before = this.next;
    this.drain();
    return this.next - before;
  }

  private drain(): void {
    while (this.next < this.totalFrames) {
      const sources = frameSources(this.batches, this.overlap, this.next);
      if (!sources.every((s) => this.received[s.batch])) return;
      const rgb = this.compose(sources);
      const index = this.next++;
      for (const s of sources) this.release(s);
      this.onFrame(index, rgb);
    }
  }

  /** The colour-matched frame of one source, or the blend `a + w · (b − a)` of two, rounded to bytes. */
  private compose(sources: FrameSource[]): Uint8Array {
    const [a, b] = sources.map((s) => this.matched(s));
    if (b === undefined) return a;
    const w = sources[1].weight;
    const out = new Uint8Array(this.frameBytes);
    for (let j = 0; j < out.length; j++) out[j] = (a[j] + w * (b[j] - a[j]) + 0.5) | 0;
    return out;
  }

  private matched(s: FrameSource): Uint8Array {
    const frame = (this.frames[s.batch] as Uint8Array[])[s.frame];
    const lut = this.lutOf(s.batch);
    return lut === null ? frame : applyColourLut(frame, lut);
  }

  /** Colour table of batch `b` (null: leave as is). Needs batch 0 and b pushed, which `drain` guarantees. */
  private lutOf(b: number): Uint8Array | null {
    let lut = this.luts[b];
    if (lut === undefined) {
      lut = null;
      if (this.colourMatch && b > 0) {
        const t = colourTransferLut(this.stats[b] as ColourStats, this.stats[0] as ColourStats, {
          maxGain: this.maxGain,
        });
        if (!isIdentityLut(t)) lut = t;
      }
      this.luts[b] = lut;
    }
    return lut;
  }

  private release(s: FrameSource): void {
    const held = this.frames[s.batch] as (Uint8Array | undefined)[];
    held[s.frame] = undefined;
    this.held--;
    if (s.frame === held.length - 1) this.frames[s.batch] = undefined;
  }
}

/** Result of {@link assembleClip}. */
export interface AssembledClip {
  frames: Uint8Array[];
  peakHeldFrames: number;
}

/**
 * Convenience for tests and short clips: pushes every batch (`getBatch(b)`, in `order` or plan order) through a
 * {@link ClipAssembler} and returns all clip frames. Holds the whole clip; stream with the class for real work.
 */
export function assembleClip(
  opts: Omit<ClipAssemblerOptions, 'onFrame'>,
  getBatch: (batchIndex: number) => readonly Uint8Array[],
  order: readonly number[] = opts.batches.map((b) => b.index),
): AssembledClip {
  const frames: Uint8Array[] = [];
  const asm = new ClipAssembler({ ...opts, onFrame: (_i, rgb) => frames.push(rgb) });
  for (const b of order) asm.push(b, getBatch(b));
  if (!asm.done) {
    throw new ClipAssemblyError('batch_index', `order ${JSON.stringify(order)} does not push every batch`);
  }
  return { frames, peakHeldFrames: asm.peakHeldFrames };
}
