/// <reference lib="dom" />
// The page callbacks below run in the browser.
/**
 * Issue 15, the web console, against a real farm (nats-server, the coordinator and agent binaries)
 * in Debian's Chromium driven by playwright-core: a tiled upscale filling in tile by tile, the
 * fleet view, cancelling a job; with API tokens, 401s and per-user sign-in; assets' types and caching.
 * Screenshots go to test-artifacts/.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { JobState } from '@tessera/protocol';
import { TesseraClient } from '@tessera/client';
import { artifactsDir, chromiumPath, skipBrowser } from './helpers/browser.js';
import { startFarm, type Farm } from './helpers/farm.js';
import { baboonCrop, baboonPng } from './helpers/images.js';
import { freePort, waitFor } from './helpers/process.js';
import { startReplica } from './helpers/replica.js';

let browser: Browser;

beforeAll(async () => {
  if (skipBrowser) return;
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error('Chromium is missing: apt-get install chromium (or set TESSERA_CHROMIUM)');
  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
});

describe.skipIf(skipBrowser)('web console in Chromium', () => {
  let farm: Farm;
  let consoleUrl: string;

  beforeAll(async () => {
    const port = await freePort();
    consoleUrl = `http://127.0.0.1:${port}`;
    // No agent yet: the job page is open before the first tile runs.
    farm = await startFarm({ agents: [], coordinatorArgs: ['--console', `127.0.0.1:${port}`] });
  });

  afterAll(async () => {
    await farm?.close();
  });

  it('shows a tiled upscale filling in tile by tile, the fleet, cancels a job and retries it', async () => {
    const job = await farm.client.submitUpscale({ image: baboonPng(), model: 'esrgan-slim-x4', tile: 32, seed: 3 });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(`${consoleUrl}/jobs/${job.id}`);
    await page.waitForSelector(`.tile-grid[data-tiles-total="16"]`);
    // Every committed-tile count the page renders, recorded as it renders (not sampled).
    await page.evaluate(() => {
      const grid = document.querySelector('.tile-grid')!;
      const seen: number[] = [Number(grid.getAttribute('data-tiles-done'))];
      (window as unknown as { tileCounts: number[] }).tileCounts = seen;
      new MutationObserver(() => seen.push(Number(grid.getAttribute('data-tiles-done')))).observe(grid, {
        attributes: true,
        attributeFilter: ['data-tiles-done'],
      });
    });
    // One agent with one thread runs the 16 tiles one after another.
    await farm.startAgent({ name: 'a1', vramGb: 6 });
    // For people looking at the artifacts: the page part-way (the assertions below use the record).
    await page.waitForFunction(
      () => Number(document.querySelector('.tile-grid')?.getAttribute('data-tiles-done')) >= 6,
      {
        timeout: 120_000,
      },
    );
    await page.screenshot({ path: join(artifactsDir(), 'console-job-filling.png') });
    await page.waitForSelector('img.result-overlay', { timeout: 120_000 });
    await page.waitForFunction(
      () => (document.querySelector('img.result-overlay') as HTMLImageElement).naturalWidth > 0,
    );
    const counts = await page.evaluate(() => (window as unknown as { tileCounts: number[] }).tileCounts);
    const intermediate = [...new Set(counts.filter((n) => n > 0 && n < 16))];
    expect(counts[0]).toBe(0);
    expect(intermediate.length, `tile counts seen: ${counts.join(',')}`).toBeGreaterThanOrEqual(2);
    expect([...counts].sort((a, b) => a - b)).toEqual(counts);
    // The thumbnails under the result are the committed tiles, decoded by the browser.
    const tiles = await page.$$eval('img.tile.done', (imgs) =>
      imgs.map((i) => ({ w: (i as HTMLImageElement).naturalWidth, alt: i.getAttribute('alt') })),
    );
    expect(tiles).toHaveLength(16);
    for (const t of tiles) expect(t.w).toBeGreaterThan(0);
    expect(tiles[0].alt).toContain('a1');
    const result = await page.$eval('img.result-overlay', (i) => (i as HTMLImageElement).naturalWidth);
    expect(result).toBe(512);
    await page.screenshot({ path: join(artifactsDir(), 'console-job.png'), fullPage: true });

    // The fleet view: the agent under its VRAM class.
    await page.getByRole('link', { name: 'Fleet' }).click();
    const row = page.locator('section[data-class="6gb"] tr[data-agent="a1"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('esrgan-slim-x4');
    await page.screenshot({ path: join(artifactsDir(), 'console-fleet.png'), fullPage: true });

    // A second job, with no agent left to run it, cancelled from the jobs list.
    await farm.agents.get('a1')!.stop('SIGTERM');
    const second = await farm.client.submitUpscale({ image: baboonPng(), model: 'esrgan-slim-x4', tile: 64 });
    await page.getByRole('link', { name: 'Jobs' }).click();
    const jobRow = page.locator(`tr[data-job="${second.id}"]`);
    await jobRow.waitFor();
    expect(await page.locator(`tr[data-job="${job.id}"]`).getAttribute('data-state')).toBe('succeeded');
    await jobRow.getByRole('button', { name: `Cancel ${second.id}` }).click();
    await page.locator(`tr[data-job="${second.id}"][data-state="cancelled"]`).waitFor();
    expect((await farm.client.getJob(second.id)).state).toBe(JobState.JOB_STATE_CANCELLED);
    await page.screenshot({ path: join(artifactsDir(), 'console-jobs.png'), fullPage: true });

    // Retry submits the cancelled job again (input rebuilt from its tiles' stored inputs) and opens it.
    await page
      .locator(`tr[data-job="${second.id}"]`)
      .getByRole('button', { name: `Retry ${second.id}` })
      .click();
    await page.waitForURL((u) => /^\/jobs\/[A-Za-z0-9_-]+$/.test(u.pathname) && !u.pathname.endsWith(second.id));
    const retried = await farm.client.getJob(page.url().split('/').pop()!);
    expect(retried.id).not.toBe(second.id);
    expect([retried.model, retried.tile, retried.inputWidth, retried.shardsTotal]).toEqual([
      second.model,
      second.tile,
      second.inputWidth,
      second.shardsTotal,
    ]);
    await page.locator(`section[data-job="${retried.id}"]`).waitFor();
    await page.close();
  });

  it('is served by a standby too: API answers forwarded to the leader, events from NATS', async () => {
    const port = await freePort();
    const standby = await startReplica(farm, 'standby-console', ['--console', `127.0.0.1:${port}`], 0);
    try {
      const job = await farm.client.submitUpscale({ image: baboonPng(), model: 'esrgan-slim-x4', tile: 64 });
      const list = await fetch(`http://127.0.0.1:${port}/api/jobs`);
      expect(list.status).toBe(200);
      expect(((await list.json()) as { jobs: { id: string }[] }).jobs.map((j) => j.id)).toContain(job.id);
      const res = await fetch(`http://127.0.0.1:${port}/api/events?job=${job.id}`);
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      const until = async (re: RegExp) => {
        while (!re.test(text)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`stream ended; got ${text}`);
          text += value;
        }
      };
      await until(/event: ready\n/);
      // Cancelled through the leader; the standby's stream relays the change it published.
      await farm.client.cancelJob(job.id);
      await until(/event: job\ndata: .*"state":6/);
      await reader.cancel();
    } finally {
      standby.client.close();
      await standby.proc.stop();
    }
  });

  it('shows the batches of a video upscale on the timeline, then the clip', async () => {
    if (!farm.agents.get('v1')) await farm.startAgent({ name: 'v1', vramGb: 8 });
    const frames = await Promise.all([0, 4, 8, 12, 16, 20].map((d) => baboonCrop(d, d, 48, 40)));
    const job = await farm.client.submitVideoUpscale({
      frames,
      model: 'esrgan-slim-x4',
      framesPerBatch: 2,
      formats: ['webp'],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${consoleUrl}/jobs/${job.id}`);
    const batches = page.getByRole('listitem');
    await page.locator('.timeline').waitFor();
    expect(await batches.count()).toBe(3);
    expect(await batches.nth(1).getAttribute('aria-label')).toMatch(/^Batch 1: frames 2 to 3, /);
    await page.waitForSelector('section[data-state="succeeded"] img.result', { timeout: 120_000 });
    await page.waitForFunction(() => (document.querySelector('img.result') as HTMLImageElement).naturalWidth > 0);
    expect(await page.locator('.timeline .batch.done').count()).toBe(3);
    expect(await page.$eval('img.result', (i) => (i as HTMLImageElement).naturalWidth)).toBe(192);
    await page.screenshot({ path: join(artifactsDir(), 'console-video.png'), fullPage: true });
    await page.close();
  });

  it('serves assets with their content types and caching headers', async () => {
    // The jobs list carries the user's jobs for its first paint; other views are the same page for all.
    const list = await fetch(`${consoleUrl}/`);
    expect(list.headers.get('cache-control')).toBe('private, no-cache');
    expect(await list.text()).toContain('<script type="application/json" id="tessera-initial">');
    const page = await fetch(`${consoleUrl}/fleet`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('etag')).toBeTruthy();
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    const script = /src="(\/assets\/[0-9a-f]{12}\/app\/main\.js)"/.exec(html)?.[1];
    const style = /href="(\/assets\/[0-9a-f]{12}\/style\.css)"/.exec(html)?.[1];
    expect(script && style).toBeTruthy();
    const js = await fetch(consoleUrl + script!, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await js.text()).toContain('preact');
    const css = await fetch(consoleUrl + style!);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const again = await fetch(consoleUrl + style!, { headers: { 'if-none-match': css.headers.get('etag')! } });
    expect(again.status).toBe(304);
    const api = await fetch(`${consoleUrl}/api/jobs`);
    expect(api.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(api.headers.get('cache-control')).toBe('no-store');
    expect((await fetch(`${consoleUrl}/assets/000000000000/app/main.js`)).status).toBe(404);
    // Changes from another site's page are refused (the cookie is SameSite=Strict as well).
    for (const origin of ['http://elsewhere.example', 'null']) {
      const post = await fetch(`${consoleUrl}/api/jobs/some-job/cancel`, { method: 'POST', headers: { origin } });
      expect(post.status, origin).toBe(403);
    }
  });
});

describe.skipIf(skipBrowser)('web console with API tokens', () => {
  const alice = 'alice-token-1234';
  let farm: Farm;
  let consoleUrl: string;

  beforeAll(async () => {
    const port = await freePort();
    consoleUrl = `http://127.0.0.1:${port}`;
    farm = await startFarm({
      agents: [],
      token: alice,
      coordinatorArgs: ['--console', `127.0.0.1:${port}`, '--api-tokens', `alice:${alice},bob:bob-token-5678`],
    });
  });

  afterAll(async () => {
    await farm?.close();
  });

  it('answers 401 without a token and shows a signed-in user the jobs the API shows', async () => {
    const job = await farm.client.submitUpscale({ image: baboonPng(), model: 'esrgan-slim-x4', tile: 64 });
    for (const path of ['/', '/api/events', '/api/jobs', `/api/jobs/${job.id}`, `/api/events?job=${job.id}`]) {
      const res = await fetch(consoleUrl + path);
      expect(res.status, path).toBe(401);
    }
    const wrong = await fetch(`${consoleUrl}/api/jobs`, { headers: { authorization: 'Bearer not-a-token-at-all' } });
    expect(wrong.status).toBe(401);
    const signin = await (await fetch(`${consoleUrl}/`)).text();
    expect(signin).toContain('<form method="post" action="/api/session">');

    // What the console lists for alice is what ListJobs lists for her.
    const viaApi = (await farm.client.listJobs()).map((j) => j.id).sort();
    const res = await fetch(`${consoleUrl}/api/jobs`, { headers: { authorization: `Bearer ${alice}` } });
    expect(res.status).toBe(200);
    const listed = ((await res.json()) as { jobs: { id: string; owner: string }[] }).jobs;
    expect(listed.map((j) => j.id).sort()).toEqual(viaApi);
    expect(listed.find((j) => j.id === job.id)?.owner).toBe('alice');

    // Bob, through the same API, gets the same answer the API gives him.
    const bob = new TesseraClient(farm.grpcAddr, { token: 'bob-token-5678' });
    const bobJobs = (await bob.listJobs()).map((j) => j.id).sort();
    bob.close();
    const bobRes = await fetch(`${consoleUrl}/api/jobs`, { headers: { authorization: 'Bearer bob-token-5678' } });
    expect((((await bobRes.json()) as { jobs: { id: string }[] }).jobs.map((j) => j.id) ?? []).sort()).toEqual(bobJobs);

    // Sign-in in the browser: the form sets the cookie, the page and the event stream follow.
    const page = await browser.newPage();
    const first = await page.goto(`${consoleUrl}/`);
    expect(first?.status()).toBe(401);
    await page.getByLabel('API token').fill('wrong-token-0000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('invalid bearer token');
    await page.getByLabel('API token').fill(alice);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator(`tr[data-job="${job.id}"]`).waitFor();
    // The header learns who is signed in from its own request after the first paint: wait for it.
    await page.locator('.who', { hasText: 'alice' }).waitFor();
    expect(await page.locator('.who').textContent()).toContain('alice');
    await page.locator('.live.up').waitFor();
    await page.close();
  });
});

describe.skipIf(skipBrowser)('tessera up', () => {
  it('prints the console URL, and the page lists the demo job in headless Chromium', async () => {
    const { spawn, execFile } = await import('node:child_process');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { CLI_BIN } = await import('./helpers/farm.js');
    const { repoRoot } = await import('./helpers/process.js');
    const out = mkdtempSync(join(tmpdir(), 'tessera-console-up-'));
    const consolePort = await freePort();
    const up = spawn(
      process.execPath,
      [
        join(repoRoot, CLI_BIN),
        'up',
        '--keep',
        '--agents',
        '1',
        '--out',
        out,
        '--grpc',
        String(await freePort()),
      ].concat(['--console-port', String(consolePort)]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    up.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    up.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      const jobId = await waitFor(
        async () => {
          if (up.exitCode !== null) throw new Error(`tessera up exited: ${stderr.slice(-2000)}`);
          return /job (\S+) succeeded/.exec(stdout)?.[1] ?? null;
        },
        120_000,
        'the demo job',
        200,
      );
      expect(stdout).toContain(`console http://127.0.0.1:${consolePort}/`);
      const dom = await new Promise<string>((resolve, reject) =>
        execFile(
          chromiumPath()!,
          ['--headless', '--no-sandbox', '--disable-gpu', '--dump-dom', `http://127.0.0.1:${consolePort}/`],
          { timeout: 60_000, maxBuffer: 16 << 20 },
          (err, so) => (err ? reject(err) : resolve(so)),
        ),
      );
      expect(dom).toContain(`data-job="${jobId}"`);
    } finally {
      up.kill('SIGINT');
      await new Promise((r) => up.once('exit', r));
    }
  });
});
