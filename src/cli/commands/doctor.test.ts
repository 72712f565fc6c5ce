import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { DoctorCheck } from '../../api/types.js';
import { parseOsRelease } from '../../doctor/env.js';
import { installCommand } from '../../doctor/hints.js';
import { tempDir } from '../../doctor/testing.js';
import type { CliIO } from '../io.js';
import { runCli } from '../main.js';

function capture(env: NodeJS.ProcessEnv): CliIO & { out(): string; err(): string } {
  const sink = () => {
    const chunks: string[] = [];
    const w = new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    });
    return { w, text: () => chunks.join('') };
  };
  const o = sink();
  const e = sink();
  return { stdout: o.w, stderr: e.w, stdin: process.stdin, env, out: o.text, err: e.text };
}

function emptyHost(): NodeJS.ProcessEnv {
  const home = tempDir('banger-doctor-cli-');
  const bin = join(home, 'bin');
  return { PATH: bin, BANGER_HOME: home, HOME: home, NO_COLOR: '1' };
}

function hostOsRelease(): Record<string, string> {
  try {
    return parseOsRelease(readFileSync('/etc/os-release', 'utf8'));
  } catch {
    return {};
  }
}

test('banger doctor --json on a host without qemu: exit 1, the qemu row FAILs with its install line', async () => {
  const env = emptyHost();
  const io = capture(env);
  const status = await runCli(['doctor', '--json'], io);
  assert.equal(status, 1, io.err());
  const report = JSON.parse(io.out()) as { checks: DoctorCheck[]; ok: boolean };
  assert.equal(report.ok, false);
  const names = report.checks.map((c) => c.name);
  for (const n of ['architecture', 'kernel', 'kvm-device', 'kvm-usable', 'qemu', 'firecracker', 'e2fsprogs', 'qemu-img', 'iproute2', 'nftables', 'ssh', 'mmdebstrap', 'debian-archive-keyring', 'image-build', 'disk-space', 'state-store', 'config', 'daemon']) {
    assert.ok(names.includes(n), `row ${n}`);
  }
  const qemu = report.checks.find((c) => c.name === 'qemu')!;
  assert.equal(qemu.status, 'FAIL');
  const uid = process.getuid?.() ?? 0;
  assert.equal(qemu.fix, installCommand(['qemu'], { osRelease: hostOsRelease(), uid }));
  if (hostOsRelease().ID === 'debian') assert.match(qemu.fix ?? '', /apt-get install qemu-system-x86 qemu-utils$/);
  for (const c of report.checks) {
    assert.ok(['PASS', 'WARN', 'FAIL'].includes(c.status));
    assert.ok(c.details.length > 0, c.name);
    if (c.status === 'FAIL') assert.ok(c.fix, `${c.name} FAIL says how to fix it`);
  }
  assert.deepEqual(
    report.checks.filter((c) => ['state-store', 'config', 'daemon'].includes(c.name)).map((c) => c.status),
    ['PASS', 'PASS', 'WARN'],
  );
});

test('banger doctor neither starts the daemon nor creates the store', async () => {
  const env = emptyHost();
  const io = capture(env);
  await runCli(['doctor', '--json'], io);
  const home = env.BANGER_HOME!;
  assert.equal(existsSync(join(home, 'state', 'state.db')), false);
  assert.equal(existsSync(join(home, 'run')), false);
  assert.deepEqual(readdirSync(home).sort(), []);
});

test('banger doctor prints aligned rows with fix lines', async () => {
  const env = emptyHost();
  const io = capture(env);
  const status = await runCli(['doctor'], io);
  assert.equal(status, 1);
  const lines = io.out().split('\n');
  const qemu = lines.findIndex((l) => /^FAIL {2}qemu +qemu-system-x86_64 not found/.test(l));
  assert.ok(qemu >= 0, io.out());
  const column = lines[qemu]!.indexOf('qemu-system-x86_64');
  const kernel = lines.find((l) => /^(PASS|WARN) {2}kernel +\S/.test(l))!;
  assert.equal(kernel.search(/\S+$/), column);
  assert.equal(lines[qemu + 1], `${' '.repeat(column)}- fix: ${installCommand(['qemu'], { osRelease: hostOsRelease(), uid: process.getuid?.() ?? 0 })}`);
  assert.match(io.out(), /\n\d+ checks: \d+ passed, \d+ warnings?, \d+ failed/);
});
