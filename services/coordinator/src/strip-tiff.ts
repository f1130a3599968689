/**
 * The header of an uncompressed, little-endian, 8-bit RGB strip TIFF (baseline TIFF 6.0), so that raw
 * rows written after it, top to bottom, form a file libvips reads strip by strip. The streamed assembly
 * spools blended rows into such a file: libvips reads it sequentially without mapping it whole (a
 * VIPS `.v` file would be mmapped, and its pages would count in the coordinator's RSS), and encodes
 * PNG or tiled TIFF from it. Pure: no I/O.
 */

/** Bytes per pixel of the spooled image (RGB8). */
const CHANNELS = 3;
/** Number of IFD entries written by {@link stripTiffHeader}. */
const TAGS = 10;
/** Offset of the first (only) IFD, right after the 8-byte file header. */
const IFD_OFFSET = 8;

/** Classic TIFF addresses bytes with 32-bit offsets: the pixel data must end below 4 GiB. */
export const STRIP_TIFF_MAX_BYTES = 2 ** 32 - 1;

/** Layout of a strip TIFF: where its pixel data starts (= header length) and how rows are grouped. */
export interface StripTiffLayout {
  width: number;
  height: number;
  rowsPerStrip: number;
  strips: number;
  /** Byte offset of row 0's first pixel; rows follow back to back, `width × 3` bytes each. */
  dataOffset: number;
}

/** Computes the layout; throws RangeError for non-positive sizes or a file past the 32-bit offset limit. */
export function stripTiffLayout(width: number, height: number, rowsPerStrip: number): StripTiffLayout {
  for (const [name, v] of [
    ['width', width],
    ['height', height],
    ['rowsPerStrip', rowsPerStrip],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  const strips = Math.ceil(height / rowsPerStrip);
  const arrays = strips > 1 ? 2 * 4 * strips : 0; // StripOffsets + StripByteCounts, LONG each
  const dataOffset = IFD_OFFSET + 2 + TAGS * 12 + 4 + 6 + arrays; // + BitsPerSample (3 SHORT)
  if (dataOffset + width * height * CHANNELS > STRIP_TIFF_MAX_BYTES) {
    throw new RangeError(`a ${width}×${height} RGB8 strip TIFF exceeds the classic TIFF limit of 4 GiB`);
  }
  return { width, height, rowsPerStrip, strips, dataOffset };
}

/** The header bytes (file header, IFD and its arrays) of the layout; pixel data goes right after. */
export function stripTiffHeader(layout: StripTiffLayout): Uint8Array {
  const { width, height, rowsPerStrip, strips, dataOffset } = layout;
  const buf = Buffer.alloc(dataOffset);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(IFD_OFFSET, 4);
  buf.writeUInt16LE(TAGS, IFD_OFFSET);
  const bitsOffset = IFD_OFFSET + 2 + TAGS * 12 + 4;
  const offsetsAt = bitsOffset + 6;
  const countsAt = offsetsAt + 4 * strips;
  const rowBytes = width * CHANNELS;
  let p = IFD_OFFSET + 2;
  const SHORT = 3;
  const LONG = 4;
  const entry = (tag: number, type: number, count: number, value: number) => {
    buf.writeUInt16LE(tag, p);
    buf.writeUInt16LE(type, p + 2);
    buf.writeUInt32LE(count, p + 4);
    if (type === SHORT && count === 1) buf.writeUInt16LE(value, p + 8);
    else buf.writeUInt32LE(value, p + 8);
    p += 12;
  };
  // Tags in ascending order, as TIFF requires.
  entry(256, LONG, 1, width); // ImageWidth
  entry(257, LONG, 1, height); // ImageLength
  entry(258, SHORT, 3, bitsOffset); // BitsPerSample 8,8,8
  entry(259, SHORT, 1, 1); // Compression: none
  entry(262, SHORT, 1, 2); // PhotometricInterpretation: RGB
  entry(273, LONG, strips, strips > 1 ? offsetsAt : dataOffset); // StripOffsets
  entry(277, SHORT, 1, CHANNELS); // SamplesPerPixel
  entry(278, LONG, 1, rowsPerStrip); // RowsPerStrip
  entry(279, LONG, strips, strips > 1 ? countsAt : rowBytes * height); // StripByteCounts
  entry(284, SHORT, 1, 1); // PlanarConfiguration: chunky
  buf.writeUInt32LE(0, p); // no next IFD
  for (let i = 0; i < CHANNELS; i++) buf.writeUInt16LE(8, bitsOffset + 2 * i);
  if (strips > 1) {
    for (let s = 0; s < strips; s++) {
      const rows = Math.min(rowsPerStrip, height - s * rowsPerStrip);
      buf.writeUInt32LE(dataOffset + s * rowsPerStrip * rowBytes, offsetsAt + 4 * s);
      buf.writeUInt32LE(rows * rowBytes, countsAt + 4 * s);
    }
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
