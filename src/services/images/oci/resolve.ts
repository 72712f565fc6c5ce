/** From a reference to one image manifest: indexes and manifest lists are narrowed to one platform. */
import { badRequest, notFound, operationFailed } from '../../../api/errors.js';
import { isImageManifest, isIndex, type Descriptor, type ImageIndex, type ImageManifestDoc, type Platform } from './media-types.js';
import type { RegistryClient } from './registry.js';

export const DEFAULT_PLATFORM = 'linux/amd64';

export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_]+$/.test(p))) {
    throw badRequest(`platform ${JSON.stringify(s)} is not os/arch[/variant]`, 'e.g. --platform linux/amd64 or linux/arm64/v8');
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

function matches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  return want.variant === undefined || have.variant === want.variant;
}

export interface ResolvedManifest {
  /** Digest of the image manifest (not of the index it was picked from). */
  digest: string;
  mediaType: string;
  manifest: ImageManifestDoc;
  /** The index digest, when the reference named one. */
  indexDigest?: string;
}

function parseJson<T>(body: Buffer, what: string): T {
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch {
    throw operationFailed(`${what} is not valid JSON`);
  }
}

function checkManifest(m: ImageManifestDoc, what: string): ImageManifestDoc {
  if (m.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) {
    throw operationFailed(`${what} is not a schema 2 image manifest`, 'only OCI and Docker schema 2 images can be pulled');
  }
  for (const d of [m.config, ...m.layers]) checkDescriptor(d, what);
  return m;
}

export function checkDescriptor(d: Descriptor, what: string): void {
  if (!d || typeof d.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d.digest)) {
    throw operationFailed(`${what} names a blob with an unsupported digest ${JSON.stringify(d?.digest)}`, 'only sha256 digests are supported');
  }
  if (!Number.isSafeInteger(d.size) || d.size < 0) throw operationFailed(`${what} names blob ${d.digest} with an invalid size`);
}

/** Fetches the manifest of the reference, choosing the platform from an index. */
export async function resolveManifest(client: RegistryClient, target: string, platform: Platform): Promise<ResolvedManifest> {
  const where = `${client.ref.registry}/${client.ref.repository}:${target}`;
  const top = await client.getManifest(target);
  if (isIndex(top.mediaType)) {
    const index = parseJson<ImageIndex | null>(top.body, `index ${where}`);
    const entries: unknown = index?.manifests ?? [];
    if (typeof index !== 'object' || index === null || !Array.isArray(entries)) {
      throw operationFailed(`index ${where} is not an image index (its manifests are not a list)`, 'only OCI image indexes and Docker manifest lists can be pulled');
    }
    const images = (entries as unknown[]).filter((d): d is Descriptor => typeof d === 'object' && d !== null && isImageManifest((d as Descriptor).mediaType) && (d as Descriptor).platform?.os !== 'unknown');
    const pick = images.find((d) => matches(platform, d.platform));
    if (!pick) {
      const have = [...new Set(images.map((d) => formatPlatform(d.platform)))];
      throw notFound(
        `${where} has no image for ${formatPlatform(platform)}; it has ${have.length > 0 ? have.join(', ') : 'no platforms'}`,
        have.length > 0 ? `banger runs linux/amd64 guests; pick one with --platform ${have[0]} only if you know it runs here` : undefined,
      );
    }
    checkDescriptor(pick, `index ${where}`);
    const m = await client.getManifest(pick.digest);
    if (!isImageManifest(m.mediaType)) throw operationFailed(`${where}: the index entry for ${formatPlatform(platform)} is ${m.mediaType}, not an image manifest`);
    return { digest: m.digest, mediaType: m.mediaType, manifest: checkManifest(parseJson(m.body, `manifest ${pick.digest}`), `manifest ${pick.digest}`), indexDigest: top.digest };
  }
  if (isImageManifest(top.mediaType)) {
    return { digest: top.digest, mediaType: top.mediaType, manifest: checkManifest(parseJson(top.body, `manifest ${where}`), `manifest ${where}`) };
  }
  throw operationFailed(`${where} is ${top.mediaType || 'of an unknown media type'}, not an image`, 'only OCI images, Docker schema 2 images and banger image artifacts can be pulled');
}
