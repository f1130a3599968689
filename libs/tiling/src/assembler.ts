/**
 * Streaming, bounded-memory reassembly of tiled model outputs (see weights.ts for the blend rule).
 *
 * Tiles arrive in any order. Output rows are emitted strictly top to bottom, as soon as every tile with
 * weight > 0 in them has arrived, through the `onRows` callback; a tile row is freed right after the
 * last rows that need it are emitted. Only the rows being emitted are accumulated, in Float32, summing
 * tiles in fixed index order, so the bytes do not depend on push order.
 *
 * Memory: tiles are held from arrival until their last band is emitted, so the peak depends on arrival
 * order. Once a band is emitted, a tile row that is still needed below it is trimmed to the rows still
 * needed (a copy of its bottom seam strip) when that frees at least half of what it holds. With row-major
 * arrival the peak is then about one tile row plus the seam strips of the row above and one chunk
 * accumulator. Example (see assembler.test.ts): an 8192² input, tile 512, overlap 16, margin 10, ×4 → a
 * 32768² RGB output (3.2 GB as bytes, 12.9 GB as Float32) is assembled holding ≈ 236 MB of tiles + an
 * 8 MiB accumulator.
 */
import { TilingError } from './errors.js';
import type { TilePlan } from './plan.js';
import { bandSchedule, lastSegmentOfRow, type BandSegment } from './band-schedule.js';
import { axisWeights, type AxisWeights } from './weights.js';
import {
  compileBlendOptions,
  tileOutputBytes,
  trimRows,
  type BandAssemblerOptions,
  type BlendOptions,
  type Compiled,
  type RowsSink,
} from './blend-options.js';

export {
  DEFAULT_ACCUMULATOR_BYTES,
  tileOutputBytes,
  type BlendOptions,
  type BandAssemblerOptions,
  type RowsSink,
} from './blend-options.js';
export { peakHeldBytes } from './peak-held.js';

/**
 * Streams the blended output of a tile plan. Invariants: rows are emitted once each, in order, as soon as
 * all their contributing tiles are in; each tile is held only until its last band is emitted; the output
 * bytes are independent of push order.
 */
export class BandAssembler {
  readonly plan: TilePlan;
  private readonly c: Compiled;
  private readonly onRows: RowsSink;
  private readonly segments: BandSegment[];
  private readonly lastSeg: number[];
  private readonly colW: AxisWeights[];
  private readonly rowW: AxisWeights[];
  private readonly tiles: (Uint8Array | undefined)[];
  private readonly received: boolean[];
  private readonly arrivedInRow: number[];
  private readonly acc: Float32Array;
  private readonly wsum: Float32Array;
  /** The reused chunk buffer (reuseRows), else undefined. */
  private readonly outBuf: Uint8Array | undefined;
  /** Scratch for seamRanges: [lo, hi) pairs, at most two per tile. */
  private readonly ranges: Int32Array;
  /** Per tile row: output rows its tiles have (input height × scale), and rows trimmed off their top. */
  private readonly tileRows: number[];
  private readonly trimmed: number[];
  private seg = 0;
  private y = 0;
  private held = 0;
  private peak = 0;

  constructor(plan: TilePlan, opts: BandAssemblerOptions) {
    this.plan = plan;
    this.c = compileBlendOptions(plan, opts);
    this.onRows = opts.onRows;
    this.segments = bandSchedule(plan, this.c.scale, this.c.margin);
    this.lastSeg = lastSegmentOfRow(plan, this.segments);
    this.colW = Array.from({ length: plan.cols }, (_, i) => axisWeights(plan, 'x', i, this.c.scale, this.c.margin));
    this.rowW = Array.from({ length: plan.rows }, (_, i) => axisWeights(plan, 'y', i, this.c.scale, this.c.margin));
    this.tiles = new Array(plan.tiles.length).fill(undefined);
    this.received = new Array(plan.tiles.length).fill(false);
    this.arrivedInRow = new Array(plan.rows).fill(0);
    this.tileRows = Array.from({ length: plan.rows }, (_, r) => plan.tiles[r * plan.cols].input.height * this.c.scale);
    this.trimmed = new Array(plan.rows).fill(0);
    const rows = Math.min(this.c.chunkRows, this.c.outHeight);
    this.acc = new Float32Array(this.c.outWidth * rows * this.c.channels);
    this.wsum = new Float32Array(this.c.outWidth * rows);
    this.outBuf = opts.reuseRows ? new Uint8Array(this.c.outWidth * rows * this.c.channels) : undefined;
    this.ranges = new Int32Array(4 * plan.rows * plan.cols);
  }

  /** Output rows already emitted; the next emitted chunk starts here. */
  get nextRow(): number {
    return this.y;
  }

  /** True once every output row has been emitted. */
  get done(): boolean {
    return this.y >= this.c.outHeight;
  }

  /** Bytes of tile data held right now. */
  get heldBytes(): number {
    return this.held;
  }

