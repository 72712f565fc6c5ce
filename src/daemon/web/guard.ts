/**
 * The web UI's gate, in front of every request and websocket upgrade:
 *
 * - Host must be the listen address (or localhost with its port): a page on another name that a DNS
 *   rebinding points at 127.0.0.1 is refused (403).
 * - `?token=` with the install's token sets an HttpOnly, SameSite=Strict cookie and redirects to the
 *   same URL without it, so the token does not stay in the address bar or history; after that the
 *   cookie is checked. Neither: 401.
 * - Requests that change something (any method but GET/HEAD) and websocket upgrades must carry the
 *   UI's own Origin: another site's form or script is refused (403) even though the cookie is
 *   SameSite=Strict already.
 */
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { tokenMatches } from './token.js';

export const WEB_COOKIE = 'banger_web';

/** Headers every answer carries: no framing, no sniffing, no referrer, scripts only from the UI itself. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function page(status: 401 | 403, title: string, text: string): Response {
  const html = `<!doctype html><meta charset="utf-8"><title>banger: ${title}</title><h1>${title}</h1><p>${text}</p>\n`;
  return new Response(html, { status, headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' } });
}

/** The Host values the UI answers to for a listen address such as 127.0.0.1:7777. */
export function allowedHosts(listenAddr: string): Set<string> {
  const port = listenAddr.slice(listenAddr.lastIndexOf(':') + 1);
  return new Set([listenAddr, `localhost:${port}`]);
}

export function webGuard(listenAddr: string, token: string): MiddlewareHandler {
  const hosts = allowedHosts(listenAddr);
  return async (c, next) => {
    const host = c.req.header('host') ?? '';
    if (!hosts.has(host)) {
      return page(403, 'Forbidden host', `This server answers only to http://${listenAddr}/ (the Host header was "${host.replace(/[^\w.:-]/g, '?')}").`);
    }
    const presented = c.req.query('token');
    if (presented !== undefined) {
      if (!tokenMatches(presented, token)) return page(401, 'Wrong token', 'This link does not carry the current token: run <code>banger web</code> for a fresh one.');
      const url = new URL(c.req.url);
      url.searchParams.delete('token');
      const cookie = `${WEB_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`;
      return new Response(null, { status: 303, headers: { ...SECURITY_HEADERS, Location: url.pathname + url.search, 'Set-Cookie': cookie, 'Cache-Control': 'no-store' } });
    }
    if (!tokenMatches(getCookie(c, WEB_COOKIE), token)) {
      return page(401, 'Not signed in', 'Open the link that <code>banger web</code> prints: it carries this install\'s access token.');
    }
    const upgrade = c.req.header('upgrade')?.toLowerCase() === 'websocket';
    if (upgrade || (c.req.method !== 'GET' && c.req.method !== 'HEAD')) {
      const origin = c.req.header('origin');
      if (origin !== `http://${host}`) return page(403, 'Forbidden origin', 'Changes are accepted only from the banger web UI\'s own pages.');
    }
    await next();
    if (!upgrade) for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
  };
}
