/**
 * Job ownership: who may read and who may change a job. Pure decisions over a principal (the
 * authenticated user and its role) and a job's owner; the gRPC layer asks them before it acts.
 *
 * - `user` (the default role): submits jobs, and reads, watches, downloads and cancels its own only.
 * - `viewer`: reads every job (get, list, watch, download); submits and cancels nothing.
 * - `admin`: reads and cancels every job, and submits.
 * - the anonymous caller of an open API (no tokens, no mutual TLS) is treated as an admin: with no
 *   identities there is no ownership to enforce.
 *
 * A job the caller may not read answers NOT_FOUND, exactly as a job that does not exist, so job ids
 * of other users cannot be probed. A job the caller may read but not change (a viewer cancelling)
 * answers PERMISSION_DENIED.
 */
import type { ApiUser, Role } from './auth.js';
import { NotFoundError } from './errors.js';

/** The caller of one request: its user name ('' = anonymous on an open API) and role. */
export interface Principal {
  user: string;
  role: Role;
}

/** The caller may not perform this operation (its role does not allow it). → PERMISSION_DENIED */
export class PermissionDeniedError extends Error {
  override readonly name = 'PermissionDeniedError';
}

/** The role of each configured user, for `principal` (a user with no token entry is a `user`). */
export function rolesOf(users: readonly ApiUser[]): ReadonlyMap<string, Role> {
  return new Map(users.map((u) => [u.user, u.role]));
}

/** The principal of an authenticated user name: '' (anonymous, open API) is an admin. */
export function principal(user: string, roles: ReadonlyMap<string, Role>): Principal {
  return { user, role: user === '' ? 'admin' : (roles.get(user) ?? 'user') };
}

/** Whether `p` may see the job owned by `owner` (get, list, watch, download). */
export function canRead(p: Principal, owner: string): boolean {
  return p.role === 'admin' || p.role === 'viewer' || owner === p.user;
}

/** Whether `p` may cancel the job owned by `owner`. */
export function canCancel(p: Principal, owner: string): boolean {
  return p.role === 'admin' || (p.role === 'user' && owner === p.user);
}

/** Whether `p` may submit jobs. */
export function canSubmit(p: Principal): boolean {
  return p.role !== 'viewer';
}

/** The answer for a job `p` may not see: the same NOT_FOUND as a job that does not exist. */
export function notFound(jobId: string): NotFoundError {
  return new NotFoundError(`job ${JSON.stringify(jobId)} not found`);
}

/** Throws NOT_FOUND unless `p` may read the job. */
export function requireRead(p: Principal, job: { id: string; owner?: string }): void {
  if (!canRead(p, job.owner ?? '')) throw notFound(job.id);
}

/** Throws NOT_FOUND unless `p` may read the job, and PERMISSION_DENIED unless it may cancel it. */
export function requireCancel(p: Principal, job: { id: string; owner?: string }): void {
  requireRead(p, job);
  if (!canCancel(p, job.owner ?? ''))
    throw new PermissionDeniedError(`user ${p.user} has role ${p.role}: it may not cancel job ${job.id}`);
}

/** Throws PERMISSION_DENIED unless `p` may submit. */
export function requireSubmit(p: Principal): void {
  if (!canSubmit(p)) throw new PermissionDeniedError(`user ${p.user} has role ${p.role}: it may not submit jobs`);
}

/** The first `limit` of `jobs` (already in list order) that `p` may see. */
export function visibleJobs<J extends { owner?: string }>(p: Principal, jobs: Iterable<J>, limit: number): J[] {
  const out: J[] = [];
  for (const j of jobs) {
    if (out.length >= limit) break;
    if (canRead(p, j.owner ?? '')) out.push(j);
  }
  return out;
}
