import { describe, expect, it } from 'vitest';
import type { AgentAdvert } from '@tessera/protocol';
import { ModelHolders } from './model-holders.js';
import { mayManageModels } from './model-service.js';
import { simAdvert } from './sim/sim-shell.js';

const advert = (name: string, held: [string, string][]): AgentAdvert => ({
  ...simAdvert(`${name}-1`, name, 24),
  modelsHeld: held.map(([id, digest]) => ({ id, digest, bytes: 1 })),
});

describe('ModelHolders', () => {
  it('lists the agents holding each model, sorted, and forgets silent agents', () => {
    const h = new ModelHolders(1000);
    h.observe(advert('b', [['svd-xt', 'sha256:x']]), 0);
    h.observe(
      advert('a', [
        ['svd-xt', ''],
        ['sdxl', 'sha256:y'],
      ]),
      500,
    );
    expect(h.holders(900).get('svd-xt')).toEqual([
      { agent: 'a', digest: '' },
      { agent: 'b', digest: 'sha256:x' },
    ]);
    expect(h.holders(1200).get('svd-xt')).toEqual([{ agent: 'a', digest: '' }]);
    expect(h.holders(3000).size).toBe(0);
  });
});

describe('mayManageModels', () => {
  it('lets the anonymous caller of an open API and users of the admin role, no one else', () => {
    const roles = new Map([
      ['root', 'admin'],
      ['bob', 'user'],
      ['vic', 'viewer'],
    ] as const);
    expect(mayManageModels('', { roles: new Map() })).toBe(true);
    expect(mayManageModels('root', { roles })).toBe(true);
    expect(mayManageModels('bob', { roles })).toBe(false);
    expect(mayManageModels('vic', { roles })).toBe(false);
    // A name without a role entry (e.g. a mutual-TLS certificate's) is a plain user.
    expect(mayManageModels('admin', { roles })).toBe(false);
  });
});
