/**
 * banger images as OCI artifacts: `image push NAME REF` stores an image's files (rootfs, work seed,
 * kernel, initrd), each zstd-compressed, as the layers of an OCI manifest whose config is the image's
 * manifest.json; `image pull REF` recognises such an artifact by its config media type and restores the
 * files exactly as they were pushed (digests of the compressed blobs and of the files checked).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { badRequest, operationFailed, unavailable } from '../../../api/errors.js';
import { humanSize } from '../../../model/size.js';
import { run, ToolMissingError } from '../../../system/exec.js';
import { sha256File } from '../../artifacts/digest.js';
import { throwIfCancelled, type OpContext } from '../../op-context.js';
import { IMAGE_FILES, parseManifest, type ImageManifest } from '../manifest.js';
import type { BlobCache } from './blob-cache.js';
import { BANGER_MT, MT, type Descriptor, type ImageManifestDoc } from './media-types.js';
import type { RegistryClient } from './registry.js';

/** The image files an artifact carries, in layer order, with their media types. */
const FILE_KINDS = [
  { key: 'rootfs', mediaType: BANGER_MT.rootfs },
  { key: 'workSeed', mediaType: BANGER_MT.workSeed },
  { key: 'kernel', mediaType: BANGER_MT.kernel },
  { key: 'initrd', mediaType: BANGER_MT.initrd },
] as const;

type FileKey = (typeof FILE_KINDS)[number]['key'];

export const ANNOTATION = {
  title: 'org.opencontainers.image.title',
  file: 'dev.banger.image.file',
  sha256: 'dev.banger.image.file.sha256',
  size: 'dev.banger.image.file.size',
} as const;

/** True when a manifest is a banger image artifact rather than a container image. */
export function isBangerArtifact(m: ImageManifestDoc): boolean {
  return m.config?.mediaType === BANGER_MT.config || m.artifactType === BANGER_MT.artifact;
}

async function zstd(argv: string[], what: string, signal: AbortSignal): Promise<void> {
  try {
    await run(['zstd', '-q', '-f', ...argv], { signal, maxOutput: 4000 });
  } catch (err) {
    if (err instanceof ToolMissingError) throw unavailable(`zstd is needed for ${what}`, 'apt-get install zstd');
    throw err;
  }
}

export interface PushArtifactOptions {
  client: RegistryClient;
  /** Tag (or digest-less reference target) the manifest is stored under. */
  tag: string;
  /** The managed image's directory (holds manifest.json and the files it names). */
  imageDir: string;
  /** Scratch directory for the compressed files (removed by the caller). */
  scratch: string;
}

export interface PushedArtifact {
  digest: string;
  bytes: number;
}

/** Compresses and uploads every file of the image, then the manifest that names them. */
export async function pushArtifact(opts: PushArtifactOptions, ctx: OpContext): Promise<PushedArtifact> {
  const configBody = await readFile(join(opts.imageDir, IMAGE_FILES.manifest));
  const manifest = parseManifest(configBody.toString('utf8'), join(opts.imageDir, IMAGE_FILES.manifest));
  if (manifest.files.modules) {
    throw badRequest(`image ${manifest.name} carries a kernel modules directory, which push does not send yet`, 'push an image whose kernel is built in, or boot the pulled image with --kernel-ref');
  }
  await mkdir(opts.scratch, { recursive: true, mode: 0o700 });
  const layers: Descriptor[] = [];
  let bytes = 0;
  for (const kind of FILE_KINDS) {
    const name = manifest.files[kind.key];
    if (!name) continue;
    const src = join(opts.imageDir, name);
    const packed = join(opts.scratch, `${kind.key}.zst`);
    const desc = await ctx.stage(`push_${kind.key}`, `Compressing and uploading ${name}`, async () => {
      const size = (await stat(src)).size;
      const fileSha = await sha256File(src);
      await zstd(['-T0', '-3', '--sparse', '-o', packed, '--', src], `pushing ${name}`, ctx.signal);
      throwIfCancelled(ctx.signal);
      const packedSize = (await stat(packed)).size;
      const digest = `sha256:${await sha256File(packed)}`;
      ctx.progress(0, packedSize, 'bytes');
      await opts.client.putBlob(digest, packedSize, () => Readable.toWeb(createReadStream(packed)) as ReadableStream);
      ctx.progress(packedSize, packedSize, 'bytes');
      return {
        mediaType: kind.mediaType,
        digest,
        size: packedSize,
        annotations: { [ANNOTATION.title]: name, [ANNOTATION.file]: kind.key, [ANNOTATION.sha256]: fileSha, [ANNOTATION.size]: String(size) },
      } satisfies Descriptor;
    });
    layers.push(desc);
    bytes += desc.size;
    throwIfCancelled(ctx.signal);
  }
  const config: Descriptor = { mediaType: BANGER_MT.config, digest: `sha256:${sha256Buffer(configBody)}`, size: configBody.length };
  await opts.client.putBlob(config.digest, config.size, () => new Uint8Array(configBody));
  const doc: ImageManifestDoc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: BANGER_MT.artifact,
    config,
    layers,
    annotations: { 'org.opencontainers.image.created': manifest.createdAt, [ANNOTATION.title]: manifest.name },
  };
  const body = Buffer.from(JSON.stringify(doc));
  const digest = await ctx.stage('push_manifest', `Storing the manifest as ${opts.tag}`, () => opts.client.putManifest(opts.tag, MT.ociManifest, body));
  return { digest, bytes: bytes + configBody.length + body.length };
}