  /** Most tile bytes ever held at once (excludes the fixed accumulator, see {@link accumulatorBytes}). */
  get peakHeldBytes(): number {
    return this.peak;
  }

  /** Bytes of the Float32 accumulator (fixed for the assembler's life). */
  get accumulatorBytes(): number {
    return this.acc.byteLength + this.wsum.byteLength;
  }

  /**
   * Accepts tile `tileIndex`'s output (its input rect × scale, interleaved 8-bit, row-major) and emits every
   * row it completes through `onRows` before returning. Returns the number of rows emitted by this call.
   * Throws {@link TilingError} for an unknown or repeated index or a wrong byte length; the data is not copied,
   * so do not modify it after pushing.
   */
  push(tileIndex: number, data: Uint8Array): number {
    const { plan } = this;
    if (!Number.isInteger(tileIndex) || tileIndex < 0 || tileIndex >= plan.tiles.length) {
      throw new TilingError(
        'tileIndex',
        `tile index must be an integer in [0, ${plan.tiles.length}), got ${tileIndex}`,
      );
    }
    if (this.received[tileIndex]) throw new TilingError('tileIndex', `tile ${tileIndex} was already pushed`);
    const expected = tileOutputBytes(plan, tileIndex, this.c.scale, this.c.channels);
    if (data.length !== expected) {
      throw new TilingError('data', `tile ${tileIndex} output must be ${expected} bytes, got ${data.length}`);
    }
    this.received[tileIndex] = true;
    this.tiles[tileIndex] = data;
    this.arrivedInRow[plan.tiles[tileIndex].row]++;
    this.held += data.length;
    this.peak = Math.max(this.peak, this.held);
    const before = this.y;
    this.drain();
    return this.y - before;
  }

  private drain(): void {
    while (this.seg < this.segments.length) {
      const seg = this.segments[this.seg];
      if (!seg.rows.every((r) => this.arrivedInRow[r] === this.plan.cols)) return;
      while (this.y < seg.y1) {
        const y1 = Math.min(seg.y1, this.y + this.c.chunkRows);
        this.onRows(this.y, this.blend(seg.rows, this.y, y1));
        this.y = y1;
      }
      const next = this.segments[this.seg + 1]?.y0 ?? this.c.outHeight;
      for (const r of seg.rows) {
        if (this.lastSeg[r] === this.seg) this.freeRow(r);
        else this.trimRow(r, next);
      }
      this.seg++;
    }
  }

  /** Drops the output rows above `y` from tile row `r`'s tiles when that frees at least half of them. */
  private trimRow(r: number, y: number): void {
    const wy = this.rowW[r];
    const drop = trimRows(wy.offset + this.trimmed[r], wy.offset + this.tileRows[r], y);
    if (drop === 0) return;
    for (let c = 0; c < this.plan.cols; c++) {
      const i = r * this.plan.cols + c;
      const data = this.tiles[i] as Uint8Array;
      const rowBytes = data.length / (this.tileRows[r] - this.trimmed[r]);
      const kept = data.slice(drop * rowBytes);
      this.held -= data.length - kept.length;
      this.tiles[i] = kept;
    }
    this.trimmed[r] += drop;
  }

  private freeRow(r: number): void {
    for (let c = 0; c < this.plan.cols; c++) {
      const i = r * this.plan.cols + c;
      this.held -= this.tiles[i]?.length ?? 0;
      this.tiles[i] = undefined;
    }
  }

  /**
   * Weighted mean of the contributing tiles over output rows [y0, y1). Per pixel, tiles are summed in
   * index order (tile row, then column), so the result does not depend on push order. Pixels where one
   * tile has weight exactly 1 (all others exactly 0: the weights telescope) are copied; that is the value
   * the weighted mean gives there too, and it is most of the image. Only the seam pixels touch the
   * Float32 accumulator (zeroed, summed and divided range by range), so a chunk costs about one copy of
   * its bytes plus its seams.
   */
  private blend(rows: number[], y0: number, y1: number): Uint8Array {
    const { outWidth: W, channels: ch } = this.c;
    const { acc, wsum } = this;
    const size = W * (y1 - y0) * ch;
    const out = this.outBuf ? this.outBuf.subarray(0, size) : new Uint8Array(size);
    for (let y = y0; y < y1; y++) {
      const dst = (y - y0) * W;
      const seams = this.seamRanges(rows, y);
      for (let i = 0; i < seams; i += 2) {
        acc.fill(0, (dst + this.ranges[i]) * ch, (dst + this.ranges[i + 1]) * ch);
        wsum.fill(0, dst + this.ranges[i], dst + this.ranges[i + 1]);
      }
      for (const r of rows) {
        const wy = this.rowW[r];
        if (y < wy.lo || y >= wy.hi) continue;
        const fy = wy.weights[y - wy.offset];
        for (let c = 0; c < this.plan.cols; c++) {
          const spec = this.plan.tiles[r * this.plan.cols + c];
          const data = this.tiles[spec.index] as Uint8Array;
          const wx = this.colW[c];
          const src = (y - wy.offset - this.trimmed[r]) * spec.input.width * this.c.scale - wx.offset;
          if (fy === 1 && wx.fullLo < wx.fullHi) {
            out.set(data.subarray((src + wx.fullLo) * ch, (src + wx.fullHi) * ch), (dst + wx.fullLo) * ch);
            this.accumulate(data, src, dst, fy, wx, wx.lo, wx.fullLo);
            this.accumulate(data, src, dst, fy, wx, wx.fullHi, wx.hi);
          } else {
            this.accumulate(data, src, dst, fy, wx, wx.lo, wx.hi);
          }
        }
      }
      for (let i = 0; i < seams; i += 2) {
        for (let p = dst + this.ranges[i]; p < dst + this.ranges[i + 1]; p++) {
          const sum = wsum[p];
          // No tile weighs on it (weights vanish at their support's ends): 0, as a fresh chunk holds.
          if (sum === 0) out.fill(0, p * ch, p * ch + ch);
          else for (let k = 0; k < ch; k++) out[p * ch + k] = Math.round(acc[p * ch + k] / sum);
        }
      }
    }
    return out;
  }

