/**
 * A client of one repository on an OCI registry (distribution API v2): manifests and blobs, pull and
 * push, with anonymous, bearer-token and basic auth. TLS unless the registry is on loopback or listed
 * in `insecure_registries`.
 */
import { createHash } from 'node:crypto';
import { badRequest, notFound, operationFailed, unavailable, type BangerError } from '../../../api/errors.js';
import type { Credential } from './credentials.js';
import { MANIFEST_ACCEPT } from './media-types.js';
import { apiHost, isLoopbackRegistry, type ImageRef } from './reference.js';

export interface RegistryOptions {
  /** Registries (host[:port]) reached over plain HTTP besides loopback ones. */
  insecure?: readonly string[];
  credential?: Credential;
  signal?: AbortSignal;
}

export interface FetchedManifest {
  mediaType: string;
  digest: string;
  body: Buffer;
}

/** Manifests larger than this are refused (the spec suggests 4 MiB). */
const MAX_MANIFEST = 4 * 1024 * 1024;

type Scope = 'pull' | 'pull,push';

interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!))) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme, params };
}

function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export class RegistryClient {
  readonly baseUrl: string;
  private readonly tokens = new Map<Scope, string>();
  private basic = false;

  constructor(
    readonly ref: Pick<ImageRef, 'registry' | 'repository'>,
    private readonly opts: RegistryOptions = {},
  ) {
    const plain = isLoopbackRegistry(ref.registry) || (opts.insecure ?? []).includes(ref.registry);
    this.baseUrl = `${plain ? 'http' : 'https'}://${apiHost(ref.registry)}`;
  }

  private get where(): string {
    return `${this.ref.registry}/${this.ref.repository}`;
  }

  private authHeader(scope: Scope): string | undefined {
    const token = this.tokens.get(scope) ?? (scope === 'pull' ? this.tokens.get('pull,push') : undefined);
    if (token) return `Bearer ${token}`;
    const c = this.opts.credential;
    if (this.basic && c?.username !== undefined) return `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    return undefined;
  }

  private authHint(): string {
    return this.opts.credential
      ? `check the credentials for ${this.ref.registry} in ~/.docker/config.json of the user bangerd runs as (docker login ${this.ref.registry})`
      : `add credentials for ${this.ref.registry} to ~/.docker/config.json of the user bangerd runs as (docker login ${this.ref.registry}), or check the repository name`;
  }

  private unreachable(err: unknown): BangerError {
    const cause = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
    const tlsHint = this.baseUrl.startsWith('https:') && /wrong version number|EPROTO|ssl/i.test(cause)
      ? `; if it serves plain HTTP, add "${this.ref.registry}" to insecure_registries in config.toml`
      : '';
    return unavailable(`cannot reach registry ${this.ref.registry} (${this.baseUrl}): ${cause}`, `check the address and that the registry is running${tlsHint}`);
  }

  /** Sends a request, answering the registry's auth challenge once. */
  async request(method: string, path: string, init: { headers?: Record<string, string>; body?: RequestInit['body']; scope?: Scope; url?: string } = {}): Promise<Response> {
    const scope = init.scope ?? 'pull';
    const url = init.url ?? `${this.baseUrl}${path}`;
    const send = async (): Promise<Response> => {
      const headers: Record<string, string> = { 'user-agent': 'banger', ...init.headers };
      const auth = this.authHeader(scope);
      if (auth) headers.authorization = auth;
      try {
        return await fetch(url, {
          method,
          headers,
          body: init.body ?? null,
          signal: this.opts.signal,
          redirect: 'follow',
          ...(init.body ? { duplex: 'half' } : {}),
        });
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err;
        throw this.unreachable(err);
      }
    };
    let res = await send();
    if (res.status !== 401) return res;
    const challenge = parseChallenge(res.headers.get('www-authenticate'));
    await res.body?.cancel().catch(() => undefined);
    if (!challenge) throw unavailable(`registry ${this.ref.registry} refused access to ${this.where} (401 without an auth challenge)`, this.authHint());
    if (challenge.scheme === 'basic') {
      if (this.opts.credential?.username === undefined || this.basic) {
        throw unavailable(`registry ${this.ref.registry} refused access to ${this.where}: ${this.basic ? 'the credentials were rejected' : 'it needs a user name and password'}`, this.authHint());
      }
      this.basic = true;
    } else {
      if (this.tokens.has(scope)) {
        throw unavailable(`registry ${this.ref.registry} refused the token for ${this.where} (${scope})`, this.authHint());
      }
      this.tokens.set(scope, await this.fetchToken(challenge.params, scope));
    }
    res = await send();
    if (res.status === 401) {
      await res.body?.cancel().catch(() => undefined);
      throw unavailable(`registry ${this.ref.registry} refused access to ${this.where}: the credentials were rejected`, this.authHint());
    }
    return res;
  }

  private async fetchToken(params: Record<string, string>, scope: Scope): Promise<string> {
    const realm = params.realm;
    if (!realm || !/^https?:\/\//.test(realm)) throw unavailable(`registry ${this.ref.registry} sent a bearer challenge without a usable realm`);
    const scopeParam = `repository:${this.ref.repository}:${scope}`;
    const c = this.opts.credential;
    let res: Response;
    try {
      if (c?.identityToken) {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.identityToken, client_id: 'banger', scope: scopeParam });
        if (params.service) form.set('service', params.service);
        res = await fetch(realm, { method: 'POST', body: form, headers: { 'user-agent': 'banger' }, signal: this.opts.signal });
      } else {
        const u = new URL(realm);
        if (params.service) u.searchParams.set('service', params.service);
        u.searchParams.set('scope', scopeParam);
        const headers: Record<string, string> = { 'user-agent': 'banger' };
        if (c?.username !== undefined) headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
        res = await fetch(u, { headers, signal: this.opts.signal });
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw unavailable(`cannot reach the token service of ${this.ref.registry} (${realm}): ${(err as Error).message}`);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel().catch(() => undefined);
      throw unavailable(`the token service of ${this.ref.registry} refused ${c ? 'the credentials' : 'anonymous access'} for ${this.where}`, this.authHint());
    }
    if (!res.ok) throw unavailable(`the token service of ${this.ref.registry} answered ${res.status}`, 'try again later');
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw unavailable(`the token service of ${this.ref.registry} answered without a token`);
    return token;
  }

  /** Reads the registry's error message from a failed response. */
  private async failure(res: Response, what: string): Promise<BangerError> {
    const text = await res.text().catch(() => '');
    let detail = '';
    try {
      const doc = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      detail = (doc.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    } catch {
      detail = text.slice(0, 200);
    }
    const msg = `${what}: registry ${this.ref.registry} answered ${res.status}${detail ? ` (${detail})` : ''}`;
    if (res.status === 404) return notFound(msg, `check the repository and tag (${this.where})`);
    if (res.status === 403) return unavailable(msg, this.authHint());
    if (res.status === 400) return badRequest(msg);
    return operationFailed(msg);
  }

  /** Fetches a manifest (index or image) by tag or digest; a digest is verified. */
  async getManifest(target: string): Promise<FetchedManifest> {
    const res = await this.request('GET', `/v2/${this.ref.repository}/manifests/${target}`, { headers: { accept: MANIFEST_ACCEPT } });
    if (!res.ok) throw await this.failure(res, `manifest ${this.where}:${target}`);
    const len = Number(res.headers.get('content-length') ?? '0');
    if (len > MAX_MANIFEST) throw operationFailed(`manifest ${this.where}:${target} is ${len} bytes (at most ${MAX_MANIFEST})`);
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > MAX_MANIFEST) throw operationFailed(`manifest ${this.where}:${target} is too large`);
    const digest = `sha256:${sha256Hex(body)}`;
    if (target.startsWith('sha256:') && digest !== target) {
      throw operationFailed(`manifest ${this.where}@${target} does not match its digest (got ${digest})`, 'the registry or something between us altered it; try again or use another mirror');
    }
    let mediaType = res.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
    try {
      const doc = JSON.parse(body.toString('utf8')) as { mediaType?: string };
      if (doc.mediaType) mediaType = doc.mediaType;
    } catch {
      throw operationFailed(`manifest ${this.where}:${target} is not JSON`);
    }
    return { mediaType, digest, body };
  }

  /** Starts a blob download, optionally from a byte offset (206 when the registry honours it). */
  async getBlob(digest: string, from = 0): Promise<Response> {
    const headers: Record<string, string> = {};
    if (from > 0) headers.range = `bytes=${from}-`;
    const res = await this.request('GET', `/v2/${this.ref.repository}/blobs/${digest}`, { headers });
    if (!res.ok) throw await this.failure(res, `blob ${digest} of ${this.where}`);
    return res;
  }

  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${this.ref.repository}/blobs/${digest}`, { scope: 'pull,push' });
    await res.body?.cancel().catch(() => undefined);
    return res.ok;
  }

  /** Uploads a blob in one PUT (monolithic upload); the body is read once. */
  async putBlob(digest: string, size: number, body: () => RequestInit['body']): Promise<void> {
    if (await this.hasBlob(digest)) return;
    const start = await this.request('POST', `/v2/${this.ref.repository}/blobs/uploads/`, { scope: 'pull,push', headers: { 'content-length': '0' } });
    if (start.status !== 202) throw await this.failure(start, `starting an upload to ${this.where}`);
    await start.body?.cancel().catch(() => undefined);
    const location = start.headers.get('location');
    if (!location) throw operationFailed(`registry ${this.ref.registry} started an upload without a Location`);
    const u = new URL(location, this.baseUrl);
    u.searchParams.set('digest', digest);
    const res = await this.request('PUT', '', {
      url: u.toString(),
      scope: 'pull,push',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: body(),
    });
    if (res.status !== 201) throw await this.failure(res, `uploading blob ${digest} to ${this.where}`);
    await res.body?.cancel().catch(() => undefined);
  }

  async putManifest(tag: string, mediaType: string, body: Buffer): Promise<string> {
    const res = await this.request('PUT', `/v2/${this.ref.repository}/manifests/${tag}`, {
      scope: 'pull,push',
      headers: { 'content-type': mediaType },
      body: new Uint8Array(body),
    });
    if (res.status !== 201) throw await this.failure(res, `pushing the manifest ${this.where}:${tag}`);
    await res.body?.cancel().catch(() => undefined);
    return `sha256:${sha256Hex(body)}`;
  }
}
