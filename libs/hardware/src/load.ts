/** The only I/O of this package: reading the hardware table file. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HardwareTableError } from './errors.js';
import { parseHardwareTable } from './parse.js';
import type { HardwareTable } from './types.js';

/** Absolute path of the table bundled with this package (`hardware-table.yaml` beside `dist/` and `src/`). */
export const BUNDLED_TABLE_PATH = fileURLToPath(new URL('../hardware-table.yaml', import.meta.url));

/**
 * Reads and validates a hardware table file (default: the bundled one). Throws {@link HardwareTableError}
 * naming the file when it cannot be read or is invalid.
 */
export function loadHardwareTable(path?: string): HardwareTable {
  const file = path ?? BUNDLED_TABLE_PATH;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new HardwareTableError(file, '', `cannot be read: ${(e as Error).message}`, { cause: e });
  }
  return parseHardwareTable(text, file);
}
