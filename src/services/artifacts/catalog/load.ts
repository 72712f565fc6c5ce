/** Loading the catalogs: the built-in documents, or the ones `image_catalog_url` / `kernel_catalog_url` name. */
import { readFile } from 'node:fs/promises';
import { notFound, unavailable } from '../../../api/errors.js';
import builtinImages from './images.json' with { type: 'json' };
import builtinKernels from './kernels.json' with { type: 'json' };
import { parseImageCatalog, parseKernelCatalog, type Catalog, type ImageEntry, type KernelEntry } from './catalog.js';

/** How long fetching a catalog document may take. */
const FETCH_TIMEOUT_MS = 10_000;
const MAX_DOC_BYTES = 4 * 1024 * 1024;

export interface CatalogUrls {
  images: string;
  kernels: string;
}

async function readDoc(location: string, key: string, signal?: AbortSignal): Promise<string> {
  if (location.startsWith('/')) {
    try {
      return await readFile(location, 'utf8');
    } catch (err) {
      throw unavailable(`cannot read the catalog ${location} (${key}): ${(err as Error).message}`, `fix ${key} in config.toml, or set it to "" for the built-in catalog`);
    }
  }
  const timeout = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(location, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout, redirect: 'follow' });
  } catch (err) {
    throw unavailable(`cannot fetch the catalog ${location} (${key}): ${(err as Error).message}`, `check the URL and the network, or set ${key} to "" for the built-in catalog`);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw unavailable(`the catalog ${location} (${key}) answered HTTP ${res.status}`, `check the URL, or set ${key} to "" for the built-in catalog`);
  }
  const text = await res.text();
  if (text.length > MAX_DOC_BYTES) throw unavailable(`the catalog ${location} is larger than ${MAX_DOC_BYTES} bytes`);
  return text;
}

/** The two catalogs as configured. Built-in documents are parsed once; a configured URL is read on every call. */
export class Catalogs {
  private builtinK?: Catalog<KernelEntry>;
  private builtinI?: Catalog<ImageEntry>;

  constructor(private readonly urls: CatalogUrls) {}

  async kernels(signal?: AbortSignal): Promise<Catalog<KernelEntry>> {
    if (this.urls.kernels) return parseKernelCatalog(await readDoc(this.urls.kernels, 'kernel_catalog_url', signal), this.urls.kernels);
    return (this.builtinK ??= parseKernelCatalog(JSON.stringify(builtinKernels), 'built in'));
  }

  async images(signal?: AbortSignal): Promise<Catalog<ImageEntry>> {
    if (this.urls.images) return parseImageCatalog(await readDoc(this.urls.images, 'image_catalog_url', signal), this.urls.images);
    return (this.builtinI ??= parseImageCatalog(JSON.stringify(builtinImages), 'built in'));
  }

  /** A kernel entry by name; not_found lists the catalog's names. */
  async kernel(name: string, signal?: AbortSignal): Promise<KernelEntry> {
    const cat = await this.kernels(signal);
    const e = cat.entries.find((x) => x.name === name);
    if (!e) {
      throw notFound(
        `kernel ${JSON.stringify(name)} is not in the kernel catalog (${cat.origin})`,
        `available: ${cat.entries.map((x) => x.name).join(', ') || 'none'} (banger kernel list --available)`,
      );
    }
    return e;
  }
}
