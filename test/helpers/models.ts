/**
 * Puts tiny test models (`tessera models make-tiny`) into a farm's model store, for tests whose
 * jobs must be accepted (a job whose model is nowhere is refused at submit, issue 10).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TesseraModels, writeTinyModel, type TesseraClientOptions } from '@tessera/client';

export async function pushTinyModels(
  grpcAddr: string,
  families: readonly string[],
  options: TesseraClientOptions = {},
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-tiny-'));
  const models = new TesseraModels(grpcAddr, options);
  try {
    for (const f of families) {
      await writeTinyModel(f, join(dir, f));
      await models.push(f, join(dir, f));
    }
  } finally {
    models.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
