/**
 * The seed of a later pipeline stage of an image job, as the coordinator's planner gives it to the stage's shard
 * (the first stage takes the job seed itself): a splitmix64 hash of the job seed, the stage id and its position,
 * to 53 bits. Shared here so that `tessera-agent run txt2img` can reproduce a multi-stage farm job byte for byte.
 * The coordinator's `deriveSeed` is the same function; a coordinator test checks that they agree.
 */
export function deriveStageSeed(jobSeed: number, stage: string, index: number): number {
  let x = BigInt.asUintN(64, BigInt(Math.trunc(jobSeed)));
  const mix = (v: bigint) => {
    v = BigInt.asUintN(64, v + 0x9e3779b97f4a7c15n);
    v = BigInt.asUintN(64, (v ^ (v >> 30n)) * 0xbf58476d1ce4e5b9n);
    v = BigInt.asUintN(64, (v ^ (v >> 27n)) * 0x94d049bb133111ebn);
    return v ^ (v >> 31n);
  };
  for (const ch of stage) x = mix(x ^ BigInt(ch.charCodeAt(0)));
  x = mix(x ^ BigInt(index));
  return Number(x & ((1n << 53n) - 1n));
}
