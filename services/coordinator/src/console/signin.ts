/** The sign-in page a request without a valid token gets (with status 401). Self-contained: no scripts. */
import { createHash } from 'node:crypto';

const STYLE =
  'body{font:16px system-ui,sans-serif;max-width:28rem;margin:15vh auto;padding:0 1rem;color:#1b1f24}' +
  'input{font:inherit;width:100%;box-sizing:border-box;padding:.5rem;margin:.25rem 0 1rem}' +
  'button{font:inherit;padding:.5rem 1.25rem}.err{color:#a40e26}';

/** The CSP hash source of the page's inline style. */
export const SIGNIN_STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** The page; `error` (when set) says why the last attempt failed. */
export function signinPage(error: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Tessera console</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>Tessera console</h1>
<p>This farm requires an API token: the same token you give <code>tessera --token</code>.</p>
${error ? `<p class="err" role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/api/session">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
`;
}
