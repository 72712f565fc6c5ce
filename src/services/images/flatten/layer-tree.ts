/**
 * Applies image layers (tar streams, in order) to a staging tree on the host: whiteouts and opaque
 * directories, hardlinks, symlinks. Files land owned by whoever runs banger with plain modes; the
 * owners, modes, setuid bits, xattrs and FIFOs from the layers are kept in `meta` and set in the ext4
 * afterwards (as root, regular files get their owner and mode on the host already, and need no fix).
 * The filesystem calls are synchronous: a layer is thousands of tiny operations, and a round trip
 * through the thread pool for each costs far more than the call. Nothing is ever written through a symlink: parent directories are resolved inside the
 * tree, and an entry that would leave it is refused, as are absolute paths, ".." and device nodes.
 */
import { closeSync, fchmodSync, fchownSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { operationFailed } from '../../../api/errors.js';
import { batchProblem } from '../../../drivers/ext4/index.js';

export type MetaType = 'file' | 'dir' | 'symlink' | 'fifo';

export interface EntryMeta {
  type: MetaType;
  uid: number;
  gid: number;
  /** Permission bits with setuid/setgid/sticky. */
  mode: number;
  xattrs?: { name: string; value: Buffer }[];
}

const MAX_LINKS = 40;
const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';
const DEFAULT_DIR: EntryMeta = { type: 'dir', uid: 0, gid: 0, mode: 0o755 };

export interface LayerTreeOptions {
  /** Warnings (xattrs that could not be carried over). */
  warn?: (message: string) => void;
  signal?: AbortSignal;
}

function refuse(layer: string, entry: string, why: string): Error {
  return operationFailed(
    `layer ${layer}: entry ${JSON.stringify(entry)} rejected: ${why}`,
    'the image is unsafe to unpack; nothing was written to your images. Ask its publisher for a clean image',
  );
}

/** Entry name to path components; refuses absolute paths and "..". */
export function entryParts(layer: string, name: string): string[] {
  if (name.startsWith('/')) throw refuse(layer, name, 'absolute path');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw refuse(layer, name, 'path traversal ("..")');
  const problem = batchProblem(name);
  if (problem) throw refuse(layer, name, `the name cannot be stored (${problem})`);
  return parts;
}

function xattrsOf(layer: string, name: string, pax: Record<string, string> | undefined, warn?: (m: string) => void): EntryMeta['xattrs'] {
  if (!pax) return undefined;
  const out: { name: string; value: Buffer }[] = [];
  for (const [k, v] of Object.entries(pax)) {
    let xname: string | undefined;
    let value: Buffer | undefined;
    if (k.startsWith('SCHILY.xattr.')) {
      xname = k.slice('SCHILY.xattr.'.length);
      if (v.includes('\uFFFD')) {
        warn?.(`layer ${layer}: ${name}: xattr ${xname} has a binary value that is not valid UTF-8 and was not carried over`);
        continue;
      }
      value = Buffer.from(v, 'utf8');
    } else if (k.startsWith('LIBARCHIVE.xattr.')) {
      xname = decodeURIComponent(k.slice('LIBARCHIVE.xattr.'.length));
      value = Buffer.from(v, 'base64');
    }
    if (xname === undefined || value === undefined) continue;
    if (batchProblem(xname)) throw refuse(layer, name, `xattr name ${JSON.stringify(xname)} cannot be stored`);
    out.push({ name: xname, value });
  }
  return out.length > 0 ? out : undefined;
}

/** A pax uid/gid record (ids beyond what the octal header fields hold). */
function paxId(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,10}$/.test(v)) return undefined;
  const n = Number(v);
  return n <= 0xffffffff ? n : undefined;
}

