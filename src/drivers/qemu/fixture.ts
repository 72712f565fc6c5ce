/**
 * A conformance fixture that boots the host's own kernel (e.g. Debian's cloud kernel in /boot) with
 * its initramfs, plus a small appended archive that replaces /init: it prints a ready line and
 * powers the guest off when the ACPI power button is pressed (or on Ctrl-Alt-Del). No root
 * filesystem is needed, so the whole boot takes seconds even under TCG.
 *
 * @module
 */
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DriverFixture } from '../conformance.case.js';
import type { LaunchSpec } from '../hypervisor.js';
import { createOverlay } from './overlay.js';
import { freeLoopbackPort } from '../../system/net.js';

export interface HostKernel {
  version: string;
  kernel: string;
  initrd: string;
  /** button.ko for that kernel, when it is a module; without it the guest cannot see the power button. */
  buttonModule?: string;
}

export const READY_LINE = 'banger-fixture: ready';

/** The guest's /init. */
export const FIXTURE_INIT = `#!/bin/sh
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
[ -f /banger/button.ko ] && insmod /banger/button.ko
trap 'echo "banger-fixture: ctrl-alt-del"; poweroff -f' INT
echo "${READY_LINE}"
while :; do
  read n rest < /sys/firmware/acpi/interrupts/ff_pwr_btn
  if [ "\${n:-0}" != 0 ]; then echo "banger-fixture: power button"; poweroff -f; fi
  sleep 0.2
done
`;

/** The newest kernel in /boot that has an initramfs, or the reason there is none. */
export function findHostKernel(bootDir = '/boot', modulesDir = '/lib/modules'): HostKernel | string {
  let names: string[];
  try {
    names = readdirSync(bootDir);
  } catch {
    return `${bootDir} is not readable`;
  }
  const versions = names
    .filter((n) => n.startsWith('vmlinuz-'))
    .map((n) => n.slice('vmlinuz-'.length))
    .filter((v) => names.includes(`initrd.img-${v}`))
    .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
  const version = versions[0];
  if (version === undefined) return `no ${bootDir}/vmlinuz-* with a matching initrd.img-*`;
  const k: HostKernel = { version, kernel: join(bootDir, `vmlinuz-${version}`), initrd: join(bootDir, `initrd.img-${version}`) };
  const button = join(modulesDir, version, 'kernel/drivers/acpi/button.ko');
  if (existsSync(button)) k.buttonModule = button;
  return k;
}

export interface CpioEntry {
  name: string;
  /** Full st_mode, e.g. 0o100755 for an executable file, 0o040755 for a directory. */
  mode: number;
  data?: Buffer;
}

/** An uncompressed cpio archive in the "newc" format the kernel unpacks as an initramfs. */
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const add = (name: string, mode: number, data: Buffer, ino: number) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBuf.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`, 'latin1');
    parts.push(header, nameBuf, pad4(header.length + nameBuf.length), data, pad4(data.length));
  };
  entries.forEach((e, i) => add(e.name, e.mode, e.data ?? Buffer.alloc(0), i + 1));
  add('TRAILER!!!', 0, Buffer.alloc(0), 0);
  return Buffer.concat(parts);
}

/** Writes the host initramfs with the fixture's /init (and button.ko) appended. */
export async function buildFixtureInitrd(k: HostKernel, outPath: string): Promise<void> {
  const entries: CpioEntry[] = [{ name: 'init', mode: 0o100755, data: Buffer.from(FIXTURE_INIT) }];
  if (k.buttonModule) {
    entries.push({ name: 'banger', mode: 0o040755 }, { name: 'banger/button.ko', mode: 0o100644, data: await readFile(k.buttonModule) });
  }
  await copyFile(k.initrd, outPath);
  const fh = await open(outPath, 'a');
  try {
    const { size } = await fh.stat();
    // Archives in an initramfs start on a 4-byte boundary; zero padding in between is skipped.
    await fh.write(Buffer.concat([Buffer.alloc((4 - (size % 4)) % 4), cpioNewc(entries)]));
  } finally {
    await fh.close();
  }
}


/**
 * Each VM gets a qcow2 overlay over a small sparse raw base (as /dev/vda) and a read-only raw
 * disk (as /dev/vdb), and user-mode networking on a free port.
 */
export function hostKernelFixture(k: HostKernel): DriverFixture {
  let work = '';
  return {
    async prepare(workDir) {
      work = workDir;
      await buildFixtureInitrd(k, join(work, 'initrd.img'));
      await writeFile(join(work, 'base.raw'), '');
      await truncate(join(work, 'base.raw'), 64 * 1024 * 1024);
      await writeFile(join(work, 'seed.raw'), '');
      await truncate(join(work, 'seed.raw'), 1024 * 1024);
    },
    async spec(vmId, runDir): Promise<LaunchSpec> {
      const overlay = join(work, `${vmId}.qcow2`);
      if (!existsSync(overlay)) await createOverlay(join(work, 'base.raw'), overlay);
      return {
        vmId,
        name: vmId,
        vcpu: 1,
        memoryMiB: 512,
        kernelPath: k.kernel,
        initrdPath: join(work, 'initrd.img'),
        cmdline: 'console=ttyS0 panic=-1',
        disks: [
          { path: overlay, format: 'qcow2', serial: 'root' },
          { path: join(work, 'seed.raw'), format: 'raw', readOnly: true, serial: 'seed' },
        ],
        network: { mode: 'user', sshHostPort: await freeLoopbackPort() },
        runDir,
        consoleLog: join(runDir, 'console.log'),
      };
    },
    bootMarker: /Linux version \d/,
    bootTimeoutMs: 90_000,
    readyMarker: k.buttonModule ? new RegExp(READY_LINE) : undefined,
    shutdownTimeoutMs: 30_000,
  };
}

