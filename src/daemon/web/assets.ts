/**
 * The web UI's static files, built by scripts/build.mjs into dist/web-assets and shipped in the package.
 * They are read once when the web server starts and kept in memory with their gzip form; hashed names
 * (everything but index.html) are cached by browsers for good.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** Where the built UI lives, beside the compiled daemon (dist/daemon/web -> dist/web-assets). */
export const ASSETS_DIR = fileURLToPath(new URL('../../web-assets/', import.meta.url));

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.map': 'application/json',
};

export interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
  immutable: boolean;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** URL path (`/assets/app-X.js`, `/index.html`) -> asset; empty when the UI was not built. */
export function loadAssets(dir = ASSETS_DIR): Map<string, Asset> {
  const out = new Map<string, Asset>();
  if (!existsSync(dir)) return out;
  for (const file of walk(dir)) {
    const rel = '/' + relative(dir, file).split('\\').join('/');
    if (rel.endsWith('.map')) continue;
    const body = readFileSync(file);
    out.set(rel, { body, gzip: gzipSync(body, { level: 9 }), type: TYPES[extname(file)] ?? 'application/octet-stream', immutable: rel !== '/index.html' });
  }
  return out;
}

/** The answer for an asset, gzipped when the client takes it. */
export function assetResponse(asset: Asset, acceptEncoding: string | undefined, head = false): Response {
  const gz = /\bgzip\b/.test(acceptEncoding ?? '');
  const body = gz ? asset.gzip : asset.body;
  const headers: Record<string, string> = {
    'Content-Type': asset.type,
    'Content-Length': String(body.length),
    'Cache-Control': asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    Vary: 'Accept-Encoding',
  };
  if (gz) headers['Content-Encoding'] = 'gzip';
  return new Response(head ? null : new Uint8Array(body), { status: 200, headers });
}
