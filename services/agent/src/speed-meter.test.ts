import { describe, expect, it } from 'vitest';
import { SpeedMeter } from './speed-meter.js';

describe('SpeedMeter', () => {
  it('starts at the first sample and moves toward new ones by the EWMA weight', () => {
    const m = new SpeedMeter(0.5);
    expect(m.speeds()).toEqual([]);
    expect(m.record('sdxl', 10, 2)).toBe(5);
    expect(m.record('sdxl', 10, 1)).toBe(7.5);
    expect(m.record('esrgan-slim-x4', 1, 4)).toBe(0.25);
    expect(m.speeds()).toEqual([
      { model: 'sdxl', unitsPerSecond: 7.5, samples: 2 },
      { model: 'esrgan-slim-x4', unitsPerSecond: 0.25, samples: 1 },
    ]);
  });

  it('ignores runs without work units or time', () => {
    const m = new SpeedMeter();
    expect(m.record('sdxl', 0, 2)).toBeUndefined();
    expect(m.record('sdxl', 3, 0)).toBeUndefined();
    expect(m.record('sdxl', Number.NaN, 1)).toBeUndefined();
    expect(m.speeds()).toEqual([]);
  });
});
