import { describe, expect, it } from 'vitest';
import { blocklistedJobError } from './failure-messages.js';

describe('blocklistedJobError', () => {
  it('names the cause: the last error the agents reported', () => {
    expect(
      blocklistedJobError(0, 3, ['a', 'b'], "ENOENT: no such file or directory, open '/models/sd15/model_index.json'"),
    ).toBe(
      "every live agent that can run shard 0 is blocklisted for this job after 3 failures (a, b); last error: ENOENT: no such file or directory, open '/models/sd15/model_index.json'",
    );
  });

  it('caps a long error and says when there was none', () => {
    expect(blocklistedJobError(1, 2, ['a'], 'x'.repeat(2000))).toMatch(/last error: x{500}…$/);
    expect(blocklistedJobError(1, 2, ['a'], '')).toMatch(/last error: \(none reported\)$/);
  });
});