  /**
   * Fills `this.ranges` with the disjoint x ranges [lo, hi) of output row `y` that some tile accumulates
   * into (its support minus the part it copies with weight 1), merged and ascending; returns 2 × their count.
   */
  private seamRanges(rows: number[], y: number): number {
    const ranges = this.ranges;
    let n = 0;
    const add = (lo: number, hi: number) => {
      if (lo >= hi) return;
      // Insertion keeps the list sorted by lo (ranges arrive almost sorted: column order per tile row).
      let i = n;
      while (i > 0 && ranges[i - 2] > lo) {
        ranges[i] = ranges[i - 2];
        ranges[i + 1] = ranges[i - 1];
        i -= 2;
      }
      ranges[i] = lo;
      ranges[i + 1] = hi;
      n += 2;
    };
    for (const r of rows) {
      const wy = this.rowW[r];
      if (y < wy.lo || y >= wy.hi) continue;
      const full = wy.weights[y - wy.offset] === 1;
      for (let c = 0; c < this.plan.cols; c++) {
        const wx = this.colW[c];
        if (full && wx.fullLo < wx.fullHi) {
          add(wx.lo, wx.fullLo);
          add(wx.fullHi, wx.hi);
        } else {
          add(wx.lo, wx.hi);
        }
      }
    }
    let m = 0;
    for (let i = 0; i < n; i += 2) {
      if (m > 0 && ranges[i] <= ranges[m - 1]) {
        ranges[m - 1] = Math.max(ranges[m - 1], ranges[i + 1]);
      } else {
        ranges[m] = ranges[i];
        ranges[m + 1] = ranges[i + 1];
        m += 2;
      }
    }
    return m;
  }

  /** Adds tile pixels x ∈ [xa, xb) of one row, weighted fy · wx(x), into the accumulator row `dst`. */
  private accumulate(
    data: Uint8Array,
    src: number,
    dst: number,
    fy: number,
    wx: AxisWeights,
    xa: number,
    xb: number,
  ): void {
    const { acc, wsum } = this;
    const ch = this.c.channels;
    const weights = wx.weights;
    const off = wx.offset;
    if (ch === 3) {
      // RGB unrolled (the same operations in the same order: the same bytes, about twice as fast).
      for (let x = xa; x < xb; x++) {
        const w = fy * weights[x - off];
        wsum[dst + x] += w;
        const s = (src + x) * 3;
        const d = (dst + x) * 3;
        acc[d] += w * data[s];
        acc[d + 1] += w * data[s + 1];
        acc[d + 2] += w * data[s + 2];
      }
      return;
    }
    for (let x = xa; x < xb; x++) {
      const w = fy * weights[x - off];
      wsum[dst + x] += w;
      const s = (src + x) * ch;
      const d = (dst + x) * ch;
      for (let k = 0; k < ch; k++) acc[d + k] += w * data[s + k];
    }
  }
}

/**
 * Convenience for tests and small images: pushes every tile (from `getTile(i)`, in `order` or index order)
 * through a {@link BandAssembler} and returns the whole output (width·scale × height·scale × channels bytes).
 */
export function assembleAll(
  plan: TilePlan,
  opts: BlendOptions & { chunkRows?: number },
  getTile: (index: number) => Uint8Array,
  order?: readonly number[],
): Uint8Array {
  const channels = opts.channels ?? 3;
  const rowBytes = plan.width * opts.scale * channels;
  const out = new Uint8Array(rowBytes * plan.height * opts.scale);
  const asm = new BandAssembler(plan, { ...opts, onRows: (y0, rows) => out.set(rows, y0 * rowBytes) });
  for (const i of order ?? plan.tiles.map((t) => t.index)) asm.push(i, getTile(i));
  if (!asm.done) throw new TilingError('tileIndex', `not every tile was pushed: stopped at output row ${asm.nextRow}`);
  return out;
}
