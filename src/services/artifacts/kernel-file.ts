/** Recognising Linux kernel files: an x86 bzImage (setup header "HdrS") or an ELF vmlinux. */
import { open } from 'node:fs/promises';

export type KernelFormat = 'bzImage' | 'vmlinux';

export interface KernelFileInfo {
  format: KernelFormat;
  /** e.g. "6.1.0-50-cloud-amd64", or "" when it could not be read. */
  version: string;
}

const HDRS_OFFSET = 0x202;
const VERSION_PTR_OFFSET = 0x20e;
const LINUX_VERSION = Buffer.from('Linux version ');

/** Describes a kernel file, or returns undefined when the file is not a Linux kernel. */
export async function inspectKernel(path: string): Promise<KernelFileInfo | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
    const st = await fh.stat();
    if (!st.isFile()) return undefined;
    const head = Buffer.alloc(0x240);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead >= 0x206 && head.subarray(HDRS_OFFSET, HDRS_OFFSET + 4).toString('latin1') === 'HdrS') {
      return { format: 'bzImage', version: await bzImageVersion(fh, head) };
    }
    if (bytesRead >= 20 && head[0] === 0x7f && head.subarray(1, 4).toString('latin1') === 'ELF') {
      const type = head.readUInt16LE(16);
      if (type !== 2) return undefined; // ET_EXEC
      const version = await scanForVersion(fh, st.size);
      return version === undefined ? undefined : { format: 'vmlinux', version };
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

async function bzImageVersion(fh: import('node:fs/promises').FileHandle, head: Buffer): Promise<string> {
  const ptr = head.readUInt16LE(VERSION_PTR_OFFSET);
  if (ptr === 0) return '';
  const buf = Buffer.alloc(256);
  const { bytesRead } = await fh.read(buf, 0, buf.length, ptr + 0x200);
  const text = buf.subarray(0, bytesRead).toString('latin1');
  const end = text.indexOf('\0');
  return (end >= 0 ? text.slice(0, end) : text).split(' ')[0] ?? '';
}

/** An ELF vmlinux carries the "Linux version x.y.z ..." banner; an ELF without it is not a kernel. */
async function scanForVersion(fh: import('node:fs/promises').FileHandle, size: number): Promise<string | undefined> {
  const chunk = 4 * 1024 * 1024;
  const overlap = 128;
  const buf = Buffer.alloc(chunk + overlap);
  for (let pos = 0; pos < Math.min(size, 512 * 1024 * 1024); pos += chunk) {
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
    const view = buf.subarray(0, bytesRead);
    let i = view.indexOf(LINUX_VERSION);
    while (i >= 0) {
      const rest = view.subarray(i + LINUX_VERSION.length, i + LINUX_VERSION.length + 64).toString('latin1');
      const m = /^(\d+\.\d+[^\s\0]*) \(/.exec(rest);
      if (m) return m[1]!;
      i = view.indexOf(LINUX_VERSION, i + 1);
    }
    if (bytesRead < buf.length) break;
  }
  return undefined;
}
