/** A layer as a stream of tar bytes: gzip (zlib), zstd (the zstd tool, streaming) or plain tar. */
import { createReadStream } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { operationFailed, unavailable } from '../../../api/errors.js';
import { spawnPiped, ToolMissingError } from '../../../system/exec.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** The compression bytes start with (magic bytes), whatever the layer's media type claims. */
export function compressionOf(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && Buffer.from(head.buffer, head.byteOffset, 4).readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

export interface OpenedLayer {
  stream: Readable;
  /**
   * Settles when the layer's bytes have all been read and decompressed (rejecting when the source
   * fails, or the data is corrupt); the caller must await it after consuming the stream.
   */
  done: Promise<void>;
}

/** Opens a layer file as tar bytes. */
export function openLayer(path: string, signal?: AbortSignal): Promise<OpenedLayer> {
  return openLayerStream(createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) }), path, signal);
}

/**
 * Opens a layer's bytes as they arrive (a file, or a blob being downloaded) as tar bytes. A failure of
 * the source (a download that breaks off or does not match its digest) is passed on unchanged.
 */
export async function openLayerStream(source: Readable, name: string, signal?: AbortSignal): Promise<OpenedLayer> {
  let sourceError: Error | undefined;
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const next = async (): Promise<IteratorResult<Buffer>> => {
    try {
      return await it.next();
    } catch (err) {
      sourceError = err instanceof Error ? err : new Error(String(err));
      throw sourceError;
    }
  };
  const chunks: Buffer[] = [];
  let head = 0;
  let ended = false;
  while (head < 4) {
    const r = await next();
    if (r.done) {
      ended = true;
      break;
    }
    chunks.push(r.value);
    head += r.value.length;
  }
  const kind = compressionOf(Buffer.concat(chunks));
  const bytes = Readable.from(
    (async function* () {
      yield* chunks;
      if (ended) return;
      for (;;) {
        const r = await next();
        if (r.done) return;
        yield r.value;
      }
    })(),
    { objectMode: false },
  );
  const failure = (what: string) => (err: unknown) => {
    if (sourceError) throw sourceError;
    throw operationFailed(`layer ${name} is not valid ${what}: ${err instanceof Error ? err.message : String(err)}`);
  };
  if (kind === 'none') {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const done = pipeline(bytes, out).catch((err: Error) => {
      out.destroy(sourceError ?? err);
      return failure('tar')(err);
    });
    return { stream: out, done };
  }
  if (kind === 'gzip') {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const done = pipeline(bytes, createGunzip({ chunkSize: 1 << 18 }), out).catch((err: Error) => {
      out.destroy(sourceError ?? err);
      return failure('gzip')(err);
    });
    return { stream: out, done };
  }
  let child;
  try {
    child = spawnPiped(['zstd', '-d', '-c', '-q']);
  } catch (err) {
    bytes.destroy();
    if (err instanceof ToolMissingError) throw unavailable('zstd is needed to unpack zstd-compressed layers', 'apt-get install zstd');
    throw err;
  }
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  const onAbort = () => child.kill('SIGKILL');
  signal?.addEventListener('abort', onAbort, { once: true });
  // zstd stops reading when its output is no longer consumed or it meets corrupt data: the feed's EPIPE is not the failure to report.
  const fed = pipeline(bytes, child.stdin).catch((err: Error) => {
    if (sourceError) {
      child.kill('SIGKILL');
      child.stdout.destroy(sourceError);
    }
    return err;
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (code === 0) resolve();
      else reject(operationFailed(`layer ${name} is not valid zstd: ${stderr.trim() || `zstd ended with ${sig ?? code}`}`));
    });
  });
  const done = Promise.all([fed, exited]).then(
    ([feedError]) => {
      if (sourceError) throw sourceError;
      if (feedError) throw operationFailed(`layer ${name} could not be fed to zstd: ${feedError.message}`);
    },
    (err: unknown) => {
      if (sourceError) throw sourceError;
      throw err;
    },
  );
  return { stream: child.stdout, done };
}
