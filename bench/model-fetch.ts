/**
 * Model store throughput (issue 10): a model of random files pushed through the farm's gRPC
 * ModelService into JetStream, then fetched (every file verified, installed) by 1 agent cache and by
 * 4 at once, each in its own process, beside the store's raw read rate measured in the same run.
 * Memory: RSS growth of the pushing client and of the coordinator during the push, and the peak RSS
 * of each fetching process over its start. Targets: fetch ≥ 80 % of the raw read rate; RSS growth
 * ≤ 64 MiB whatever the model size.
 *
 *   npm run bench -- model-fetch [--gib 1] [--files 8]
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { TesseraModels } from '@tessera/client';
import { blobKey, ModelStore, modelStoreNames } from '@tessera/models';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { startFarm } from '../test/helpers/farm.js';
import { repoRoot } from '../test/helpers/process.js';

const MiB = 1024 * 1024;

/** Resident set of a process, from /proc (kB → bytes); `hwm` the peak. */
function rssOf(pid: number | 'self', field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Follows a process's RSS every 50 ms; `stop()` returns the peak growth over the first sample. */
function watchRss(pid: number | 'self'): { stop(): number } {
  const base = rssOf(pid);
  let peak = base;
  const t = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 50);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, rssOf(pid)) - base;
    },
  };
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const ws = createWriteStream(path);
  for (let left = bytes; left > 0; left -= 4 * MiB) {
    if (!ws.write(randomBytes(Math.min(4 * MiB, left)))) await new Promise<void>((r) => ws.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => ws.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

/** One fetching agent cache in its own process: prints `{seconds, rssGrowth}` as JSON. */
function fetchInChild(natsUrl: string, farm: string, dir: string): Promise<{ seconds: number; rssGrowth: number }> {
  const script = `
    import { readFileSync } from 'node:fs';
    import { connect } from '@nats-io/transport-node';
    import { ModelCache, ModelStore } from '@tessera/models';
    const rss = (f) => Number(new RegExp(f + ':\\\\s+(\\\\d+) kB').exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    const nc = await connect({ servers: ${JSON.stringify(natsUrl)} });
    const store = await ModelStore.open(nc, { farm: ${JSON.stringify(farm)} });
    const cache = new ModelCache({ dir: ${JSON.stringify(dir)}, store: async () => store });
    await cache.init();
    const base = rss('VmRSS');
    const t0 = performance.now();
    (await cache.acquire('bench-model')).release();
    const seconds = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ seconds, rssGrowth: rss('VmHWM') - base }));
    await nc.close();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`fetcher: ${out}`)),
    );
  });
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { gib: { type: 'string', default: '1' }, files: { type: 'string', default: '8' } },
  });
  const totalBytes = Math.round(Number(values.gib) * 1024 * MiB);
  const files = Number(values.files);
  const root = mkdtempSync(join(tmpdir(), 'tessera-bench-models-'));
  const farm = await startFarm({ agents: [] });
  try {
    const src = join(root, 'model');
    mkdirSync(join(src, 'unet'), { recursive: true });
    for (let i = 0; i < files; i++)
      await writeRandomFile(join(src, 'unet', `weights-${i}.bin`), Math.floor(totalBytes / files));
    const modelBytes = Math.floor(totalBytes / files) * files;
    console.log(`model: ${files} files of random bytes, ${(modelBytes / MiB).toFixed(0)} MiB`);

    // Push through the coordinator's ModelService (what `tessera models push` does).
    const client = new TesseraModels(farm.grpcAddr, { deadlineMs: 0 });
    const pusherRss = watchRss('self');
    const coordRss = watchRss(farm.coordinator.child.pid!);
    let t0 = performance.now();
    const pushed = await client.push('bench-model', src);
    const pushSeconds = (performance.now() - t0) / 1000;
    const pushRssGrowth = pusherRss.stop();
    const coordRssGrowth = coordRss.stop();
    client.close();
    const pushMBs = pushed.uploadedBytes / MiB / pushSeconds;
    console.log(
      `push: ${pushMBs.toFixed(1)} MB/s (${pushSeconds.toFixed(1)} s); RSS growth: client ${(pushRssGrowth / MiB).toFixed(1)} MiB, coordinator ${(coordRssGrowth / MiB).toFixed(1)} MiB`,
    );

    // The store's raw read rate: every chunk message fetched in order and discarded (no hashing, no
    // disk) with the direct gets the agents' reader uses.
    const nc = await connect({ servers: farm.nats.url });
    const store = await ModelStore.open(nc, { farm: farm.farmPrefix });
    const m = (await store.manifest('bench-model'))!;
    const os = await new Objm(jetstream(nc)).open(modelStoreNames(farm.farmPrefix).files);
    const jsm = await jetstreamManager(nc);
    t0 = performance.now();
    for (const f of m.files) {
      const info = (await os.info(blobKey(f.sha256)))!;
      const subject = `$O.${info.bucket}.C.${info.nuid}`;
      // One get ahead, as the agents' reader does.
      const get = (seq: number) => jsm.direct.getMessage(`OBJ_${info.bucket}`, { next_by_subj: subject, seq });
      let pending = get(1);
      for (let i = 0; i < info.chunks; i++) {
        const msg = (await pending)!;
        if (i + 1 < info.chunks) pending = get(msg.seq + 1);
      }
    }
    const rawSeconds = (performance.now() - t0) / 1000;
    const rawMBs = modelBytes / MiB / rawSeconds;
    console.log(`raw store read: ${rawMBs.toFixed(1)} MB/s (${rawSeconds.toFixed(1)} s)`);
    await nc.close();

    // One agent cache, then four at once (each its own process and directory).
    const one = await fetchInChild(farm.nats.url, farm.farmPrefix, join(root, 'agent-1'));
    const fetch1MBs = modelBytes / MiB / one.seconds;
    console.log(`fetch, 1 agent: ${fetch1MBs.toFixed(1)} MB/s; RSS growth ${(one.rssGrowth / MiB).toFixed(1)} MiB`);
    const four = await Promise.all(
      [0, 1, 2, 3].map((i) => fetchInChild(farm.nats.url, farm.farmPrefix, join(root, `agent-4-${i}`))),
    );
    const fetch4MBs = four.map((r) => modelBytes / MiB / r.seconds);
    console.log(
      `fetch, 4 agents at once: ${fetch4MBs.map((x) => x.toFixed(1)).join(', ')} MB/s each (${fetch4MBs.reduce((a, b) => a + b, 0).toFixed(1)} total); RSS growth ${four.map((r) => (r.rssGrowth / MiB).toFixed(1)).join(', ')} MiB`,
    );
    const maxRssGrowthMiB =
      Math.max(pushRssGrowth, coordRssGrowth, one.rssGrowth, ...four.map((r) => r.rssGrowth)) / MiB;
    console.log(
      JSON.stringify({
        bench: 'model-fetch',
        model_mib: Math.round(modelBytes / MiB),
        files,
        push_mb_s: round(pushMBs),
        raw_read_mb_s: round(rawMBs),
        fetch_1_agent_mb_s: round(fetch1MBs),
        fetch_4_agents_mb_s: fetch4MBs.map(round),
        fetch_vs_raw: round(fetch1MBs / rawMBs),
        max_rss_growth_mib: round(maxRssGrowthMiB),
        target_fetch_vs_raw: 0.8,
        target_rss_growth_mib: 64,
      }),
    );
  } finally {
    await farm.close();
    rmSync(root, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
