/**
 * Chaos helpers: a seeded random schedule of faults (replayable from its seed) and a tally of what
 * the coordinator logged about commits, refusals and requeues across all its incarnations.
 */

/** The fault kinds the chaos suite injects. */
export const FAULT_KINDS = ['agent-kill', 'coordinator-kill', 'nats-restart', 'agent-net-drop'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A seeded PRNG (mulberry32: 32-bit state, uniform in [0, 1)); the same seed gives the same draws. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [lo, hi]. */
export function randomInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** One planned fault. */
export interface Injection {
  kind: FaultKind;
  /** Agent slot it targets (agent-kill, agent-net-drop). */
  slot: number;
  /** Wait before injecting it (ms). */
  delayMs: number;
  /**
   * How long the fault lasts (ms): nats-server down time; connections refused after a sever;
   * time before a killed agent's replacement starts. 0 for a coordinator kill (restarted at once).
   */
  downMs: number;
}

/**
 * A random schedule of `total` faults with at least `minPerKind` of each kind, in random order.
 * Every draw comes from `rand`, in a fixed order, so the seed alone replays the schedule.
 */
export function chaosSchedule(
  rand: () => number,
  o: { total: number; minPerKind: number; slots: number; delayMs: [number, number] },
): Injection[] {
  if (o.total < o.minPerKind * FAULT_KINDS.length) throw new Error('total is below minPerKind × kinds');
  const kinds: FaultKind[] = FAULT_KINDS.flatMap((k) => Array<FaultKind>(o.minPerKind).fill(k));
  while (kinds.length < o.total) kinds.push(FAULT_KINDS[randomInt(rand, 0, FAULT_KINDS.length - 1)]);
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = randomInt(rand, 0, i);
    [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
  }
  return kinds.map((kind) => {
    const slot = randomInt(rand, 0, o.slots - 1);
    const delayMs = randomInt(rand, o.delayMs[0], o.delayMs[1]);
    // A third of the connection drops reconnect at once, a third after a short refusal, a third are
    // refused for longer than the agent-silence timeout (1.5 s): that agent is declared lost, its
    // lease moves on, and its result, should it still arrive, is a superseded one.
    const drop = rand();
    const downMs = {
      'agent-kill': randomInt(rand, 0, 1000),
      'coordinator-kill': 0,
      'nats-restart': randomInt(rand, 0, 1500),
      'agent-net-drop': drop < 1 / 3 ? 0 : drop < 2 / 3 ? randomInt(rand, 200, 1000) : randomInt(rand, 2000, 3500),
    }[kind];
    return { kind, slot, delayMs, downMs };
  });
}

/** A commit the coordinator logged ("shard done"). */
export interface LoggedCommit {
  job: string;
  shard: number;
  attempt: number;
}

/**
 * Reads the coordinator's JSON log lines (pino; debug level for the "shard done" lines) as they
 * arrive, per process, and counts what the chaos suite reports. The counts are lower bounds: pino
 * writes asynchronously, so a SIGKILLed coordinator takes its last few lines with it.
 */
export class CoordinatorLogTally {
  readonly commits: LoggedCommit[] = [];
  /** Results refused, by reason (superseded = a late result of an attempt that lost its lease). */
  readonly refused = new Map<string, number>();
  readonly refusedSuperseded: { job: string; shard: number; token: number; current: number }[] = [];
  /** Speculative backup leases granted, as `job.shard.token`. */
  readonly backups = new Set<string>();
  requeues = 0;
  /** Writes refused because the stored record's revision was not the cached one. */
  staleWrites = 0;
  /** Names of the agents the coordinator declared lost, in order. */
  readonly agentsLost: string[] = [];
  lines = 0;
  private readonly partial = new Map<string, string>();

  /** Feeds a chunk of one process's output. */
  feed(name: string, text: string): void {
    const buf = (this.partial.get(name) ?? '') + text;
    const lines = buf.split('\n');
    this.partial.set(name, lines.pop() ?? '');
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (!line.startsWith('{')) return;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    this.lines++;
    switch (e.msg) {
      case 'shard done':
        this.commits.push({ job: String(e.job), shard: Number(e.shard), attempt: Number(e.attempt) });
        break;
      case 'result refused': {
        const reason = String(e.reason);
        this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
        if (reason === 'superseded') {
          this.refusedSuperseded.push({
            job: String(e.job),
            shard: Number(e.shard),
            token: Number(e.token),
            current: Number(e.current),
          });
        }
        break;
      }
      case 'shard requeued':
        this.requeues++;
        break;
      case 'straggler backed up':
        this.backups.add(`${String(e.job)}.${Number(e.shard)}.${Number(e.attempt)}`);
        break;
      case 'shard record changed under us; refusing the transition':
        this.staleWrites++;
        break;
      case 'agent lost':
        this.agentsLost.push(String(e.agent));
        break;
    }
  }
}
