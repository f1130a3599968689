import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { authenticator, DEFAULT_USER, loadApiUsers } from './auth.js';
import { checkUserJobs, checkUserShards } from './limits.js';

function tokensFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tessera-tokens-')), 'tokens');
  writeFileSync(file, text);
  return file;
}

function bearer(token?: string): Metadata {
  const md = new Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return md;
}

const cert = (cn: string) => ({ sslPeerCertificate: { subject: { CN: cn } } }) as never;

describe('loadApiUsers', () => {
  it('reads user:token and bare tokens from the option, and every form from the file', () => {
    const file = tokensFile('# farm users\n\ncarol   carol-secret-1\n dave:dave-secret-1 \nshared-token-2\n');
    const users = loadApiUsers('alpha-token, bob:beta-token', file);
    expect(users.map((u) => u.user)).toEqual([DEFAULT_USER, 'bob', 'carol', 'dave', DEFAULT_USER]);
    // Only digests are kept.
    expect(JSON.stringify(users)).not.toContain('secret');
  });

  it('names the entry of a bad token', () => {
    expect(() => loadApiUsers('bob:short', undefined)).toThrow(
      'option apiTokens entry 1: the token of user bob is shorter than 8 characters',
    );
    expect(() => loadApiUsers('good-token-1,bad user:long-enough-1', undefined)).toThrow(
      'option apiTokens entry 2: user "bad user" is not 1-64 of [A-Za-z0-9_.@-]',
    );
    const file = tokensFile('carol carol-secret-1\ndave dave-secret-1 boss\n');
    expect(() => loadApiUsers('', file)).toThrow(
      `option apiTokensFile: ${file} line 2: role "boss" is not one of user, viewer, admin`,
    );
    const four = tokensFile('dave dave-secret-1 admin x\n');
    expect(() => loadApiUsers('', four)).toThrow(
      `option apiTokensFile: ${four} line 1: expected "user token [role]", "user:token" or "token", got 4 words`,
    );
    expect(() => loadApiUsers('', '/nonexistent/tokens')).toThrow(
      'option apiTokensFile: cannot read /nonexistent/tokens',
    );
  });

  it('reads a role as the third word of a file line (default user), one role per user', () => {
    const file = tokensFile(
      'root root-secret-1 admin\nvic vic-secret-1 viewer\ncarol carol-secret-1 user\ndan dan-secret-1\n',
    );
    expect(loadApiUsers('bob:bob-token-1', file).map((u) => `${u.user}=${u.role}`)).toEqual([
      'bob=user',
      'root=admin',
      'vic=viewer',
      'carol=user',
      'dan=user',
    ]);
    const split = tokensFile('root root-secret-1 admin\nroot root-secret-2\n');
    expect(() => loadApiUsers('', split)).toThrow(
      `api tokens: ${split} line 2 gives user root the role user, but ${split} line 1 gives it admin`,
    );
  });

  it('refuses one token for two users, and accepts a repeated entry', () => {
    expect(() => loadApiUsers('bob:same-token-1,carol:same-token-1', undefined)).toThrow(
      'api tokens: apiTokens entry 2 gives user carol the token of user bob (apiTokens entry 1)',
    );
    expect(loadApiUsers('bob:same-token-1,bob:same-token-1', undefined)).toHaveLength(1);
  });
});

describe('authenticator', () => {
  const users = loadApiUsers('bob:bob-token-1,plain-token-1', undefined);

  it('names the user of a valid token and refuses a missing, wrong or malformed one', () => {
    const who = authenticator(users, false);
    expect(who(bearer('bob-token-1'), undefined)).toEqual({ ok: true, user: 'bob' });
    expect(who(bearer('plain-token-1'), undefined)).toEqual({ ok: true, user: DEFAULT_USER });
    expect(who(bearer('bob-token-2'), undefined)).toEqual({ ok: false, why: 'invalid bearer token' });
    expect(who(bearer(), undefined)).toMatchObject({ ok: false, why: expect.stringMatching(/^missing bearer token/) });
    const basic = new Metadata();
    basic.set('authorization', 'Basic Ym9iOng=');
    expect(who(basic, undefined)).toMatchObject({ ok: false, why: expect.stringMatching(/^malformed authorization/) });
  });

  it('is anonymous without tokens, and refuses a token sent to a coordinator that has none', () => {
    const who = authenticator([], false);
    expect(who(bearer(), undefined)).toEqual({ ok: true, user: '' });
    expect(who(bearer('bob-token-1'), undefined)).toMatchObject({ ok: false });
  });

  it('under mutual TLS, takes the user from the certificate CN when no token is sent', () => {
    const who = authenticator(users, true);
    expect(who(bearer(), cert('carol'))).toEqual({ ok: true, user: 'carol' });
    expect(who(bearer('bob-token-1'), cert('carol'))).toEqual({ ok: true, user: 'bob' });
    expect(who(bearer(), cert('Carol Smith'))).toMatchObject({
      ok: false,
      why: expect.stringContaining(`the client certificate's CN "Carol Smith"`),
    });
    expect(who(bearer(), {} as never)).toMatchObject({ ok: false, why: 'no bearer token, and no client certificate' });
    expect(authenticator([], true)(bearer(), cert('carol'))).toEqual({ ok: true, user: 'carol' });
  });
});

describe('per-user limits', () => {
  const limits = { maxJobsPerUser: 2, maxQueuedShardsPerUser: 10 };
  it('refuse at the limit, naming the user and the flag', () => {
    expect(() => checkUserJobs(limits, 'bob', { unfinishedJobs: 1, queuedShards: 0 })).not.toThrow();
    expect(() => checkUserJobs(limits, 'bob', { unfinishedJobs: 2, queuedShards: 0 })).toThrow(
      'job: user "bob" has 2 unfinished jobs, the per-user limit (--max-jobs-per-user) is 2',
    );
    expect(() => checkUserShards(limits, '', { unfinishedJobs: 0, queuedShards: 4 }, 6)).not.toThrow();
    expect(() => checkUserShards(limits, '', { unfinishedJobs: 0, queuedShards: 4 }, 7)).toThrow(
      'job: the anonymous user has 4 shards queued; 7 more would exceed the per-user limit (--max-queued-shards-per-user) of 10',
    );
    const none = { maxJobsPerUser: 0, maxQueuedShardsPerUser: 0 };
    expect(() => checkUserJobs(none, 'bob', { unfinishedJobs: 1e6, queuedShards: 1e6 })).not.toThrow();
    expect(() => checkUserShards(none, 'bob', { unfinishedJobs: 0, queuedShards: 1e6 }, 1e6)).not.toThrow();
  });
});
