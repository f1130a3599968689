/**
 * Benchmark runner: `npm run bench -- NAME [args]`. Each benchmark prints its figures and, last,
 * one JSON summary line.
 */
const benches: Record<string, () => Promise<{ main: (args: string[]) => Promise<void> }>> = {
  overhead: () => import('./overhead.js'),
  gpu: () => import('./gpu.js'),
  failover: () => import('./failover.js'),
  load: () => import('./load.js'),
  sim: () => import('./sim.js'),
  assembly: () => import('./assembly.js'),
  'model-fetch': () => import('./model-fetch.js'),
  'mixed-speed': () => import('./mixed-speed.js'),
  'plan-vs-farm': () => import('./plan-vs-farm.js'),
};

const [name, ...args] = process.argv.slice(2);
if (!name || !benches[name]) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [args]\n`);
  process.exit(2);
}
await (await benches[name]()).main(args);
