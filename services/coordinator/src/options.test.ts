import { describe, expect, it } from 'vitest';
import { compileCoordinatorOptions, parseShardTimeouts } from './options.js';

describe('shard timeouts per kind', () => {
  const defaults = { startMs: 30_000, runtimeMs: 3_600_000, stallMs: 600_000 };

  it('overrides only the named kind and timeout, in any unit', () => {
    const t = parseShardTimeouts(
      'svd_batch.runtime=2h, upscale_tile.stall=90s,sd_stage.start=1.5m,upscale_frames.stall=250ms',
      defaults,
    );
    expect(t.svd_batch).toEqual({ ...defaults, runtimeMs: 7_200_000 });
    expect(t.upscale_tile).toEqual({ ...defaults, stallMs: 90_000 });
    expect(t.sd_stage).toEqual({ ...defaults, startMs: 90_000 });
    expect(t.upscale_frames).toEqual({ ...defaults, stallMs: 250 });
  });

  it("takes the global options as every kind's defaults", () => {
    const o = compileCoordinatorOptions({ maxShardRuntimeMs: 5000, noProgressMs: 4000, startTimeoutMs: 3000 });
    for (const k of ['upscale_tile', 'upscale_frames', 'svd_batch', 'sd_stage'] as const)
      expect(o.timeouts[k]).toEqual({ startMs: 3000, runtimeMs: 5000, stallMs: 4000 });
  });

  it('refuses unknown kinds, timeouts, units and tiny values, naming the entry', () => {
    expect(() => parseShardTimeouts('video.runtime=1h', defaults)).toThrow(/"video.runtime=1h".*kinds upscale_tile/);
    expect(() => parseShardTimeouts('svd_batch.total=1h', defaults)).toThrow(/svd_batch.total=1h/);
    expect(() => parseShardTimeouts('svd_batch.runtime=1d', defaults)).toThrow(/units ms, s, m, h/);
    expect(() => parseShardTimeouts('svd_batch.runtime=50ms', defaults)).toThrow(/below the minimum of 100 ms/);
  });
});

describe('speculation budget', () => {
  it('defaults to 10 % of a job’s GPU-seconds, 0 turns it off, and refuses what is not a fraction', () => {
    expect(compileCoordinatorOptions({}).speculation).toEqual({ margin: 0.25, minSavingS: 1, budgetFraction: 0.1 });
    expect(compileCoordinatorOptions({ speculationBudget: 0 }).speculation.budgetFraction).toBe(0);
    expect(() => compileCoordinatorOptions({ speculationBudget: 1.5 })).toThrow(/speculationBudget must be a fraction/);
    expect(() => compileCoordinatorOptions({ speculationBudget: NaN })).toThrow(/speculationBudget/);
  });
});