function sha256Buffer(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

interface ArtifactLayer {
  key: FileKey;
  desc: Descriptor;
  sha256: string;
  size: number;
}

function artifactLayers(doc: ImageManifestDoc, where: string): ArtifactLayer[] {
  const out: ArtifactLayer[] = [];
  for (const desc of doc.layers) {
    const kind = FILE_KINDS.find((k) => k.mediaType === desc.mediaType);
    if (!kind) throw operationFailed(`banger image artifact ${where} has a layer of unknown media type ${desc.mediaType}`, 'it was pushed by a newer banger; upgrade to pull it');
    const a = desc.annotations ?? {};
    const sha256 = a[ANNOTATION.sha256] ?? '';
    const size = Number(a[ANNOTATION.size]);
    if (a[ANNOTATION.file] !== kind.key || !/^[a-f0-9]{64}$/.test(sha256) || !Number.isSafeInteger(size) || size < 0) {
      throw operationFailed(`banger image artifact ${where}: layer ${desc.digest} lacks a valid file name, sha256 or size annotation`);
    }
    if (out.some((l) => l.key === kind.key)) throw operationFailed(`banger image artifact ${where} carries ${kind.key} twice`);
    out.push({ key: kind.key, desc, sha256, size });
  }
  if (!out.some((l) => l.key === 'rootfs')) throw operationFailed(`banger image artifact ${where} has no rootfs`);
  return out;
}

export interface RestoreOptions {
  client: RegistryClient;
  cache: BlobCache;
  doc: ImageManifestDoc;
  /** ref@digest, for messages and the image's source. */
  where: string;
  /** Directory the files are written into (staging; published by the caller). */
  out: string;
  /** Checks the disk can take this many bytes before anything is written. */
  checkSpace: (bytes: number) => Promise<void>;
}

export interface RestoredArtifact {
  /** The manifest the image was pushed with (id, name and source are the caller's to replace). */
  manifest: ImageManifest;
}

/** Downloads the artifact's blobs through the cache and writes the image files back, bit for bit. */
export async function restoreArtifact(opts: RestoreOptions, ctx: OpContext): Promise<RestoredArtifact> {
  const layers = artifactLayers(opts.doc, opts.where);
  const configPath = await opts.cache.fetch(opts.client, opts.doc.config);
  const manifest = parseManifest(await readFile(configPath, 'utf8'), `the manifest of ${opts.where}`);
  for (const l of layers) {
    if (manifest.files[l.key] === undefined) throw operationFailed(`banger image artifact ${opts.where} carries ${l.key}, which its manifest does not name`);
  }
  for (const key of ['rootfs', 'workSeed', 'kernel', 'initrd'] as const) {
    if (manifest.files[key] !== undefined && !layers.some((l) => l.key === key)) throw operationFailed(`banger image artifact ${opts.where} lacks ${key}, which its manifest names`);
  }
  if (manifest.files.modules) throw operationFailed(`banger image artifact ${opts.where} names a modules directory it cannot carry`);
  await opts.checkSpace(layers.reduce((s, l) => s + l.size, 0));

  const files: ImageManifest['files'] = { rootfs: IMAGE_FILES.rootfs };
  for (const [i, l] of layers.entries()) {
    const blob = await ctx.stage(`layer_${i + 1}`, `Downloading ${l.key} (${humanSize(l.desc.size)})`, () => {
      let last = -1;
      return opts.cache.fetch(opts.client, l.desc, (done, total) => {
        if (last < 0 || done === total || done - last >= 1024 * 1024) {
          last = done;
          ctx.progress(done, total, 'bytes');
        }
      });
    });
    throwIfCancelled(ctx.signal);
    // File names come from banger's own table, never from the artifact.
    const name = IMAGE_FILES[l.key];
    const dest = join(opts.out, name);
    await ctx.stage(`restore_${l.key}`, `Writing ${name}`, async () => {
      await zstd(['-d', '--sparse', '-o', dest, '--', blob], `restoring ${name}`, ctx.signal);
      const got = await sha256File(dest);
      if (got !== l.sha256) {
        throw operationFailed(`${name} of ${opts.where} does not match the sha256 it was pushed with (got ${got})`, 'the artifact is damaged; push it again');
      }
    });
    files[l.key] = name;
    throwIfCancelled(ctx.signal);
  }
  return { manifest: { ...manifest, files } };
}
