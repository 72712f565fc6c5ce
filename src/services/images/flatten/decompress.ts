/** A layer file as a stream of tar bytes: gzip (zlib), zstd (the zstd tool, streaming) or plain tar. */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { operationFailed, unavailable } from '../../../api/errors.js';
import { spawnPiped, ToolMissingError } from '../../../system/exec.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** The compression a file starts with (magic bytes), whatever its media type claims. */
export async function sniffCompression(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    if (bytesRead >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (bytesRead === 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

/**
 * Opens a layer as tar bytes. `done` settles when the decompressor has finished (rejecting when the
 * data is corrupt); the caller must await it after consuming the stream.
 */
export async function openLayer(path: string, signal?: AbortSignal): Promise<{ stream: Readable; done: Promise<void> }> {
  const kind = await sniffCompression(path);
  if (kind === 'none') {
    const stream = createReadStream(path, { signal });
    return { stream, done: Promise.resolve() };
  }
  if (kind === 'gzip') {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const done = pipeline(createReadStream(path, { signal }), createGunzip({ chunkSize: 1 << 18 }), out).catch((err: Error) => {
      out.destroy(err);
      throw operationFailed(`layer ${path} is not valid gzip: ${err.message}`);
    });
    return { stream: out, done };
  }
  let child;
  try {
    child = spawnPiped(['zstd', '-d', '-c', '-q', '--', path]);
  } catch (err) {
    if (err instanceof ToolMissingError) throw unavailable('zstd is needed to unpack zstd-compressed layers', 'apt-get install zstd');
    throw err;
  }
  child.stdin.end();
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  const onAbort = () => child.kill('SIGKILL');
  signal?.addEventListener('abort', onAbort, { once: true });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (code === 0) resolve();
      else reject(operationFailed(`layer ${path} is not valid zstd: ${stderr.trim() || `zstd ended with ${sig ?? code}`}`));
    });
  });
  return { stream: child.stdout, done };
}
