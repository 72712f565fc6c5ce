/**
 * The root helper's server: a unix socket only the owner (and root) may use, one request per
 * connection. Each connection's peer is checked first (its uid must be the owner's or 0, told by the
 * kernel through system/unix-peer.ts); then its request is parsed against the closed set in
 * protocol.ts and only then run. Taps are made for the owner's uid, so a hypervisor running as the
 * owner opens them without privileges.
 *
 * @module
 */
import { chmodSync, chownSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import * as netdev from '../netdev.js';
import * as nft from '../nft.js';
import { wireBridgeResolver } from '../resolver.js';
import { unixPeerCredentials, type PeerCredentials } from '../unix-peer.js';
import { HelperError, MAX_REQUEST_BYTES, parseRequest, type HelperPolicy, type HelperRequest, type HelperResponse } from './protocol.js';

/** The host operations the helper performs (all of them need root or CAP_NET_ADMIN). */
export interface HelperHostOps {
  ensureBridge(name: string, addr: string, prefix: number): Promise<boolean>;
  linkKind(name: string): Promise<string | undefined>;
  addTap(name: string, bridge: string, ownerUid: number): Promise<void>;
  deleteLink(name: string): Promise<void>;
  nftApply(script: string): Promise<void>;
  nftListJson(what: readonly string[]): Promise<unknown>;
  enableIpv4Forwarding(): Promise<boolean>;
  wireResolver(link: string, addr: string): Promise<boolean>;
}

export const HOST_OPS: HelperHostOps = {
  ensureBridge: netdev.ensureBridge,
  linkKind: netdev.linkKind,
  addTap: netdev.addTap,
  deleteLink: netdev.deleteLink,
  nftApply: nft.nftApply,
  nftListJson: nft.nftListJson,
  enableIpv4Forwarding: () => netdev.enableIpv4Forwarding(),
  wireResolver: wireBridgeResolver,
};

export interface HelperServerOptions extends HelperPolicy {
  socketPath: string;
  /** The uid the daemon runs as: the one user besides root that may connect, and the owner of the taps. */
  ownerUid: number;
  ops?: HelperHostOps;
  /** Finds a connection's peer (unixPeerCredentials). */
  peer?: (fd: number) => Promise<PeerCredentials | undefined>;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface HelperServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

async function perform(req: HelperRequest, opts: HelperServerOptions, ops: HelperHostOps): Promise<unknown> {
  switch (req.op) {
    case 'ping':
      return { pid: process.pid, uid: process.getuid?.() ?? 0, ownerUid: opts.ownerUid, bridges: opts.bridges };
    case 'ensure_bridge': {
      const kind = await ops.linkKind(req.name);
      if (kind !== undefined && kind !== 'bridge') throw new HelperError('outside_banger', `${req.name} exists and is a ${kind} device, not a bridge`);
      return ops.ensureBridge(req.name, req.addr, req.prefix);
    }
    case 'add_tap':
      await ops.addTap(req.name, req.bridge, opts.ownerUid);
      return null;
    case 'delete_tap': {
      const kind = await ops.linkKind(req.name);
      if (kind !== undefined && kind !== 'tun') throw new HelperError('outside_banger', `${req.name} is a ${kind} device, not a tap`);
      await ops.deleteLink(req.name);
      return null;
    }
    case 'nft_apply':
      await ops.nftApply(req.script);
      return null;
    case 'nft_list':
      return (await ops.nftListJson(req.what)) ?? null;
    case 'enable_ip_forward':
      return ops.enableIpv4Forwarding();
    case 'wire_resolver':
      return ops.wireResolver(req.link, req.addr);
  }
}

function reply(sock: Socket, res: HelperResponse): void {
  sock.end(`${JSON.stringify(res)}\n`);
}

function refuse(sock: Socket, err: unknown): void {
  const code = err instanceof HelperError ? err.code : 'failed';
  reply(sock, { ok: false, code, message: (err as Error).message });
}

/** Reads one line (the request), at most MAX_REQUEST_BYTES. */
function readLine(sock: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (b: Buffer) => {
      const nl = b.indexOf(0x0a);
      chunks.push(nl >= 0 ? b.subarray(0, nl) : b);
      size += b.length;
      if (nl >= 0) {
        sock.off('data', onData);
        resolve(Buffer.concat(chunks).toString('utf8'));
      } else if (size > MAX_REQUEST_BYTES) {
        sock.off('data', onData);
        reject(new HelperError('bad_request', `request larger than ${MAX_REQUEST_BYTES} bytes`));
      }
    };
    sock.on('data', onData);
    sock.once('end', () => reject(new HelperError('bad_request', 'connection closed before a full request line')));
    sock.once('error', reject);
  });
}

async function handle(sock: Socket, opts: HelperServerOptions, ops: HelperHostOps): Promise<void> {
  const line = readLine(sock);
  line.catch(() => undefined);
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  const who = typeof fd === 'number' && fd >= 0 ? await (opts.peer ?? unixPeerCredentials)(fd) : undefined;
  if (!who || (who.uid !== 0 && who.uid !== opts.ownerUid)) {
    opts.log?.('peer refused', { uid: who?.uid ?? null });
    refuse(sock, new HelperError('peer_refused', who ? `uid ${who.uid} may not use banger's root helper (only uid ${opts.ownerUid} and root)` : 'cannot tell who is connected'));
    return;
  }
  let req: HelperRequest;
  try {
    let raw: unknown;
    try {
      raw = JSON.parse(await line);
    } catch (err) {
      if (err instanceof HelperError) throw err;
      throw new HelperError('bad_request', 'the request is not JSON');
    }
    req = parseRequest(raw, opts);
  } catch (err) {
    opts.log?.('request refused', { uid: who.uid, error: (err as Error).message });
    refuse(sock, err);
    return;
  }
  try {
    const result = await perform(req, opts, ops);
    opts.log?.('request done', { uid: who.uid, op: req.op });
    reply(sock, { ok: true, result });
  } catch (err) {
    opts.log?.('request failed', { uid: who.uid, op: req.op, error: (err as Error).message });
    refuse(sock, err);
  }
}

/**
 * Listens on `socketPath` (replacing a stale socket there): mode 0600, owned by the owner uid, so
 * nobody else can even connect. The directory it is in should be root's (0711 or 0755).
 */
export async function startHelperServer(opts: HelperServerOptions): Promise<HelperServer> {
  if (!Number.isInteger(opts.ownerUid) || opts.ownerUid < 0) throw new TypeError(`invalid owner uid ${opts.ownerUid}`);
  const ops = opts.ops ?? HOST_OPS;
  rmSync(opts.socketPath, { force: true });
  const server: Server = createServer((sock) => {
    sock.on('error', () => undefined);
    handle(sock, opts, ops).catch((err: unknown) => refuse(sock, err));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const old = process.umask(0o177);
    server.listen(opts.socketPath, () => {
      process.umask(old);
      resolve();
    });
  });
  chmodSync(opts.socketPath, 0o600);
  chownSync(opts.socketPath, opts.ownerUid, 0);
  return {
    socketPath: opts.socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          rmSync(opts.socketPath, { force: true });
          resolve();
        });
      }),
  };
}
