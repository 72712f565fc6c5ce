/**
 * vmlinux extraction on the Debian cloud kernel the golden image carries (linux-image-cloud-amd64,
 * installed in /boot by scripts/install-deps.sh --test): the extracted file is checked by binutils'
 * readelf, independently of banger's own ELF reader, and must be what Firecracker's loader takes.
 * Then the kernel checks a user meets: a kernel without virtio-mmio is refused with a clear error.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BangerError } from '../../api/errors.js';
import { run, which } from '../../system/exec.js';
import { installStandin, standinSpec, tinyVmlinux } from '../../testing/firecracker/fixture.js';
import { FirecrackerDriver } from './driver.js';
import { assertKernelFits, bzImagePayload, checkVmlinux, ensureVmlinux, hasVirtioMmio, kernelFitness, type VmlinuxResult } from './vmlinux.js';

const boot = '/boot';
const release = (await readdir(boot).catch(() => [] as string[]))
  .filter((n) => /^vmlinuz-.*-cloud-amd64$/.test(n))
  .sort()
  .pop()
  ?.slice('vmlinuz-'.length);
const noKernel = release ? undefined : 'the Debian cloud kernel (linux-image-cloud-amd64) was missing from /boot: run scripts/install-deps.sh --test';
const noReadelf = which('readelf') ? undefined : 'readelf (binutils) was missing: run scripts/install-deps.sh --test';

interface Readelf {
  className: string;
  machine: string;
  type: string;
  entry: bigint;
  loads: { offset: bigint; vaddr: bigint; paddr: bigint; filesz: bigint; memsz: bigint }[];
}

async function readelf(path: string): Promise<Readelf> {
  const { stdout } = await run(['readelf', '-h', '-l', '-W', path], { timeoutMs: 60_000 });
  const field = (name: string) => new RegExp(`^\\s*${name}:\\s*(.+)$`, 'm').exec(stdout)?.[1]?.trim() ?? '';
  const loads = [...stdout.matchAll(/^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)/gm)].map((m) => ({
    offset: BigInt(m[1]!),
    vaddr: BigInt(m[2]!),
    paddr: BigInt(m[3]!),
    filesz: BigInt(m[4]!),
    memsz: BigInt(m[5]!),
  }));
  return { className: field('Class'), machine: field('Machine'), type: field('Type'), entry: BigInt(field('Entry point address')), loads };
}

const isBadRequest = (text: RegExp) => (err: unknown) => {
  assert.ok(err instanceof BangerError, String(err));
  assert.equal(err.code, 'bad_request', err.message);
  assert.match(err.message, text);
  assert.ok(err.hint, 'the error carries a hint');
  return true;
};

describe('vmlinux from the Debian cloud kernel', { skip: noKernel ?? noReadelf }, () => {
  let work = '';
  let extracted: VmlinuxResult;
  const kernel = join(boot, `vmlinuz-${release}`);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'banger-vmlinux-'));
    extracted = await ensureVmlinux(kernel, join(work, 'vmlinux'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('is extracted from the bzImage payload it names', async () => {
    const payload = bzImagePayload(await readFile(kernel));
    assert.ok(payload && payload.length > 0);
    assert.equal(extracted.source, payload.compression);
    assert.equal(extracted.path, join(work, 'vmlinux'));
  });

  it('is an ELF64 x86-64 executable by readelf, with the entry point and PT_LOAD headers banger read', async () => {
    const r = await readelf(extracted.path);
    assert.equal(r.className, 'ELF64');
    assert.match(r.machine, /X86-64/);
    assert.match(r.type, /^EXEC/);
    assert.equal(r.entry, extracted.elf.entry);
    assert.deepEqual(
      r.loads,
      extracted.elf.loads.map((s) => ({ offset: BigInt(s.offset), vaddr: s.vaddr, paddr: s.paddr, filesz: s.filesz, memsz: s.memsz })),
    );
  });

  it('loads where Firecracker loads a kernel: every segment above 1 MiB, the entry inside one, the data in the file', async () => {
    const r = await readelf(extracted.path);
    const size = BigInt((await readFile(extracted.path)).length);
    assert.ok(r.loads.length > 0);
    for (const s of r.loads) {
      assert.ok(s.paddr >= 0x100000n, `segment at 0x${s.paddr.toString(16)}`);
      assert.ok(s.offset + s.filesz <= size);
      assert.ok(s.memsz >= s.filesz);
    }
    assert.ok(r.loads.some((s) => r.entry >= s.paddr && r.entry < s.paddr + s.memsz), 'the entry point is in a loaded segment');
  });

  it('an ELF vmlinux is used as it is, not copied', async () => {
    const again = await ensureVmlinux(extracted.path, join(work, 'unused'));
    assert.equal(again.source, 'elf');
    assert.equal(again.path, extracted.path);
    assert.equal(again.elf.entry, extracted.elf.entry);
  });

  it('its virtio-mmio is a module (as its config says), so without an initrd the kernel is refused', async () => {
    const config = await readFile(join(boot, `config-${release}`), 'utf8');
    assert.match(config, /^CONFIG_VIRTIO_MMIO=m$/m);
    assert.equal(extracted.virtioMmioBuiltIn, false);
    assert.deepEqual(kernelFitness(config).missing, []);
    assert.throws(() => assertKernelFits(config, { what: 'kernel k', hasInitrd: false }), isBadRequest(/virtio-mmio .*as modules and has no initrd/));
    assert.doesNotThrow(() => assertKernelFits(config, { what: 'kernel k', hasInitrd: true }));
  });

  it('a config without virtio-mmio is refused naming the option; one without ACPI or command-line devices too', async () => {
    const config = await readFile(join(boot, `config-${release}`), 'utf8');
    const without = config.replace(/^CONFIG_VIRTIO_MMIO=m$/m, '# CONFIG_VIRTIO_MMIO is not set');
    assert.throws(() => assertKernelFits(without, { what: 'kernel k', hasInitrd: true }), isBadRequest(/virtio-mmio \(every Firecracker device\): CONFIG_VIRTIO_MMIO is not set/));
    const noAcpi = config.replace(/^CONFIG_ACPI=y$/m, '# CONFIG_ACPI is not set');
    assert.throws(() => assertKernelFits(noAcpi, { what: 'kernel k', hasInitrd: true }), isBadRequest(/neither CONFIG_ACPI nor CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES/));
  });

  it('launch: the kernel without its config or an initrd is refused before firecracker starts', async () => {
    const dir = join(work, 'store');
    await mkdir(dir, { recursive: true });
    await copyFile(kernel, join(dir, 'vmlinuz'));
    const bin = await installStandin(join(work, 'bin'));
    const spec = await standinSpec(work, 'nommio-a', join(work, 'nommio-a', 'run'));
    const d = new FirecrackerDriver({ bin });
    await assert.rejects(d.launch({ ...spec, kernelPath: join(dir, 'vmlinuz') }), isBadRequest(/has no virtio-mmio driver built in and no initrd/));
    // With its config beside it (as /boot has it), the message names the modules it would need loaded.
    await copyFile(join(boot, `config-${release}`), join(dir, 'config'));
    await assert.rejects(d.launch({ ...spec, kernelPath: join(dir, 'vmlinuz') }), isBadRequest(/builds virtio-mmio .* as modules and has no initrd/));
  });
});

describe('vmlinux checks without a real kernel', () => {
  it('a kernel image that is not x86-64, or loads below 1 MiB, is refused saying why', () => {
    const elf = tinyVmlinux();
    assert.equal(hasVirtioMmio(elf), true);
    const arm = Buffer.from(elf);
    arm.writeUInt16LE(183, 0x12);
    assert.throws(() => checkVmlinux(arm, 'kernel a'), isBadRequest(/machine 183 is not x86-64/));
    const low = Buffer.from(elf);
    low.writeBigUInt64LE(0x1000n, 64 + 0x18);
    assert.throws(() => checkVmlinux(low, 'kernel b'), isBadRequest(/below 1 MiB/));
    assert.throws(() => checkVmlinux(Buffer.from('MZ not an elf'), 'kernel c'), isBadRequest(/not an ELF file/));
  });

  it('a kernel whose image lacks the virtio-mmio driver and has no initrd is refused at launch', async () => {
    const work = await mkdtemp(join(tmpdir(), 'banger-vmlinux-'));
    try {
      const plain = tinyVmlinux();
      const at = plain.indexOf('virtio-mmio', 0, 'latin1');
      plain.write('xxxxxx-xxxx', at, 'latin1');
      await writeFile(join(work, 'vmlinux'), plain);
      const bin = await installStandin(join(work, 'bin'));
      const spec = await standinSpec(work, 'plain-a', join(work, 'plain-a', 'run'));
      await assert.rejects(new FirecrackerDriver({ bin }).launch(spec), isBadRequest(/has no virtio-mmio driver built in/));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
