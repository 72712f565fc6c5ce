/** Catalog tests: a loopback HTTP server with canned answers, and bundles (tar.zst) with any entries. */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import tar from 'tar-stream';
import { run } from '../system/exec.js';

export interface Canned {
  status?: number;
  body?: Buffer;
  /** Send only this many bytes of the body (chunked, then end cleanly). */
  cut?: number;
}

export class CatalogServer {
  readonly hits: string[] = [];
  private readonly routes = new Map<string, Canned>();
  private server?: Server;
  base = '';

  set(path: string, c: Canned): string {
    this.routes.set(path, c);
    return this.base + path;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.hits.push(req.url ?? '');
      const c = this.routes.get(req.url ?? '');
      if (!c) {
        res.writeHead(404).end('no such file');
        return;
      }
      const body = c.body ?? Buffer.alloc(0);
      if ((c.status ?? 200) !== 200) {
        res.writeHead(c.status!).end('failed');
        return;
      }
      if (c.cut !== undefined) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(body.subarray(0, c.cut));
        return;
      }
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

export interface BundleEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device';
  content?: Buffer | string;
  linkname?: string;
}

/** A zstd-compressed tar holding exactly the given entries, written in `dir`; returns its bytes. */
export async function makeBundle(dir: string, entries: readonly BundleEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (b: Buffer) => chunks.push(b));
  const ended = new Promise((r) => pack.on('end', r));
  for (const e of entries) {
    const content = typeof e.content === 'string' ? Buffer.from(e.content) : e.content;
    const type = e.type ?? 'file';
    pack.entry({ name: e.name, type, mode: type === 'directory' ? 0o755 : 0o644, ...(e.linkname ? { linkname: e.linkname } : {}), ...(type === 'file' ? { size: content?.length ?? 0 } : {}) }, type === 'file' ? content ?? Buffer.alloc(0) : undefined);
  }
  pack.finalize();
  await ended;
  const tarPath = `${dir}/bundle-${Date.now()}-${Math.random().toString(16).slice(2)}.tar`;
  await writeFile(tarPath, Buffer.concat(chunks));
  await run(['zstd', '-q', '-f', '--rm', '-o', `${tarPath}.zst`, tarPath]);
  return readFile(`${tarPath}.zst`);
}

export function sha256Of(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
