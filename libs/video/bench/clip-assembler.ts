/**
 * ClipAssembler throughput and memory at SVD-XT size: a 60-frame 1024×576 clip (pan and zoom over the baboon photo)
 * in batches of 25 with overlap 4, pushed in plan order; with and without colour matching; plus peak held frames
 * for plan order and for the worst order (reversed), and the colour error of a drifting chained clip before and
 * after matching. Prints its figures, then one JSON summary line last.
 *
 *   npx tsx libs/video/bench/clip-assembler.ts [--reps 5]
 */
import { createRequire } from 'node:module';
import { ClipAssembler, planFrameBatches, type FrameBatch } from '../src/index.js';
import { panZoomClip } from '../src/testing/index.js';

const reps = Number(process.argv[process.argv.indexOf('--reps') + 1]) || 5;
const [W, H, N, PER, OVERLAP] = [1024, 576, 60, 25, 4];
const uri = createRequire(import.meta.url)('baboon-image-uri') as string;
const photo = Buffer.from(uri.slice(uri.indexOf(',') + 1), 'base64');

const t0 = performance.now();
const truth = await panZoomClip(photo, { frames: N, width: W, height: H });
console.log(`made ${N} frames of ${W}×${H} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
const plan = planFrameBatches({ totalFrames: N, framesPerBatch: PER, overlap: OVERLAP, mode: 'chained' });
console.log('plan', plan.map((b) => `[${b.start}, ${b.start + b.count})`).join(' '));

// chained drift, growing with clip time (see video-jobs.test.ts)
const tint = (frame: Uint8Array, t: number) =>
  frame.map((v, i) => {
    const c = i % 3;
    const x = c === 0 ? v * (1 + 0.004 * t) + 0.5 * t : c === 1 ? v + 0.25 * t : 128 + (v - 128) * (1 - 0.005 * t);
    return Math.max(0, Math.min(255, Math.round(x)));
  });
const batches = plan.map((b: FrameBatch) =>
  truth.slice(b.start, b.start + b.count).map((f, k) => tint(f, b.start + k)),
);

function run(colourMatch: boolean, order: number[], keep?: Uint8Array[]) {
  let emitted = 0;
  let checksum = 0;
  const asm = new ClipAssembler({
    width: W,
    height: H,
    totalFrames: N,
    batches: plan,
    overlap: OVERLAP,
    colourMatch,
    onFrame: (_i, rgb) => {
      emitted++;
      checksum = (checksum + rgb[rgb.length >> 1]) | 0;
      keep?.push(rgb);
    },
  });
  const t = performance.now();
  for (const b of order) asm.push(b, batches[b]);
  const ms = performance.now() - t;
  if (emitted !== N) throw new Error(`emitted ${emitted}`);
  return { ms, peak: asm.peakHeldFrames, checksum };
}

const inOrder = plan.map((b) => b.index);
const fps: Record<string, number> = {};
for (const colourMatch of [false, true]) {
  run(colourMatch, inOrder); // warm-up
  let ms = 0;
  for (let r = 0; r < reps; r++) ms += run(colourMatch, inOrder).ms;
  fps[colourMatch ? 'colour_match' : 'plain'] = (N * reps) / (ms / 1000);
  console.log(
    `colourMatch=${colourMatch}: ${(ms / reps).toFixed(0)} ms per clip, ${fps[colourMatch ? 'colour_match' : 'plain'].toFixed(0)} frames/s`,
  );
}
const peakInOrder = run(true, inOrder).peak;
const peakReversed = run(true, [...inOrder].reverse()).peak;
const frameMiB = (W * H * 3) / 2 ** 20;
console.log(
  `peak held frames: plan order ${peakInOrder} (${(peakInOrder * frameMiB).toFixed(0)} MiB), reversed ${peakReversed} (${(peakReversed * frameMiB).toFixed(0)} MiB) of ${plan.reduce((s, b) => s + b.count, 0)} generated`,
);

const mae = (a: Uint8Array[]) => {
  let s = 0;
  for (let k = 0; k < N; k++) for (let i = 0; i < a[k].length; i += 7) s += Math.abs(a[k][i] - truth[k][i]);
  return s / (N * Math.ceil(a[0].length / 7));
};
const raw: Uint8Array[] = [];
const matched: Uint8Array[] = [];
run(false, inOrder, raw);
run(true, inOrder, matched);
const drift = { before: mae(raw), after: mae(matched) };
console.log(
  `chained drift, mean abs error vs truth: ${drift.before.toFixed(2)} without matching, ${drift.after.toFixed(2)} with`,
);

console.log(
  JSON.stringify({
    bench: 'video-clip-assembler',
    width: W,
    height: H,
    frames: N,
    frames_per_batch: PER,
    overlap: OVERLAP,
    batches: plan.length,
    frames_per_second_plain: Math.round(fps.plain),
    frames_per_second_colour_match: Math.round(fps.colour_match),
    peak_held_frames_plan_order: peakInOrder,
    peak_held_frames_reversed: peakReversed,
    peak_held_bytes_plan_order: peakInOrder * W * H * 3,
    colour_mae_before: Number(drift.before.toFixed(3)),
    colour_mae_after: Number(drift.after.toFixed(3)),
  }),
);
