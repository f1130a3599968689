import { describe, expect, it } from 'vitest';
import { connectRetryDelayMs } from './nats.js';

describe('connectRetryDelayMs', () => {
  it('backs off from 500 ms, doubling to a cap of 8 s', () => {
    expect([1, 2, 3, 4, 5, 6, 20].map(connectRetryDelayMs)).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });
});
