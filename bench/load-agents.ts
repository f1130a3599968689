/**
 * Child process of `npm run bench -- load`: runs zero-work load-test agent slots (the real Slot code
 * on the real NATS protocol, no inference) until SIGTERM, then drains and prints one JSON line
 * `{"computed": N}`. Not a product entry point.
 *
 *   tsx bench/load-agents.ts --nats URL --farm PREFIX --count N --prefix NAME
 */
import { parseArgs } from 'node:util';
import { createLogger } from '@tessera/runtime';
import { startZeroWorkLoadTestAgents } from '../services/agent/src/zero-work-engine.js';

const { values } = parseArgs({
  options: {
    nats: { type: 'string' },
    farm: { type: 'string' },
    count: { type: 'string', default: '50' },
    prefix: { type: 'string', default: 'zw' },
  },
});
const agents = await startZeroWorkLoadTestAgents({
  natsUrl: values.nats!,
  farm: values.farm!,
  count: Number(values.count),
  namePrefix: values.prefix!,
  log: createLogger('load-agents'),
});
process.stdout.write(`${JSON.stringify({ ready: Number(values.count) })}\n`);
process.once('SIGTERM', () => {
  void agents.drain().then(() => {
    process.stdout.write(`${JSON.stringify({ computed: agents.computed() })}\n`);
    process.exit(0);
  });
});
