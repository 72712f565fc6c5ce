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
import { tinyVmlinux as elfWith } from '../../drivers/firecracker/tiny-kernel.js';
import type { LaunchSpec } from '../../drivers/hypervisor.js';

/**
 * A tiny valid vmlinux for launch tests. Its code (nop, then a halt loop) is not the probe's, so the
 * stand-in takes it for a Linux kernel and writes boot lines to the console, as a real one would.
 */
export function tinyVmlinux(): Buffer {
  return elfWith(Buffer.from([0x90, 0xf4, 0xeb, 0xfd]));
}

export const STANDIN_BIN = fileURLToPath(new URL('./standin-bin.js', import.meta.url));
export const STANDIN_JAILER_BIN = fileURLToPath(new URL('./standin-jailer-bin.js', import.meta.url));

export interface StandinKnobs {
  version?: string;
  noSocket?: boolean;
  powerOff?: number | 'ignore';
  exitAfterMs?: number;
  /** Refuse the request to this path with 400 and this fault_message (an injected refusal). */
  fault?: { path: string; message: string };
  /** Append every request and its answer to this file (JSON lines). */
  recordTo?: string;
  /** A broken KVM host: the guest's vCPU hangs (no serial output) or crashes (firecracker exits). */
  guest?: 'hang' | 'crash';
  /** The guest's guest bits version (older ones do not answer readdress). */
  guestBits?: number;
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

/** Writes `<dir>/jailer`, a script that runs the stand-in jailer (which runs the stand-in firecracker with these knobs). */
export async function installStandinJailer(dir: string, knobs: StandinKnobs = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const path = join(dir, 'jailer');
  await writeFile(path, `#!/bin/sh\nBANGER_FC_STANDIN=${q(JSON.stringify(knobs))}\nexport BANGER_FC_STANDIN\nexec ${q(process.execPath)} ${q(STANDIN_JAILER_BIN)} "$@"\n`);
  await chmod(path, 0o755);
  return path;
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
