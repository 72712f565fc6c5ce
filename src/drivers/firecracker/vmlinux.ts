/**
 * Firecracker boots an uncompressed ELF vmlinux on x86_64, while kernel packages ship a bzImage.
 * This module finds the compressed payload of a bzImage through its setup header (setup_sects,
 * payload_offset, payload_length), decompresses it the way the kernel's own decompressor would
 * (gzip in process; xz, zstd and lz4 through their command-line tools), and checks the result is
 * the ELF64 x86-64 executable whose entry point lies in a loadable segment above 1 MiB, as
 * Firecracker's loader requires. It also reads a kernel config for what Firecracker's devices need.
 *
 * @module
 */
import { mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { badRequest } from '../../api/errors.js';
import { ExecError, run, ToolMissingError } from '../../system/exec.js';

export type Compression = 'gzip' | 'xz' | 'zstd' | 'lz4' | 'lzma' | 'bzip2' | 'lzo';

export interface BzImagePayload {
  /** Protocol version from the setup header, e.g. 0x20f. */
  protocol: number;
  compression: Compression | 'unknown';
  /** Byte offset of the payload in the file, and its length. */
  offset: number;
  length: number;
}

export interface ElfSegment {
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
}

export interface ElfInfo {
  entry: bigint;
  /** The PT_LOAD program headers, in file order. */
  loads: ElfSegment[];
}

const MAGICS: [Compression, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
  ['lzma', [0x5d, 0x00, 0x00]],
];

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const EM_X86_64 = 62;
const PT_LOAD = 1;
/** Firecracker refuses kernels loaded below the start of high memory. */
const HIMEM_START = 0x100000n;

export function isElf(buf: Buffer): boolean {
  return buf.length >= 4 && ELF_MAGIC.every((b, i) => buf[i] === b);
}

/** The payload of a bzImage; undefined when the buffer has no x86 boot setup header ("HdrS"). */
export function bzImagePayload(buf: Buffer): BzImagePayload | undefined {
  if (buf.length < 0x250 || buf.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  const protocol = buf.readUInt16LE(0x206);
  if (protocol < 0x208) return { protocol, compression: 'unknown', offset: 0, length: 0 };
  const setupSects = buf[0x1f1] || 4;
  const offset = (setupSects + 1) * 512 + buf.readUInt32LE(0x248);
  const length = buf.readUInt32LE(0x24c);
  if (offset + length > buf.length || length === 0) return { protocol, compression: 'unknown', offset, length: 0 };
  const head = buf.subarray(offset, offset + 8);
  const found = MAGICS.find(([, m]) => m.every((b, i) => head[i] === b));
  return { protocol, compression: found ? found[0] : 'unknown', offset, length };
}

/** Reads the ELF header and PT_LOAD segments; throws bad_request naming `what` when it is not an x86-64 ELF64 executable Firecracker can load. */
export function checkVmlinux(buf: Buffer, what: string): ElfInfo {
  const bad = (why: string) => badRequest(`${what} is not a kernel Firecracker can boot: ${why}`, 'use an uncompressed x86_64 vmlinux, or a bzImage banger can extract it from');
  if (!isElf(buf)) throw bad('not an ELF file');
  if (buf[4] !== 2) throw bad('not a 64-bit ELF');
  if (buf[5] !== 1) throw bad('not little-endian');
  if (buf.readUInt16LE(0x12) !== EM_X86_64) throw bad(`machine ${buf.readUInt16LE(0x12)} is not x86-64`);
  const type = buf.readUInt16LE(0x10);
  if (type !== 2) throw bad(`ELF type ${type} is not an executable`);
  const entry = buf.readBigUInt64LE(0x18);
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  if (phentsize < 56 || phoff + phnum * phentsize > buf.length) throw bad('program headers are out of bounds');
  const loads: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (buf.readUInt32LE(p) !== PT_LOAD) continue;
    const seg: ElfSegment = {
      offset: Number(buf.readBigUInt64LE(p + 8)),
      vaddr: buf.readBigUInt64LE(p + 0x10),
      paddr: buf.readBigUInt64LE(p + 0x18),
      filesz: buf.readBigUInt64LE(p + 0x20),
      memsz: buf.readBigUInt64LE(p + 0x28),
    };
    if (BigInt(seg.offset) + seg.filesz > BigInt(buf.length)) throw bad(`segment ${i} extends past the end of the file`);
    if (seg.paddr < HIMEM_START) throw bad(`segment ${i} loads at 0x${seg.paddr.toString(16)}, below 1 MiB`);
    loads.push(seg);
  }
  if (loads.length === 0) throw bad('no loadable segments');
  if (!loads.some((s) => entry >= s.paddr && entry < s.paddr + s.memsz)) {
    throw bad(`entry point 0x${entry.toString(16)} is outside every loadable segment`);
  }
  return { entry, loads };
}

const TOOLS: Partial<Record<Compression, { argv: (input: string, output: string) => string[]; pkg: string }>> = {
  // xz names its output after the input: vmlinux.payload -> vmlinux, the output path.
  xz: { argv: (i) => ['xz', '--decompress', '--keep', '--force', '--suffix=.payload', i], pkg: 'xz-utils' },
  zstd: { argv: (i, o) => ['zstd', '--decompress', '--quiet', '--force', i, '-o', o], pkg: 'zstd' },
  lz4: { argv: (i, o) => ['lz4', '--decompress', '--quiet', '--force', i, o], pkg: 'lz4' },
};

/** Decompresses a bzImage payload into the vmlinux it carries. */
export async function decompressPayload(payload: Buffer, compression: BzImagePayload['compression'], what: string): Promise<Buffer> {
  if (compression === 'gzip') return gunzipSync(payload);
  const tool = compression === 'unknown' ? undefined : TOOLS[compression];
  if (!tool) {
    throw badRequest(`${what} is compressed with ${compression}, which banger cannot extract a vmlinux from`, 'use a kernel compressed with gzip, xz, zstd or lz4, or an uncompressed vmlinux');
  }
  // Besides gzip, the kernel build appends the uncompressed size (le32) after the compressed stream.
  const size = payload.readUInt32LE(payload.length - 4);
  const stream = payload.subarray(0, payload.length - 4);
  const dir = await mkdtemp(join(tmpdir(), 'banger-vmlinux-'));
  try {
    const input = join(dir, 'vmlinux.payload');
    const output = join(dir, 'vmlinux');
    await writeFile(input, stream);
    try {
      await run(tool.argv(input, output), { timeoutMs: 120_000 });
    } catch (err) {
      if (err instanceof ToolMissingError) throw badRequest(`${what} is ${compression}-compressed and ${err.tool} is not installed`, `apt-get install ${tool.pkg}`);
      if (err instanceof ExecError) throw badRequest(`${what}: ${compression} payload does not decompress: ${err.lastLine}`);
      throw err;
    }
    const out = await readFile(output);
    if (out.length !== size) throw badRequest(`${what}: decompressed ${out.length} bytes where the bzImage says ${size}`);
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface VmlinuxResult {
  path: string;
  /** 'elf' when the kernel already was a vmlinux, else the compression it was extracted from. */
  source: 'elf' | Compression;
  elf: ElfInfo;
}

/**
 * The vmlinux for `kernelPath`: the file itself when it is an ELF, else extracted from the bzImage
 * to `target` (written beside it and renamed into place). Throws bad_request saying what is wrong.
 */
export async function ensureVmlinux(kernelPath: string, target: string): Promise<VmlinuxResult> {
  const what = `kernel ${kernelPath}`;
  const head = Buffer.alloc(0x250);
  const fh = await open(kernelPath, 'r').catch((err: NodeJS.ErrnoException) => {
    throw badRequest(`${what} cannot be read (${err.code ?? err.message})`);
  });
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  if (isElf(head)) return { path: kernelPath, source: 'elf', elf: checkVmlinux(await readFile(kernelPath), what) };
  const buf = await readFile(kernelPath);
  const payload = bzImagePayload(buf);
  if (!payload) throw badRequest(`${what} is neither an ELF vmlinux nor a bzImage`, 'give Firecracker an x86_64 vmlinux or bzImage');
  if (payload.length === 0) throw badRequest(`${what} is a bzImage (boot protocol ${payload.protocol.toString(16)}) without a payload banger can find`, 'use a kernel built for boot protocol 2.08 or later');
  const vmlinux = await decompressPayload(buf.subarray(payload.offset, payload.offset + payload.length), payload.compression, what);
  const elf = checkVmlinux(vmlinux, `the vmlinux inside ${kernelPath}`);
  const tmp = join(dirname(target), `.${Date.now()}.vmlinux.tmp`);
  await writeFile(tmp, vmlinux, { mode: 0o644 });
  await rename(tmp, target);
  return { path: target, source: payload.compression as Compression, elf };
}

/** What Firecracker's devices need from a guest kernel, and how this one provides it. */
export interface KernelFitness {
  /** Missing outright: the guest cannot boot under Firecracker. */
  missing: string[];
  /** Built as modules: the initrd must load them before the root filesystem is mounted. */
  modules: string[];
}

const NEEDED: [string, string][] = [
  ['CONFIG_VIRTIO_MMIO', 'virtio-mmio (every Firecracker device)'],
  ['CONFIG_VIRTIO_BLK', 'virtio-blk (the disks)'],
  ['CONFIG_VIRTIO_NET', 'virtio-net (the network)'],
  ['CONFIG_EXT4_FS', 'ext4 (the root filesystem)'],
];

/** Reads a kernel .config (as /boot/config-* has it) for what Firecracker needs. */
export function kernelFitness(config: string): KernelFitness {
  const value = (key: string) => new RegExp(`^${key}=(\\S+)`, 'm').exec(config)?.[1];
  const out: KernelFitness = { missing: [], modules: [] };
  for (const [key, label] of NEEDED) {
    const v = value(key);
    if (v === 'y') continue;
    if (v === 'm') out.modules.push(label);
    else out.missing.push(`${label}: ${key} is not set`);
  }
  return out;
}

/** Throws bad_request when the kernel config says the guest cannot use Firecracker's devices. */
export function assertKernelFits(config: string, opts: { what: string; hasInitrd: boolean }): void {
  const f = kernelFitness(config);
  if (f.missing.length > 0) {
    throw badRequest(`${opts.what} lacks what Firecracker needs: ${f.missing.join('; ')}`, 'use a kernel built with CONFIG_VIRTIO_MMIO=y (and virtio-blk, virtio-net, ext4), e.g. Debian\'s linux-image-cloud-amd64 with its initrd');
  }
  if (f.modules.length > 0 && !opts.hasInitrd) {
    throw badRequest(`${opts.what} builds ${f.modules.join(', ')} as modules and has no initrd to load them`, 'import the kernel with banger kernel import so it gets an initramfs with those modules');
  }
}
