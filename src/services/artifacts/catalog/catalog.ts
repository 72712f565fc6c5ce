/**
 * Catalogs of images and kernels: versioned JSON documents (`{"schema": 1, "kind": "images"|"kernels",
 * "entries": [...]}`), one of each built into banger and replaceable by `image_catalog_url` /
 * `kernel_catalog_url`. Every document is validated when it is loaded; a field banger does not know
 * is refused, never ignored.
 *
 * Sources an entry can name:
 * - `bundle`: a tar.zst at a URL with its sha256 and size (images: rootfs.ext4 with optional vmlinuz,
 *   initrd.img; kernels: vmlinuz or vmlinux with optional initrd.img and modules/)
 * - `deb` (kernels): a Debian kernel package at a URL with its sha256 and size
 * - `oci` (images): an OCI reference, pulled like `image pull REF`
 * - `recipe` (images): a recipe banger builds locally (`image build`)
 */
import { badRequest } from '../../../api/errors.js';

export const CATALOG_SCHEMA = 1;

export interface DownloadSource {
  url: string;
  sha256: string;
  size: number;
}
export type BundleSource = { kind: 'bundle' } & DownloadSource;
export type DebSource = { kind: 'deb' } & DownloadSource;
export interface OciSource {
  kind: 'oci';
  ref: string;
}
export interface RecipeSource {
  kind: 'recipe';
  recipe: string;
}

export interface KernelEntry {
  name: string;
  description: string;
  version?: string;
  /** The kernel images without one of their own boot with. At most one entry has it. */
  default?: boolean;
  source: BundleSource | DebSource;
}

export interface ImageEntry {
  name: string;
  description: string;
  distro?: string;
  /** A kernel catalog entry for images whose source carries no kernel. */
  kernel?: string;
  source: BundleSource | OciSource | RecipeSource;
}

export interface Catalog<E> {
  schema: number;
  kind: 'images' | 'kernels';
  entries: E[];
  /** Where it came from: "built in" or the URL/path. */
  origin: string;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const SHA = /^[a-f0-9]{64}$/;

type Obj = Record<string, unknown>;

class Checker {
  constructor(private readonly where: string) {}

  fail(what: string): never {
    throw badRequest(`${this.where}: ${what}`, 'fix the catalog document (see README: Catalogs)');
  }

  obj(v: unknown, at: string, allowed: readonly string[]): Obj {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(`${at} must be an object`);
    const o = v as Obj;
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.fail(`${at} has unknown field ${JSON.stringify(k)} (known: ${allowed.join(', ')})`);
    return o;
  }

  str(o: Obj, k: string, at: string, opt?: false): string;
  str(o: Obj, k: string, at: string, opt: true): string | undefined;
  str(o: Obj, k: string, at: string, opt = false): string | undefined {
    const v = o[k];
    if (v === undefined && opt) return undefined;
    if (typeof v !== 'string' || v === '') this.fail(`${at}.${k} must be a non-empty string`);
    return v;
  }

