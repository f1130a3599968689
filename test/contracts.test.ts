/** Cross-package contracts: the hardware table's upscaler rows agree with what the engine converts. */
import { describe, expect, it } from 'vitest';
import { UPSCALER_IDS, upscalerSpec } from '@tessera/engine';
import { loadHardwareTable } from '@tessera/hardware';

describe('hardware table ↔ engine', () => {
  it('every engine upscaler has a table row with the same scale and receptive field', () => {
    const table = loadHardwareTable();
    for (const id of UPSCALER_IDS) {
      const row = table.models.get(id);
      const spec = upscalerSpec(id)!;
      expect(row?.upscaler, id).toBeDefined();
      expect(row!.upscaler!.scale).toBe(spec.scale);
      expect(row!.upscaler!.receptiveFieldPx).toBe(spec.receptiveFieldPx);
      expect(row!.upscaler!.defaultOverlapPx).toBeGreaterThanOrEqual(spec.receptiveFieldPx);
    }
  });
});
