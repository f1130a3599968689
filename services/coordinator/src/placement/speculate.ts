/**
 * Speculative backups of stragglers (LATE, OSDI '08): the rule, pure. The coordinator and the
 * simulator apply it the same way; fencing makes sure only the first result commits.
 */

/** Defaults: a backup only when the idle agent saves at least 25 % and 1 s; ≤ 10 % extra GPU-seconds. */
export const SPECULATION_DEFAULTS = { margin: 0.25, minSavingS: 1, budgetFraction: 0.1 } as const;

export interface SpeculationOptions {
  /** Fraction of the running attempt's remaining time the backup must save (0.25 = finish 25 % sooner). */
  margin: number;
  /** Seconds the backup must save at least. */
  minSavingS: number;
  /** Backups of a job may add at most this fraction of its GPU-seconds (0 disables speculation). */
  budgetFraction: number;
}

/** A running attempt as the rule sees it. */
export interface RunningAttempt {
  readonly key: string;
  readonly jobId: string;
  /** Reference seconds of the shard. */
  readonly workS: number;
  /** Expected seconds until it finishes on its agent (≥ 0). */
  readonly remainingS: number;
  /** True when it already has a backup (one backup per shard). */
  readonly hasBackup: boolean;
  /** Whether the idle agent fits the shard (VRAM class, blocklist). */
  readonly fits: boolean;
  /** Idle agent's speed on the shard's model. */
  readonly idleSpeed: number;
}

/** GPU-seconds of a job: its shards' expected run time, and what its backups have spent so far. */
export interface JobBudget {
  readonly gpuS: number;
  readonly backupS: number;
}

/**
 * The attempt to back up on an idle agent, or null: of the running attempts the idle agent fits and
 * that have no backup, those whose expected remaining time exceeds the idle agent's full run by the
 * margin (remaining − full ≥ max(minSavingS, margin × remaining)) and whose job's backup spending plus
 * this run stays within budgetFraction of the job's GPU-seconds; the one that saves the most wins (LATE:
 * the longest time to end), ties by key.
 */
export function pickBackup<R extends RunningAttempt>(
  running: readonly R[],
  budget: (jobId: string) => JobBudget,
  o: SpeculationOptions = SPECULATION_DEFAULTS,
): R | null {
  if (o.budgetFraction <= 0) return null;
  let best: R | null = null;
  let bestSaving = 0;
  for (const r of running) {
    if (r.hasBackup || !r.fits || !(r.idleSpeed > 0)) continue;
    const full = r.workS / r.idleSpeed;
    const saving = r.remainingS - full;
    if (saving < Math.max(o.minSavingS, o.margin * r.remainingS)) continue;
    const b = budget(r.jobId);
    if (b.backupS + full > o.budgetFraction * b.gpuS) continue;
    if (!best || saving > bestSaving || (saving === bestSaving && r.key < best.key)) {
      best = r;
      bestSaving = saving;
    }
  }
  return best;
}
