/**
 * The console's static assets, loaded once into memory: the compiled front end of
 * `@tessera/console` (its dist/ and static/), and Preact's ES modules. Every asset is served under
 * `/assets/<version>/…`, where the version is a hash of all of them, so each can be cached for a year;
 * the page that names them is revalidated on every load.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { contentTypeOf } from './http-util.js';

/** One servable file. */
export interface Asset {
  body: Buffer;
  /** gzip of body, when that is smaller. */
  gzip?: Buffer;
  type: string;
  etag: string;
}

/** Everything the console serves that is not an API answer. */
export interface ConsoleAssets {
  /** Hash of every asset: the path segment that versions them. */
  version: string;
  /** `/assets/<version>/app/main.js` → asset. */
  files: Map<string, Asset>;
  /** The page (index.html with the version and import map filled in). */
  page: Asset;
  /** The CSP hash source of the page's inline import map. */
  importMapHash: string;
}

/** Builds an asset from bytes. */
export function asset(body: Buffer, type: string): Asset {
  const gz = /^(text\/|application\/json|image\/svg)/.test(type) ? gzipSync(body) : undefined;
  return {
    body,
    gzip: gz && gz.length < body.length ? gz : undefined,
    type,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  };
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** Reads the assets. Throws naming what is missing (e.g. the console was not built: run `npx tsc -b`). */
export function loadConsoleAssets(): ConsoleAssets {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('@tessera/console/package.json'));
  const fromConsole = createRequire(join(root, 'package.json'));
  const preact = dirname(fromConsole.resolve('preact/package.json'));
  const sources = new Map<string, string>();
  const dist = join(root, 'dist');
  let appFiles: string[];
  try {
    appFiles = walk(dist).filter((f) => f.endsWith('.js'));
  } catch (e) {
    throw new Error(`console assets: cannot read ${dist} (build the console with \`npx tsc -b\`)`, { cause: e });
  }
  if (!appFiles.some((f) => f.endsWith('main.js'))) throw new Error(`console assets: ${dist}/main.js is missing`);
  for (const f of appFiles) sources.set(`app/${relative(dist, f).split('\\').join('/')}`, f);
  sources.set('style.css', join(root, 'static', 'style.css'));
  sources.set('icon.svg', join(root, 'static', 'icon.svg'));
  sources.set('vendor/preact.js', join(preact, 'dist', 'preact.module.js'));
  sources.set('vendor/hooks.js', join(preact, 'hooks', 'dist', 'hooks.module.js'));
  sources.set('vendor/jsx-runtime.js', join(preact, 'jsx-runtime', 'dist', 'jsxRuntime.module.js'));
  const bodies = new Map([...sources].map(([k, f]) => [k, readFileSync(f)]));
  const h = createHash('sha256');
  for (const [k, b] of [...bodies].sort(([a], [b]) => a.localeCompare(b))) h.update(k).update('\0').update(b);
  const version = h.digest('hex').slice(0, 12);
  const base = `/assets/${version}/`;
  const files = new Map<string, Asset>();
  for (const [k, b] of bodies) files.set(base + k, asset(b, contentTypeOf(k)));
  const importMap = JSON.stringify({
    imports: {
      preact: `${base}vendor/preact.js`,
      'preact/hooks': `${base}vendor/hooks.js`,
      'preact/jsx-runtime': `${base}vendor/jsx-runtime.js`,
    },
  });
  const template = readFileSync(join(root, 'static', 'index.html'), 'utf8');
  const html = template.replaceAll('%BASE%', base).replace('%IMPORTMAP%', importMap);
  // The CSP hash covers the inline script's exact text, whitespace included.
  const inline = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1];
  if (inline === undefined) throw new Error('console assets: static/index.html has no import map');
  return {
    version,
    files,
    page: asset(Buffer.from(html), 'text/html; charset=utf-8'),
    importMapHash: `'sha256-${createHash('sha256').update(inline).digest('base64')}'`,
  };
}
