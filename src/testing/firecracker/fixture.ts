/**
 * Test support for the firecracker driver where no firecracker binary or KVM exists: a
 * `firecracker` executable that runs the strict stand-in API server (so the driver's real spawn
 * path runs), a tiny valid vmlinux, and a conformance fixture built on both.
 *
 * @module
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DriverFixture } from '../../drivers/conformance.case.js';
import type { LaunchSpec } from '../../drivers/hypervisor.js';

export const STANDIN_BIN = fileURLToPath(new URL('./standin-bin.js', import.meta.url));

export interface StandinKnobs {
  version?: string;
  noSocket?: boolean;
  powerOff?: number | 'ignore';
  exitAfterMs?: number;
  /** Refuse the request to this path with 400 and this fault_message (an injected refusal). */
  fault?: { path: string; message: string };
}

/** Writes `<dir>/firecracker`, a script that execs the stand-in with these knobs; returns its path. */
export async function installStandin(dir: string, knobs: StandinKnobs = {}, name = 'firecracker'): Promise<string> {
  await mkdir(dir, { recursive: true });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\nBANGER_FC_STANDIN=${q(JSON.stringify(knobs))}\nexport BANGER_FC_STANDIN\nexec ${q(process.execPath)} ${q(STANDIN_BIN)} "$@"\n`);
  await chmod(path, 0o755);
  return path;
}

/** The smallest ELF64 x86-64 executable Firecracker's loader accepts: one PT_LOAD at 16 MiB holding the entry point. */
export function tinyVmlinux(): Buffer {
  const code = Buffer.from([0xf4, 0xeb, 0xfd]); // hlt; jmp .-1
  const ehsize = 64;
  const phsize = 56;
  const buf = Buffer.alloc(ehsize + phsize + code.length);
  buf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  buf.writeUInt16LE(2, 0x10); // ET_EXEC
  buf.writeUInt16LE(62, 0x12); // EM_X86_64
  buf.writeUInt32LE(1, 0x14);
  const load = 0x1000000n;
  const off = ehsize + phsize;
  buf.writeBigUInt64LE(load + BigInt(off), 0x18); // e_entry
  buf.writeBigUInt64LE(BigInt(ehsize), 0x20); // e_phoff
  buf.writeUInt16LE(ehsize, 0x34);
  buf.writeUInt16LE(phsize, 0x36);
  buf.writeUInt16LE(1, 0x38);
  const p = ehsize;
  buf.writeUInt32LE(1, p); // PT_LOAD
  buf.writeUInt32LE(5, p + 4); // R+X
  buf.writeBigUInt64LE(0n, p + 8);
  buf.writeBigUInt64LE(0xffffffff81000000n, p + 0x10);
  buf.writeBigUInt64LE(load, p + 0x18);
  buf.writeBigUInt64LE(BigInt(buf.length), p + 0x20);
  buf.writeBigUInt64LE(BigInt(buf.length), p + 0x28);
  buf.set(code, off);
  return buf;
}

/** A launch spec for the stand-in: tiny kernel, three raw disks like a banger VM's, a tap. */
export async function standinSpec(work: string, vmId: string, runDir: string): Promise<LaunchSpec> {
  const dir = join(work, 'files', vmId);
  await mkdir(dir, { recursive: true });
  const kernelPath = join(work, 'vmlinux');
  const disks = [];
  for (const serial of ['root', 'work', 'seed']) {
    const path = join(dir, `${serial}.img`);
    await writeFile(path, Buffer.alloc(64 * 1024));
    disks.push({ path, format: 'raw' as const, serial, ...(serial === 'seed' ? { readOnly: true } : {}) });
  }
  return {
    vmId,
    name: vmId,
    vcpu: 2,
    memoryMiB: 256,
    kernelPath,
    cmdline: 'console=ttyS0 root=/dev/vda rw',
    disks,
    network: { mode: 'tap', tap: `tap-${vmId}`.slice(0, 15), mac: '02:fc:00:00:00:01' },
    runDir,
    consoleLog: join(dir, 'console.log'),
  };
}

export function standinFixture(): DriverFixture {
  let work = '';
  return {
    async prepare(dir) {
      work = dir;
      await writeFile(join(dir, 'vmlinux'), tinyVmlinux());
    },
    spec: (vmId, runDir) => standinSpec(work, vmId, runDir),
    bootMarker: /Linux version/,
    readyMarker: /Command line:/,
    bootTimeoutMs: 10_000,
    shutdownTimeoutMs: 5_000,
  };
}
