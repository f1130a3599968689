/** Small HTTP pieces of the console: tokens from requests, SSE frames, content types. Pure. */
import { extname } from 'node:path';

/** The cookie the sign-in form sets (HttpOnly, SameSite=Strict). */
export const TOKEN_COOKIE = 'tessera_token';

/** The bearer token of a request: the Authorization header, else the console's cookie. */
export function tokenOf(headers: { authorization?: string; cookie?: string }): string | undefined {
  const auth = headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim() || undefined;
  for (const part of (headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== TOKEN_COOKIE) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim()) || undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The Set-Cookie value that stores (or, with '', clears) the token. */
export function tokenCookie(token: string, secure: boolean): string {
  const attrs = ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : [])];
  if (!token) return [`${TOKEN_COOKIE}=`, 'Max-Age=0', ...attrs].join('; ');
  return [`${TOKEN_COOKIE}=${encodeURIComponent(token)}`, ...attrs].join('; ');
}

/** One server-sent event. `data` is JSON-encoded on one line (JSON never holds a raw newline). */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** The Content-Type of a served file by its extension. */
export function contentTypeOf(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** Cache-Control of versioned assets (their URL changes with their content). */
export const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Cache-Control of the page and of answers that change: always revalidate. */
export const REVALIDATE = 'no-cache';
/** Cache-Control of per-user data (job lists, fleet): never stored. */
export const NO_STORE = 'no-store';

/** `/api/jobs/ID/…` → ['jobs', 'ID', …], or null outside /api/. */
export function apiPath(pathname: string): string[] | null {
  if (!pathname.startsWith('/api/')) return null;
  const parts = pathname.slice(5).split('/').filter(Boolean);
  try {
    return parts.map((p) => decodeURIComponent(p));
  } catch {
    return null;
  }
}