  download(o: Obj, at: string): DownloadSource {
    const url = this.str(o, 'url', at);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      this.fail(`${at}.url ${JSON.stringify(url)} is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') this.fail(`${at}.url must be http or https (got ${u.protocol})`);
    const sha256 = this.str(o, 'sha256', at);
    if (!SHA.test(sha256)) this.fail(`${at}.sha256 must be 64 lowercase hex digits`);
    const size = o.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) this.fail(`${at}.size must be a positive integer (bytes)`);
    return { url, sha256, size };
  }

  name(o: Obj, at: string, seen: Set<string>): string {
    const name = this.str(o, 'name', at);
    if (!NAME.test(name)) this.fail(`${at}.name ${JSON.stringify(name)} must be lowercase letters, digits, '.', '_' or '-' (at most 63)`);
    if (seen.has(name)) this.fail(`${at}.name ${JSON.stringify(name)} appears twice`);
    seen.add(name);
    return name;
  }
}

function parseDoc(text: string, kind: 'images' | 'kernels', origin: string): { c: Checker; entries: unknown[] } {
  const c = new Checker(`${kind.slice(0, -1)} catalog ${origin}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    c.fail(`not JSON (${(err as Error).message})`);
  }
  const o = c.obj(doc, 'the document', ['$schema', 'schema', 'kind', 'entries']);
  if (o.schema !== CATALOG_SCHEMA) {
    if (typeof o.schema === 'number' && o.schema > CATALOG_SCHEMA) {
      throw badRequest(`${kind.slice(0, -1)} catalog ${origin} has schema ${o.schema}; this banger reads schema ${CATALOG_SCHEMA}`, 'upgrade banger, or point the catalog URL at a schema 1 document');
    }
    c.fail(`schema must be ${CATALOG_SCHEMA}`);
  }
  if (o.kind !== kind) c.fail(`kind must be "${kind}" (got ${JSON.stringify(o.kind)})`);
  if (!Array.isArray(o.entries)) c.fail('entries must be an array');
  return { c, entries: o.entries as unknown[] };
}

export function parseKernelCatalog(text: string, origin: string): Catalog<KernelEntry> {
  const { c, entries } = parseDoc(text, 'kernels', origin);
  const seen = new Set<string>();
  const out: KernelEntry[] = [];
  for (const [i, raw] of entries.entries()) {
    const at = `entries[${i}]`;
    const o = c.obj(raw, at, ['name', 'description', 'version', 'default', 'source']);
    const e: KernelEntry = { name: c.name(o, at, seen), description: c.str(o, 'description', at), source: undefined as never };
    const version = c.str(o, 'version', at, true);
    if (version !== undefined) e.version = version;
    if (o.default !== undefined) {
      if (typeof o.default !== 'boolean') c.fail(`${at}.default must be true or false`);
      if (o.default && out.some((x) => x.default)) c.fail(`${at}: only one entry can be the default kernel`);
      if (o.default) e.default = true;
    }
    const s = c.obj(o.source, `${at}.source`, ['kind', 'url', 'sha256', 'size']);
    if (s.kind !== 'deb' && s.kind !== 'bundle') c.fail(`${at}.source.kind must be "deb" or "bundle"`);
    e.source = { kind: s.kind as 'deb' | 'bundle', ...c.download(s, `${at}.source`) };
    out.push(e);
  }
  return { schema: CATALOG_SCHEMA, kind: 'kernels', entries: out, origin };
}

export function parseImageCatalog(text: string, origin: string): Catalog<ImageEntry> {
  const { c, entries } = parseDoc(text, 'images', origin);
  const seen = new Set<string>();
  const out: ImageEntry[] = [];
  for (const [i, raw] of entries.entries()) {
    const at = `entries[${i}]`;
    const o = c.obj(raw, at, ['name', 'description', 'distro', 'kernel', 'source']);
    const e: ImageEntry = { name: c.name(o, at, seen), description: c.str(o, 'description', at), source: undefined as never };
    const distro = c.str(o, 'distro', at, true);
    if (distro !== undefined) e.distro = distro;
    const kernel = c.str(o, 'kernel', at, true);
    if (kernel !== undefined) {
      if (!NAME.test(kernel)) c.fail(`${at}.kernel ${JSON.stringify(kernel)} is not a kernel catalog name`);
      e.kernel = kernel;
    }
    const kind = (o.source as Obj | undefined)?.kind;
    if (kind === 'bundle') {
      e.source = { kind, ...c.download(c.obj(o.source, `${at}.source`, ['kind', 'url', 'sha256', 'size']), `${at}.source`) };
    } else if (kind === 'oci') {
      e.source = { kind, ref: c.str(c.obj(o.source, `${at}.source`, ['kind', 'ref']), 'ref', `${at}.source`) };
    } else if (kind === 'recipe') {
      e.source = { kind, recipe: c.str(c.obj(o.source, `${at}.source`, ['kind', 'recipe']), 'recipe', `${at}.source`) };
    } else {
      c.fail(`${at}.source.kind must be "bundle", "oci" or "recipe"`);
    }
    out.push(e);
  }
  return { schema: CATALOG_SCHEMA, kind: 'images', entries: out, origin };
}

/** The size an entry downloads, when its source says (OCI and recipe sources do not). */
export function entrySize(e: { source: { kind: string; size?: number } }): number | undefined {
  return e.source.size;
}