function lstatOrUndefined(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

/** Writes all of `buf` at the file's current offset. */
function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

export class LayerTree {
  /** Guest path ("/" or "/a/b") -> what the layers say about it. */
  readonly meta = new Map<string, EntryMeta>();
  /** Regular files whose host inode already has the owner and mode in `meta` (only when running as root). */
  readonly exact = new Set<string>();
  private readonly asRoot = process.getuid?.() === 0;

  constructor(
    readonly root: string,
    private readonly opts: LayerTreeOptions = {},
  ) {
    this.meta.set('/', { ...DEFAULT_DIR });
  }

  private host(guest: string): string {
    return guest === '/' ? this.root : join(this.root, guest);
  }

  /**
   * Resolves directory components inside the tree, following symlinks as the guest would (absolute
   * targets start again at the tree's root); missing directories are created. Returns the guest path.
   */
  private resolveDir(parts: readonly string[], layer: string, entry: string, create: boolean): string {
    const stack: string[] = [];
    const todo = [...parts];
    let links = 0;
    while (todo.length > 0) {
      const c = todo.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (stack.length === 0) throw refuse(layer, entry, 'a symlink on its path leads out of the image (symlink escape)');
        stack.pop();
        continue;
      }
      const guest = '/' + [...stack, c].join('/');
      const known = this.meta.get(guest);
      // Every host entry has a meta entry, and one of type dir is always a directory on the host: most
      // components are answered without a system call.
      if (known?.type === 'dir') {
        stack.push(c);
        continue;
      }
      const host = this.host(guest);
      const st = known ? lstatOrUndefined(host) : undefined;
      if (!st) {
        if (!create) throw refuse(layer, entry, `${guest} does not exist`);
        mkdirSync(host, { mode: 0o755 });
        this.meta.set(guest, { ...DEFAULT_DIR });
        stack.push(c);
      } else if (st.isSymbolicLink()) {
        if (++links > MAX_LINKS) throw refuse(layer, entry, 'too many levels of symlinks');
        const target = readlinkSync(host);
        const tparts = target.split('/');
        if (target.startsWith('/')) stack.length = 0;
        todo.unshift(...tparts);
      } else if (st.isDirectory()) {
        stack.push(c);
      } else {
        throw refuse(layer, entry, `${guest} is not a directory`);
      }
    }
    return stack.length === 0 ? '/' : '/' + stack.join('/');
  }

  /** Removes a path (and what is below it) from the tree and from meta. */
  private remove(guest: string): void {
    if (guest === '/') return;
    rmSync(this.host(guest), { recursive: true, force: true });
    const type = this.meta.get(guest)?.type;
    this.meta.delete(guest);
    this.exact.delete(guest);
    if (type !== undefined && type !== 'dir') return;
    const prefix = guest + '/';
    for (const k of this.meta.keys()) {
      if (k.startsWith(prefix)) {
        this.meta.delete(k);
        this.exact.delete(k);
      }
    }
  }

  /** Applies one layer; `label` names it in errors. */
  async applyLayer(stream: Readable, label: string): Promise<number> {
    const extract = tar.extract();
    // When the tar fails (it ends before an entry's claimed size, say), so does the entry being written, even one
    // whose stream the reader ended before the write began: such a stream never ends, and waiting for it would hang.
    const failed = new Promise<never>((_, reject) => extract.on('error', reject));
    failed.catch(() => undefined);
    stream.on('error', (err) => extract.destroy(err));
    stream.pipe(extract);
    const created = new Set<string>();
    let entries = 0;
    try {
      for await (const entry of extract) {
        if (this.opts.signal?.aborted) throw Object.assign(new Error('operation cancelled'), { name: 'AbortError' });
        try {
          await this.applyEntry(entry, label, created, failed);
        } finally {
          entry.resume();
        }
        entries++;
      }
    } catch (err) {
      stream.unpipe(extract);
      stream.destroy();
      if ((err as { code?: string }).code === 'operation_failed' || (err as Error).name === 'AbortError') throw err;
      throw operationFailed(`layer ${label} is not a valid tar stream: ${(err as Error).message}`, undefined, err);
    }
    return entries;
  }

  private async applyEntry(entry: tar.Entry, layer: string, created: Set<string>, tarFailed: Promise<never>): Promise<void> {
    const h = entry.header;
    // A size that is not a byte count (garbage or negative in the header) would leave the tar reader waiting for data forever.
    if (!Number.isSafeInteger(h.size ?? 0) || (h.size ?? 0) < 0) throw refuse(layer, h.name, `its header gives no valid size (${String(h.size)})`);
    const parts = entryParts(layer, h.name);
    if (parts.length === 0) {
      if (h.type === 'directory') this.meta.set('/', { type: 'dir', uid: h.uid ?? 0, gid: h.gid ?? 0, mode: (h.mode ?? 0o755) & 0o7777 });
      return;
    }
    const base = parts[parts.length - 1]!;
    if (base.startsWith(WH)) {
      const dir = this.resolveDir(parts.slice(0, -1), layer, h.name, true);
      if (base === OPAQUE) {
        for (const child of readdirSync(this.host(dir))) {
          const g = dir === '/' ? `/${child}` : `${dir}/${child}`;
          if (!created.has(g)) this.remove(g);
        }
      } else {
        const name = base.slice(WH.length);
        if (name === '' || name === '.' || name === '..') throw refuse(layer, h.name, 'whiteout of an invalid name');
        this.remove(dir === '/' ? `/${name}` : `${dir}/${name}`);
      }
      return;
    }
    if (h.type === 'character-device' || h.type === 'block-device') {
      throw refuse(layer, h.name, `device node (${h.type}); images must not carry device files`);
    }
    const dir = this.resolveDir(parts.slice(0, -1), layer, h.name, true);
    const guest = dir === '/' ? `/${base}` : `${dir}/${base}`;
    const host = this.host(guest);
    const pax = (h as tar.Headers & { pax?: Record<string, string> }).pax;
    const meta: EntryMeta = { type: 'file', uid: paxId(pax?.uid) ?? h.uid ?? 0, gid: paxId(pax?.gid) ?? h.gid ?? 0, mode: (h.mode ?? 0o644) & 0o7777 };
    const xattrs = xattrsOf(layer, h.name, pax, this.opts.warn);
    if (xattrs) meta.xattrs = xattrs;
    const existing = this.meta.has(guest) ? lstatOrUndefined(host) : undefined;
    let exact = false;
    switch (h.type) {
      case 'directory': {
        meta.type = 'dir';
        if (existing && !existing.isDirectory()) this.remove(guest);
        if (!existing || !existing.isDirectory()) mkdirSync(host, { mode: 0o755 });
        break;
      }
      case 'file':
      case 'contiguous-file': {
        if (existing) this.remove(guest);
        const fd = openSync(host, 'wx', 0o644);
        try {
          await writeEntry(entry, fd, tarFailed);
          if (this.asRoot) {
            fchownSync(fd, meta.uid, meta.gid);
            fchmodSync(fd, meta.mode);
            exact = true;
          }
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'symlink': {
        meta.type = 'symlink';
        const target = h.linkname ?? '';
        if (target === '' || batchProblem(target)) throw refuse(layer, h.name, 'symlink with an empty or unstorable target');
        if (existing) this.remove(guest);
        symlinkSync(target, host);
        break;
      }
      case 'link': {
        const target = h.linkname ?? '';
        if (target.startsWith('/')) throw refuse(layer, h.name, `hardlink to an absolute path ${JSON.stringify(target)} (hardlink escape)`);
        const tparts = target.split('/').filter((p) => p !== '' && p !== '.');
        if (tparts.length === 0 || tparts.includes('..')) throw refuse(layer, h.name, `hardlink to ${JSON.stringify(target)} leaves the image (hardlink escape)`);
        let tdir: string;
        try {
          tdir = this.resolveDir(tparts.slice(0, -1), layer, h.name, false);
        } catch (err) {
          throw refuse(layer, h.name, `hardlink to ${JSON.stringify(target)} does not resolve inside the image (hardlink escape): ${(err as Error).message}`);
        }
        const tguest = tdir === '/' ? `/${tparts[tparts.length - 1]}` : `${tdir}/${tparts[tparts.length - 1]}`;
        const tst = lstatOrUndefined(this.host(tguest));
        if (!tst || tst.isDirectory()) throw refuse(layer, h.name, `hardlink target ${JSON.stringify(target)} is ${tst ? 'a directory' : 'missing'}`);
        if (tguest === guest) break;
        if (existing) this.remove(guest);
        linkSync(this.host(tguest), host);
        const tmeta = this.meta.get(tguest);
        if (tmeta) Object.assign(meta, { ...tmeta, xattrs: tmeta.xattrs });
        meta.type = tmeta?.type ?? 'file';
        exact = this.exact.has(tguest);
        break;
      }
      case 'fifo': {
        // A placeholder file keeps the name in the tree; the ext4 gets a real FIFO in its place.
        meta.type = 'fifo';
        if (existing) this.remove(guest);
        closeSync(openSync(host, 'wx', 0o644));
        break;
      }
      default:
        throw refuse(layer, h.name, `unsupported entry type ${h.type ?? 'unknown'}`);
    }
    this.meta.set(guest, meta);
    if (exact) this.exact.add(guest);
    else this.exact.delete(guest);
    created.add(guest);
  }
}

/** Copies an entry's data into `fd`; fails when the tar stream fails before the entry ends. */
function writeEntry(entry: tar.Entry, fd: number, tarFailed: Promise<never>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (err: unknown) => {
      entry.removeListener('data', onData);
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onData = (chunk: Buffer) => {
      try {
        writeAll(fd, chunk);
      } catch (err) {
        fail(err);
      }
    };
    entry.on('data', onData);
    entry.once('end', () => resolve());
    entry.once('error', fail);
    tarFailed.catch(fail);
  });
}
