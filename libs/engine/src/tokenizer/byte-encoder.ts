/**
 * GPT-2 / CLIP's reversible byte ↔ character table (`bytes_to_unicode`): the 188 printable Latin-1 bytes
 * ('!'…'~', '¡'…'¬', '®'…'ÿ') map to themselves, the other 68 bytes to U+0100, U+0101, … in byte order,
 * so BPE works on strings without whitespace or control characters. The insertion order (printable bytes
 * first, then the rest) is also the order of the first 256 CLIP vocabulary entries.
 */
export function bytesToUnicode(): Map<number, string> {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table = new Map<number, string>();
  for (const b of printable) table.set(b, String.fromCodePoint(b));
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!table.has(b)) table.set(b, String.fromCodePoint(256 + n++));
  }
  return table;
}
