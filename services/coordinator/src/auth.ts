/**
 * Who is calling the gRPC API: bearer tokens of named users (`--api-tokens`, `--api-tokens-file`)
 * and, with mutual TLS, the client certificate's common name. The authenticated user becomes the
 * owner of the jobs it submits (and the subject of the per-user limits).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';

/** The user a bare token (one given without `user:`) authenticates as. */
export const DEFAULT_USER = 'default';

/** User names: what a token entry or a certificate CN may name. */
const USER_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * What a user may do (see access.ts): `user` submits and manages its own jobs, `viewer` reads every
 * job and changes none, `admin` reads and cancels every job.
 */
export type Role = 'user' | 'viewer' | 'admin';

/** The roles a tokens file line may name. */
export const ROLES: readonly Role[] = ['user', 'viewer', 'admin'];

/** One accepted token and the user it names. */
export interface ApiUser {
  user: string;
  /** The user's role: the third word of its tokens-file line; `user` when not given. */
  role: Role;
  /** SHA-256 of the token: compared in constant time, and the token itself is not kept. */
  tokenSha256: Buffer;
}

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/**
 * Parses one entry: `user:token`, `user token [role]` (the file form) or a bare `token` (user
 * "default"). `where` names the entry in errors (option and position, or file and line).
 */
function parseEntry(entry: string, where: string, splitOnSpace: boolean): { user: string; token: string; role: Role } {
  const parts = splitOnSpace ? entry.split(/\s+/) : [entry];
  if (parts.length > 3)
    throw new Error(`${where}: expected "user token [role]", "user:token" or "token", got ${parts.length} words`);
  let user: string;
  let token: string;
  let role: Role = 'user';
  if (parts.length === 3) {
    const named = parts[2] as Role;
    if (!ROLES.includes(named))
      throw new Error(`${where}: role ${JSON.stringify(parts[2])} is not one of ${ROLES.join(', ')}`);
    role = named;
  }
  if (parts.length >= 2) [user, token] = parts as [string, string];
  else {
    const colon = entry.indexOf(':');
    [user, token] = colon < 0 ? [DEFAULT_USER, entry] : [entry.slice(0, colon), entry.slice(colon + 1)];
  }
  if (!USER_NAME.test(user))
    throw new Error(`${where}: user ${JSON.stringify(user.slice(0, 80))} is not 1-64 of [A-Za-z0-9_.@-]`);
  if (token.length < 8) throw new Error(`${where}: the token of user ${user} is shorter than 8 characters`);
  if (/\s/.test(token)) throw new Error(`${where}: the token of user ${user} contains whitespace`);
  return { user, token, role };
}

/**
 * The users of `--api-tokens` (comma-separated entries) and `--api-tokens-file` (one entry a line;
 * blank lines and `#` comments are skipped). Throws naming the option (and line) of a bad entry, or
 * a token given to two different users.
 */
export function loadApiUsers(list: string | undefined, file: string | undefined): ApiUser[] {
  const entries: { user: string; token: string; role: Role; where: string }[] = [];
  (list ?? '')
    .split(',')
    .map((t) => t.trim())
    .forEach((t, i) => {
      if (t)
        entries.push({ ...parseEntry(t, `option apiTokens entry ${i + 1}`, false), where: `apiTokens entry ${i + 1}` });
    });
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`option apiTokensFile: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const where = `${file} line ${i + 1}`;
      entries.push({ ...parseEntry(line, `option apiTokensFile: ${where}`, true), where });
    });
  }
  const byToken = new Map<string, { user: string; role: Role; where: string }>();
  const byUser = new Map<string, { role: Role; where: string }>();
  for (const e of entries) {
    const seen = byToken.get(e.token);
    if (seen && seen.user !== e.user)
      throw new Error(`api tokens: ${e.where} gives user ${e.user} the token of user ${seen.user} (${seen.where})`);
    byToken.set(e.token, e);
    const other = byUser.get(e.user);
    if (other && other.role !== e.role)
      throw new Error(
        `api tokens: ${e.where} gives user ${e.user} the role ${e.role}, but ${other.where} gives it ${other.role}`,
      );
    byUser.set(e.user, e);
  }
  return [...byToken].map(([token, { user, role }]) => ({ user, role, tokenSha256: digest(token) }));
}

/** What grpc-js knows about a call's transport (the verified peer certificate under TLS). */
type AuthContext = ReturnType<grpc.ServerUnaryCall<unknown, unknown>['getAuthContext']>;

/** Who made a call: a user name ('' = anonymous, when the API is open). */
export type Caller = { ok: true; user: string } | { ok: false; why: string };

/**
 * Resolves the caller of a call. A bearer token, when sent, must be one of `users` and names the
 * user. Without a token: under mutual TLS the verified client certificate names the user by its CN;
 * otherwise the call is anonymous ('') when no tokens are configured, and refused when they are.
 */
export function authenticator(
  users: readonly ApiUser[],
  mtls: boolean,
): (md: grpc.Metadata, auth: AuthContext | undefined) => Caller {
  return (md, auth) => {
    const header = md.get('authorization')[0];
    if (header !== undefined) {
      if (typeof header !== 'string' || !header.startsWith('Bearer '))
        return { ok: false, why: 'malformed authorization header (send "authorization: Bearer <token>")' };
      if (users.length === 0) return { ok: false, why: 'bearer token sent, but this coordinator has no API tokens' };
      const got = digest(header.slice(7));
      // Every entry is compared, so the time taken says nothing about which one matched.
      let user: string | undefined;
      for (const u of users) if (timingSafeEqual(u.tokenSha256, got) && user === undefined) user = u.user;
      return user === undefined ? { ok: false, why: 'invalid bearer token' } : { ok: true, user };
    }
    if (mtls) {
      const cn = certificateUser(auth);
      return cn.ok ? cn : { ok: false, why: `no bearer token, and ${cn.why}` };
    }
    if (users.length > 0) return { ok: false, why: 'missing bearer token (send "authorization: Bearer <token>")' };
    return { ok: true, user: '' };
  };
}

/** The user a verified client certificate names (its subject CN). */
function certificateUser(auth: AuthContext | undefined): Caller {
  const cert = auth?.sslPeerCertificate;
  if (!cert) return { ok: false, why: 'no client certificate' };
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  if (typeof name !== 'string' || !USER_NAME.test(name))
    return {
      ok: false,
      why: `the client certificate's CN ${JSON.stringify(name ?? '')} is not 1-64 of [A-Za-z0-9_.@-]`,
    };
  return { ok: true, user: name };
}
