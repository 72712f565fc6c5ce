/**
 * A real OCI registry for tests (Debian's docker-registry on 127.0.0.1, own config and storage), and
 * a writer for the test images pushed to it: tar layers (gzip, zstd or plain), configs, manifests,
 * indexes, with the project's own registry client.
 */
import { createHash, createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { freeLoopbackPort } from '../system/net.js';
import { run, spawnPiped, which, type PipedChild } from '../system/exec.js';
import { MT } from '../services/images/oci/media-types.js';
import { RegistryClient } from '../services/images/oci/registry.js';
import type { Credential } from '../services/images/oci/credentials.js';

export const registryMissing = which('docker-registry') ? false : 'needs docker-registry (apt-get install docker-registry)';

export interface TestRegistry {
  /** host:port */
  host: string;
  dir: string;
  /** Set for a registry behind a token server. */
  tokenRequests?: () => number;
  /** Tokens the token server handed out for a refresh token. */
  refreshGrants?: () => number;
  stop(): Promise<void>;
}

export interface TokenAuth {
  user: string;
  password: string;
  /** An OAuth2 refresh token the server also takes (what `identitytoken` in a Docker config holds). */
  refreshToken?: string;
}

export interface RegistryAuth {
  htpasswd?: { user: string; password: string };
  token?: TokenAuth;
}

async function waitUp(url: string, child: PipedChild, log: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log()}`);
    const ok = await fetch(url).then((r) => r.status < 500).catch(() => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer: ${log()}`);
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/**
 * A token server as docker-registry's `token` auth expects: ES256 JWTs with the signing cert in x5c.
 * It answers GET with basic auth (user and password) and, when given a refresh token, the OAuth2
 * POST form `grant_type=refresh_token` that clients with an identity token send.
 */
