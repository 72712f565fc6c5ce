import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { which } from '../../system/exec.js';
import { findProcesses } from '../../system/proc.js';
import { DEFAULT_QEMU_BIN, parseQemuVersion, probeArgv, probeFingerprint, probeQemu } from './probe.js';
import { DEFAULT_WORK, PAYLOAD_DONE, PAYLOAD_START, buildProbePayload, parsePayloadOutput } from './probe-payload.js';

describe('parseQemuVersion', () => {
  it('reads the version from --version output', () => {
    assert.equal(
      parseQemuVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 Fabrice Bellard'),
      '7.2.22',
    );
    assert.equal(parseQemuVersion('QEMU emulator version 8.2.2 (qemu-8.2.2-1.fc40)'), '8.2.2');
    assert.equal(parseQemuVersion('QEMU emulator version 9.1'), '9.1');
    assert.equal(parseQemuVersion('something else'), undefined);
  });
});

describe('probe payload', () => {
  it('is a multiboot image whose header checksums to zero', () => {
    const p = buildProbePayload();
    const sum = (p.readUInt32LE(0) + p.readUInt32LE(4) + p.readUInt32LE(8)) >>> 0;
    assert.equal(p.readUInt32LE(0), 0x1badb002);
    assert.equal(sum, 0);
    assert.equal(p.readUInt32LE(28), 0x100020);
    assert.ok(p.length < 512);
  });

  it('encodes the work it was asked for', () => {
    const p = buildProbePayload({ pages: 1, steps: 3, iterationsPerStep: 0x01020304 });
    assert.ok(p.includes(Buffer.from([0xb9, 0x04, 0x03, 0x02, 0x01])));
    assert.ok(p.includes(Buffer.from([0xbb, 0x03, 0x00, 0x00, 0x00])));
    assert.throws(() => buildProbePayload({ pages: 0, steps: 1, iterationsPerStep: 1 }), RangeError);
  });

  it('reads progress out of firmware chatter', () => {
    assert.deepEqual(parsePayloadOutput('SeaBIOS...\nBooting from ROM..\n'), { started: false, steps: 0, done: false });
    assert.deepEqual(parsePayloadOutput(`Booting from ROM..\n${PAYLOAD_START}...`), { started: true, steps: 3, done: false });
    assert.deepEqual(parsePayloadOutput(`x${PAYLOAD_START}${'.'.repeat(20)}${PAYLOAD_DONE}`), { started: true, steps: 20, done: true });
  });

  it('builds the trial command line', () => {
    assert.deepEqual(probeArgv('qemu', 'kvm', '/t/p.bin', '/t/d,x.log', DEFAULT_WORK), [
      'qemu', '-machine', 'q35', '-accel', 'kvm', '-cpu', 'host', '-smp', '1', '-m', '64M',
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-kernel', '/t/p.bin',
      '-chardev', 'file,id=dbg,path=/t/d,,x.log',
      '-device', 'isa-debugcon,iobase=0x402,chardev=dbg',
      '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    ]);
  });
});

const skip = which(DEFAULT_QEMU_BIN) ? undefined : `${DEFAULT_QEMU_BIN} not installed`;

describe('probeQemu on this host', { skip }, () => {
  it('reaches a verdict with a reason within its time bound and leaves no guest running', async () => {
    const r = await probeQemu();
    console.log(`probe: ${JSON.stringify(r)}`);
    assert.equal(r.available, true, r.reason);
    assert.ok(r.accel === 'kvm' || r.accel === 'tcg');
    assert.match(r.reason, r.accel === 'kvm' ? /^kvm: probe guest ran/ : /using tcg/);
    assert.match(r.version ?? '', /^\d+\.\d+/);
    const tcg = r.trials.find((t) => t.accel === 'tcg');
    assert.ok(tcg?.ok, 'tcg always works where qemu is installed');
    assert.ok(r.durationMs < 2 * 8000 + 5000, `probe took ${r.durationMs}ms`);
    assert.deepEqual(findProcesses((argv) => argv.some((a) => a.includes('banger-qemu-probe-'))), []);
  });

  it('reports a missing binary with a fix', async () => {
    const r = await probeQemu({ bin: 'qemu-system-x86_64-not-installed' });
    assert.equal(r.available, false);
    assert.match(r.fixHint ?? '', /apt-get install qemu-system-x86/);
  });

  it('leaves kvm out when asked, and fingerprints the host', async () => {
    const r = await probeQemu({ skipKvm: true });
    assert.equal(r.accel, 'tcg');
    assert.match(r.reason, /kvm: not tried; using tcg/);
    const fp = await probeFingerprint();
    assert.equal(fp.qemuVersion, r.version);
    assert.equal(fp.hostKernel, r.hostKernel);
  });
});
