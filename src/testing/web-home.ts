/** A fake-driver daemon home (tiny image registered) whose daemon serves the web UI on a free loopback port. */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import type { WebInfo } from '../api/types.js';
import type { FakeKnobs } from '../drivers/fake/options.js';
import { freeLoopbackPort } from '../system/net.js';
import type { CliHarness } from './cli-harness.js';
import { tinyImageHome } from './tiny-image.js';

export interface WebHome {
  h: CliHarness;
  listenAddr: string;
  /** The URL `banger web` printed (it carries the token). */
  url: string;
  token: string;
}

/** `config` adds lines to config.toml (e.g. a catalog or mirror on loopback); `knobs` are the fake driver's; `env` the daemon's. */
export async function webHome(opts: { config?: string; knobs?: FakeKnobs; env?: NodeJS.ProcessEnv } = {}): Promise<WebHome> {
  const h = await tinyImageHome(opts.knobs, opts.env ? { env: opts.env } : {});
  const port = await freeLoopbackPort();
  const listenAddr = `127.0.0.1:${port}`;
  appendFileSync(join(h.home, 'config.toml'), `web_listen_addr = "${listenAddr}"\n${opts.config ?? ''}`);
  const stop = await h.run(['daemon', 'stop']);
  if (stop.code !== 0) throw new Error(`daemon stop failed: ${stop.stderr}`);
  const r = await h.run(['--json', 'web']);
  if (r.code !== 0) throw new Error(`banger web failed: ${r.stderr}`);
  const info = JSON.parse(r.stdout) as WebInfo;
  if (!info.url) throw new Error(`banger web printed no URL: ${r.stdout}`);
  return { h, listenAddr, url: info.url, token: new URL(info.url).searchParams.get('token') ?? '' };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One HTTP request to the web server with exactly the headers given (Host included). */
export function webRequest(listenAddr: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<HttpAnswer> {
  const sep = listenAddr.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const req = request({ host: listenAddr.slice(0, sep), port: Number(listenAddr.slice(sep + 1)), method, path, headers: { Host: listenAddr, ...headers }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.on('error', reject);
    req.end(body);
  });
}