async function startTokenServer(dir: string, service: string, auth: TokenAuth): Promise<{ server: Server; port: number; certPath: string; count: () => number; refreshes: () => number }> {
  const keyPath = join(dir, 'token.key');
  const certPath = join(dir, 'token.crt');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await writeFile(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await run(['openssl', 'req', '-x509', '-new', '-key', keyPath, '-out', certPath, '-days', '2', '-subj', '/CN=banger-test-token']);
  const certB64 = (await readFile(certPath, 'utf8')).replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  let count = 0;
  let refreshes = 0;
  const sign = (scope: string): string => {
    const [, name, actions] = /^repository:([^:]+):(.+)$/.exec(scope) ?? [];
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'ES256', typ: 'JWT', x5c: [certB64] };
    const claims = {
      iss: 'banger-test-issuer', sub: auth.user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'),
      access: name ? [{ type: 'repository', name, actions: actions!.split(',') }] : [],
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('SHA256').update(input).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64url(sig)}`;
  };
  const refused = (res: ServerResponse) => res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
  const server = createServer((req, res) => {
    count++;
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (b: Buffer) => (body += b.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        if (!auth.refreshToken || form.get('grant_type') !== 'refresh_token' || form.get('refresh_token') !== auth.refreshToken || form.get('service') !== service) {
          refused(res);
          return;
        }
        refreshes++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: sign(form.get('scope') ?? ''), expires_in: 300 }));
      });
      return;
    }
    const u = new URL(req.url ?? '/', 'http://x');
    const expected = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    if ((req.headers.authorization ?? '') !== expected) {
      refused(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: sign(u.searchParams.get('scope') ?? '') }));
  });
  const port = await freeLoopbackPort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, port, certPath, count: () => count, refreshes: () => refreshes };
}

export async function startRegistry(auth: RegistryAuth = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'banger-registry-'));
  const port = await freeLoopbackPort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  let token: Awaited<ReturnType<typeof startTokenServer>> | undefined;
  if (auth.htpasswd) {
    const r = await run(['htpasswd', '-nbB', auth.htpasswd.user, auth.htpasswd.password]);
    await writeFile(join(dir, 'htpasswd'), r.stdout);
    lines.push('auth:', '  htpasswd:', '    realm: banger-test', `    path: ${join(dir, 'htpasswd')}`);
  } else if (auth.token) {
    token = await startTokenServer(dir, 'banger-test-registry', auth.token);
    lines.push(
      'auth:', '  token:', `    realm: http://127.0.0.1:${token.port}/token`, '    service: banger-test-registry',
      '    issuer: banger-test-issuer', `    rootcertbundle: ${token.certPath}`,
    );
  }
  await writeFile(join(dir, 'config.yml'), lines.join('\n') + '\n');
  const child = spawnPiped(['docker-registry', 'serve', join(dir, 'config.yml')]);
  child.stdin.end();
  let log = '';
  child.stdout.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  child.stderr.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
  await waitUp(`http://127.0.0.1:${port}/v2/`, child, () => log);
  return {
    host: `127.0.0.1:${port}`,
    dir,
    ...(token ? { tokenRequests: token.count, refreshGrants: token.refreshes } : {}),
    async stop() {
      if (child.exitCode === null) {
        const closed = new Promise((r) => child.once('close', r));
        child.kill('SIGTERM');
        await closed;
      }
      if (token) await new Promise((r) => token.server.close(r));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  pax?: Record<string, string>;
  devmajor?: number;
  devminor?: number;
}

/** A tar archive of the entries, in order. */
export async function makeTar(entries: readonly TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = e.content === undefined ? undefined : Buffer.from(e.content);
    const header = {
      name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0,
      mtime: new Date(0), size: content?.length ?? 0,
      ...(e.linkname ? { linkname: e.linkname } : {}),
      ...(e.pax ? { pax: e.pax } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
    } as tar.Headers;
    await new Promise<void>((resolve, reject) => {
      pack.entry(header, content ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export type TestCompression = 'gzip' | 'zstd' | 'none';

export interface Blob {
  data: Buffer;
  digest: string;
  size: number;
  mediaType: string;
}

export function blobOf(data: Buffer, mediaType: string): Blob {
  return { data, digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.length, mediaType };
}

export async function compress(data: Buffer, how: TestCompression): Promise<Buffer> {
  if (how === 'gzip') return gzipSync(data);
  if (how === 'none') return data;
  const dir = await mkdtemp(join(tmpdir(), 'banger-zst-'));
  try {
    await writeFile(join(dir, 'in'), data);
    await run(['zstd', '-q', '-3', join(dir, 'in'), '-o', join(dir, 'out')]);
    return await readFile(join(dir, 'out'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function layerBlob(entries: readonly TarEntry[], how: TestCompression = 'gzip', docker = false): Promise<Blob> {
  const raw = await makeTar(entries);
  const data = await compress(raw, how);
  const mediaType = docker
    ? how === 'gzip' ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.docker.image.rootfs.diff.tar'
    : `application/vnd.oci.image.layer.v1.tar${how === 'none' ? '' : `+${how}`}`;
  return blobOf(data, mediaType);
}

export interface PushOptions {
  docker?: boolean;
  architecture?: string;
  credential?: Credential;
}

/** Pushes a layered image; returns the manifest digest and size. */
export async function pushImage(registry: string, repo: string, tag: string, layers: readonly Blob[], opts: PushOptions = {}): Promise<{ digest: string; size: number; mediaType: string }> {
  const client = new RegistryClient({ registry, repository: repo }, opts.credential ? { credential: opts.credential } : {});
  const config = blobOf(
    Buffer.from(JSON.stringify({ architecture: opts.architecture ?? 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} })),
    opts.docker ? MT.dockerConfig : MT.ociConfig,
  );
  for (const b of [config, ...layers]) await client.putBlob(b.digest, b.size, () => new Uint8Array(b.data));
  const mediaType = opts.docker ? MT.dockerManifest : MT.ociManifest;
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  }));
  const digest = await client.putManifest(tag, mediaType, manifest);
  return { digest, size: manifest.length, mediaType };
}

/** Pushes an index over already pushed manifests. */
export async function pushIndex(registry: string, repo: string, tag: string, entries: { digest: string; size: number; mediaType: string; os: string; architecture: string; variant?: string }[]): Promise<string> {
  const client = new RegistryClient({ registry, repository: repo });
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: entries.map((e) => ({ mediaType: e.mediaType, digest: e.digest, size: e.size, platform: { os: e.os, architecture: e.architecture, ...(e.variant ? { variant: e.variant } : {}) } })),
  }));
  return client.putManifest(tag, MT.ociIndex, body);
}
