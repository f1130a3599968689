/**
 * Encoding an assembled image in bounded memory. Blended rows are spooled, top to bottom, into an
 * uncompressed strip TIFF in a temporary folder (strip-tiff.ts); libvips (sharp) then reads that file
 * strip by strip and encodes each requested format to a file, which is streamed into the object store.
 * The coordinator never holds the whole raw image: memory is the blend's tiles and chunk plus libvips'
 * per-strip buffers. PNG from the spool is byte-identical to PNG from an in-memory raw buffer (same
 * encoder, same pixels; assembler-stream.test.ts).
 */
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import type { ImageFormatName } from './model.js';
import { stripTiffHeader, stripTiffLayout, type StripTiffLayout } from './strip-tiff.js';

export type { ImageFormatName };

/** Content type of each image format. */
export const IMAGE_CONTENT_TYPES: Record<ImageFormatName, string> = {
  png: 'image/png',
  tiff: 'image/tiff',
};

/** Tile side of the pyramidal TIFF output (a common size for tiled viewers and GIS tools). */
export const TIFF_TILE_PX = 256;

/** Rows per strip of the spool file (libvips reads a strip at a time). */
const SPOOL_ROWS_PER_STRIP = 16;

/**
 * A temporary folder holding one RGB8 spool file being written row band by row band. `writeRows` is
 * synchronous (it is called from BandAssembler's onRows) and writes at the rows' own offset.
 */
export class RowSpool {
  private fd: number | undefined;
  private rowsWritten = 0;

  private constructor(
    /** The temporary folder (removed by {@link dispose}). */
    readonly dir: string,
    /** The spool file (a strip TIFF). */
    readonly path: string,
    private readonly layout: StripTiffLayout,
  ) {
    this.fd = openSync(path, 'w');
    writeSync(this.fd, stripTiffHeader(layout));
  }

  /** Creates the temporary folder under `parent` and the spool file for a `width × height` RGB8 image. */
  static async open(parent: string, width: number, height: number): Promise<RowSpool> {
    const layout = stripTiffLayout(width, height, SPOOL_ROWS_PER_STRIP);
    const dir = await mkdtemp(join(parent, 'tessera-assembly-'));
    try {
      return new RowSpool(dir, join(dir, 'spool.tif'), layout);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Writes full rows starting at row `y0`; rows must arrive in order, each once. */
  writeRows(y0: number, rows: Uint8Array): void {
    const rowBytes = this.layout.width * 3;
    if (this.fd === undefined) throw new Error('spool is closed');
    if (y0 !== this.rowsWritten || rows.length % rowBytes !== 0) {
      throw new Error(`spool expected rows from ${this.rowsWritten}, got ${rows.length} bytes at row ${y0}`);
    }
    let done = 0;
    const at = this.layout.dataOffset + y0 * rowBytes;
    while (done < rows.length) done += writeSync(this.fd, rows, done, rows.length - done, at + done);
    this.rowsWritten += rows.length / rowBytes;
  }

  /** Closes the file; throws unless every row was written. */
  finish(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    if (this.rowsWritten !== this.layout.height) {
      throw new Error(`spool incomplete: ${this.rowsWritten} of ${this.layout.height} rows`);
    }
  }

  /**
   * Encodes the finished spool as `format` into a file in the spool's folder and returns its path.
   * PNG: sharp's defaults (as the in-memory path). TIFF: tiled 256², deflate with horizontal predictor,
   * a pyramid of halvings (BigTIFF when the raw image passes 2 GiB, so the pyramid stays addressable).
   */
  async encode(format: ImageFormatName): Promise<string> {
    const out = join(this.dir, `out.${format}`);
    const img = sharp(this.path, { limitInputPixels: false, sequentialRead: true });
    if (format === 'png') {
      await img.png().toFile(out);
    } else {
      const raw = this.layout.width * this.layout.height * 3;
      await img
        .tiff({
          tile: true,
          tileWidth: TIFF_TILE_PX,
          tileHeight: TIFF_TILE_PX,
          pyramid: true,
          compression: 'deflate',
          predictor: 'horizontal',
          bigtiff: raw > 2 ** 31,
        })
        .toFile(out);
    }
    return out;
  }

  /** Closes the file if open and removes the temporary folder. */
  async dispose(): Promise<void> {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A file's bytes as a web ReadableStream (what BlobStore.putStream takes). */
export function fileStream(path: string): ReadableStream<Uint8Array> {
  return Readable.toWeb(createReadStream(path, { highWaterMark: 512 * 1024 })) as ReadableStream<Uint8Array>;
}

/** Encodes an in-memory RGB8 image (the non-streamed path, for small outputs). */
export async function encodeRaw(
  raw: Uint8Array,
  width: number,
  height: number,
  format: ImageFormatName,
): Promise<Buffer> {
  const img = sharp(raw, { raw: { width, height, channels: 3 }, limitInputPixels: false });
  if (format === 'png') return img.png().toBuffer();
  return img
    .tiff({
      tile: true,
      tileWidth: TIFF_TILE_PX,
      tileHeight: TIFF_TILE_PX,
      pyramid: true,
      compression: 'deflate',
      predictor: 'horizontal',
    })
    .toBuffer();
}
