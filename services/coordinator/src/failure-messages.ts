/**
 * Messages of failed jobs that must name their cause, not only the mechanism that gave up. Pure.
 */

/** The longest agent error quoted in a job's error (the job error is shown by `status` and stored). */
const MAX_CAUSE = 500;

/**
 * The error of a job failed because every live agent able to run one of its shards is blocklisted
 * for it. It ends with the last attempt's error, the cause (e.g. a model directory the agents lack),
 * which alone tells the user what to fix.
 */
export function blocklistedJobError(
  shardIndex: number,
  limit: number,
  blocked: readonly string[],
  lastError: string,
): string {
  const cause = lastError.length > MAX_CAUSE ? `${lastError.slice(0, MAX_CAUSE)}…` : lastError;
  return (
    `every live agent that can run shard ${shardIndex} is blocklisted for this job after ${limit} failures ` +
    `(${blocked.join(', ')}); last error: ${cause || '(none reported)'}`
  );
}
