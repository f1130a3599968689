/** What the shell's parts share: the deps, the farm core and its state, the per-key locks. */
import type { Effect } from '../core/core.js';
import type { FarmCore } from '../core/core.js';
import type { FarmState } from '../core/farm.js';
import type { KeyedMutex } from '../mutex.js';
import type { ShellDeps } from './deps.js';
import type { Parked } from './dispatch.js';
import type { RecordWriter } from './writer.js';

export interface ShellContext {
  readonly d: ShellDeps;
  readonly core: FarmCore;
  readonly farm: FarmState;
  /** One shard's (key) or one job's (`job:<id>`) transitions never interleave. */
  readonly locks: KeyedMutex;
  readonly writer: RecordWriter;
  /** Performs the core's effects, in order. */
  perform(effects: readonly Effect<Parked>[]): void;
  /** Runs `p` without awaiting it; a failure is logged, never an unhandled rejection. */
  background(p: Promise<unknown>, what: string): void;
}
