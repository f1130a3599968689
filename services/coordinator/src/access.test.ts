import { describe, expect, it } from 'vitest';
import {
  canCancel,
  canRead,
  canSubmit,
  PermissionDeniedError,
  principal,
  requireCancel,
  requireRead,
  rolesOf,
  visibleJobs,
} from './access.js';
import { loadApiUsers } from './auth.js';
import { NotFoundError } from './errors.js';

const users = loadApiUsers('bob:bob-token-1,eve:eve-token-1', undefined);
const roles = new Map([...rolesOf(users), ['root', 'admin' as const], ['vic', 'viewer' as const]]);
const bob = principal('bob', roles);
const eve = principal('eve', roles);
const root = principal('root', roles);
const vic = principal('vic', roles);

describe('job ownership', () => {
  it('gives each user its role, and the anonymous caller of an open API admin', () => {
    expect([bob.role, root.role, vic.role, principal('unlisted', roles).role]).toEqual([
      'user',
      'admin',
      'viewer',
      'user',
    ]);
    expect(principal('', roles).role).toBe('admin');
  });

  it('lets the owner, an admin and a viewer read; nobody else', () => {
    expect([bob, eve, root, vic].map((p) => canRead(p, 'bob'))).toEqual([true, false, true, true]);
    // A job submitted before authentication was on (owner '') is not any user's.
    expect([bob, root].map((p) => canRead(p, ''))).toEqual([false, true]);
  });

  it('lets the owner and an admin cancel; a viewer never, not even to submit', () => {
    expect([bob, eve, root, vic].map((p) => canCancel(p, 'bob'))).toEqual([true, false, true, false]);
    expect([bob, root, vic].map(canSubmit)).toEqual([true, true, false]);
  });

  it('answers NOT_FOUND to a stranger and PERMISSION_DENIED to a viewer', () => {
    const job = { id: 'j1', owner: 'bob' };
    expect(() => requireRead(eve, job)).toThrow(NotFoundError);
    expect(() => requireCancel(eve, job)).toThrow(NotFoundError);
    expect(() => requireCancel(vic, job)).toThrow(PermissionDeniedError);
    expect(() => requireCancel(vic, job)).toThrow('user vic has role viewer: it may not cancel job j1');
    expect(() => requireCancel(bob, job)).not.toThrow();
    expect(() => requireCancel(root, job)).not.toThrow();
  });

  it('lists only visible jobs, up to the limit counted after filtering', () => {
    const jobs = ['bob', 'eve', 'eve', 'bob', 'bob'].map((owner, i) => ({ id: `j${i}`, owner }));
    expect(visibleJobs(bob, jobs, 2).map((j) => j.id)).toEqual(['j0', 'j3']);
    expect(visibleJobs(eve, jobs, 10).map((j) => j.id)).toEqual(['j1', 'j2']);
    expect(visibleJobs(vic, jobs, 10)).toHaveLength(5);
  });
});
