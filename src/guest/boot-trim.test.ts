import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../system/exec.js';
import { BOOT_TRIM_PATH, BOOT_TRIM_SCRIPT, TRIM_EMULATED_BLACKLIST, TRIM_MASKED, TRIM_MODPROBE_CONF, TRIM_UNITS } from './boot-trim.js';
import { SEED_KEYS_DIR, SEED_SCRIPT_PATH } from './seed-script.js';
import { guestBits } from './guest-bits.js';

/** QEMU under TCG lists no kvm-clock; a KVM guest does. */
const EMULATED = 'hpet acpi_pm';
const UNDER_KVM = 'kvm-clock tsc hpet acpi_pm';

/** Runs the generator into a temporary directory; its modprobe configuration goes to `modprobe.d/` there, never to the host's /run. */
async function generate(cmdline: string, clocksources = UNDER_KVM): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'banger-trim-'));
  const script = join(dir, 'gen');
  await writeFile(script, BOOT_TRIM_SCRIPT, { mode: 0o755 });
  // systemd calls generators with the normal, early and late directories.
  await run([script, join(dir, 'normal'), join(dir, 'early'), join(dir, 'late')], {
    env: { ...process.env, BANGER_TRIM_CMDLINE: cmdline, BANGER_TRIM_CLOCKSOURCES: clocksources, BANGER_TRIM_MODPROBE: join(dir, 'modprobe.d', 'banger-boot-trim.conf') },
  });
  return dir;
}

/** The blacklist as kmod reads it from the generated configuration (modprobe -C DIR -c), or undefined when none was written. */
async function blacklisted(dir: string): Promise<string[] | undefined> {
  const conf = join(dir, 'modprobe.d');
  if (!(await readdir(conf).catch(() => undefined))) return undefined;
  const r = await run(['modprobe', '-C', conf, '-c']);
  return r.stdout.split('\n').filter((l) => l.startsWith('blacklist ')).map((l) => l.slice('blacklist '.length));
}

test('every image carries the boot-trim generator, executable', () => {
  const bit = guestBits().find((b) => b.path === BOOT_TRIM_PATH);
  assert.ok(bit && bit.type === 'file' && bit.mode === 0o755);
  assert.match(BOOT_TRIM_PATH, /^\/etc\/systemd\/system-generators\//);
});

test('a trimmed boot masks the sandbox-irrelevant units and starts docker after sshd', async () => {
  const dir = await generate('console=ttyS0 root=/dev/vda rw');
  try {
    const early = join(dir, 'early');
    // systemd treats an empty unit file as masked, as it does a symlink to /dev/null.
    const masked = [];
    for (const n of await readdir(early)) {
      const st = await lstat(join(early, n));
      if (st.isFile() && st.size === 0) masked.push(n);
    }
    assert.deepEqual(masked.sort(), [...TRIM_MASKED].sort());
    for (const unit of ['apt-daily.timer', 'systemd-hwdb-update.service', 'getty@tty1.service', 'systemd-binfmt.service']) assert.ok(masked.includes(unit), `${unit} masked`);
    for (const kept of ['ssh.service', 'systemd-journald.service', 'systemd-networkd.service', 'docker.service', 'systemd-udevd.service', 'serial-getty@ttyS0.service']) {
      assert.ok(!(TRIM_MASKED as readonly string[]).includes(kept), `${kept} is not masked`);
    }
    assert.match(await readFile(join(early, 'docker.service.d/banger-boot-trim.conf'), 'utf8'), /^After=ssh\.service$/m);
    assert.match(await readFile(join(early, 'containerd.service.d/banger-boot-trim.conf'), 'utf8'), /^After=ssh\.service$/m);
    assert.match(await readFile(join(early, 'ssh.service.d/banger-boot-trim.conf'), 'utf8'), /^\[Service\]\nExecStartPre=$/m);
    assert.equal(await readFile(join(early, 'systemd-fsck@.service.d/banger-boot-trim.conf'), 'utf8'), '[Unit]\nConditionKernelCommandLine=fsck.mode=force\n', 'the work disk is checked only when asked');
    assert.deepEqual(await readdir(join(dir, 'normal')).catch(() => []), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a trimmed boot does not hold a login until the user\'s systemd --user manager is ready', async () => {
  const dir = await generate('console=ttyS0 root=/dev/vda rw');
  try {
    // A template drop-in: it applies to user@0.service (root, banger's logins) and every other user.
    const conf = await readFile(join(dir, 'early', 'user@.service.d/banger-boot-trim.conf'), 'utf8');
    assert.equal(conf, '[Service]\nType=simple\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a trimmed boot applies the seed without waiting for the work disk; only the authorized keys wait for /root', async () => {
  const dir = await generate('console=ttyS0 root=/dev/vda rw');
  try {
    const early = join(dir, 'early');
    const seed = await readFile(join(early, 'banger-seed.service'), 'utf8');
    assert.doesNotMatch(seed, /RequiresMountsFor/, 'the seed does not wait for /root');
    assert.match(seed, /^Environment=BANGER_SEED_KEYS=later BANGER_SEED_NET=now$/m);
    assert.match(seed, /^Before=network-pre\.target systemd-networkd\.service ssh\.service/m);
    const keys = await readFile(join(early, 'banger-seed-keys.service'), 'utf8');
    assert.match(keys, /^RequiresMountsFor=\/root$/m);
    assert.match(keys, /^After=banger-seed\.service$/m);
    assert.match(keys, /^Before=ssh\.service/m);
    assert.match(keys, new RegExp(`^ExecStart=${SEED_SCRIPT_PATH} keys$`, 'm'));
    assert.equal(await readFile(join(early, 'sysinit.target.d/banger-boot-trim.conf'), 'utf8'), '[Unit]\nWants=banger-seed-keys.service\n');
    assert.equal(keys.match(/^Description=.*$/m)?.[0], "Description=Install banger's authorized keys for root", 'quoting survives the shell');
    assert.deepEqual(Object.keys(TRIM_UNITS).sort(), ['banger-seed-keys.service', 'banger-seed.service']);
    assert.ok(SEED_KEYS_DIR.startsWith('/run/'), 'the keys wait on tmpfs, never on the image');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a trimmed boot under emulation keeps udev from loading the modules for the CPU\'s virtualization and SIMD crypto features', async () => {
  const dir = await generate('console=ttyS0 root=/dev/vda rw', EMULATED);
  try {
    const list = await blacklisted(dir);
    const expected: string[] = [...TRIM_EMULATED_BLACKLIST];
    assert.deepEqual(list, expected, 'kmod reads every module of the list as blacklisted');
    for (const m of ['kvm_amd', 'kvm_intel', 'aesni_intel', 'sha256_ssse3']) assert.ok(list?.includes(m), `${m} blacklisted`);
    for (const kept of ['virtio_net', 'virtio_blk', 'vsock', 'loop', 'evdev', 'button']) assert.ok(!list?.includes(kept), `${kept} still loads`);
    assert.ok(await lstat(join(dir, 'early', 'ssh.service.d')), 'the drop-in directories were made in the same mkdir');
    assert.match(TRIM_MODPROBE_CONF, /^\/run\/modprobe\.d\/[^/]+\.conf$/, 'in the tmpfs kmod reads, never in the image');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('under KVM (kvm-clock), with unreadable clocksources, or untrimmed, every module loads as the image has it', async () => {
  for (const [cmdline, clocks] of [
    ['console=ttyS0 root=/dev/vda rw', UNDER_KVM],
    ['console=ttyS0 root=/dev/vda rw', ''],
    ['console=ttyS0 banger.trim=off root=/dev/vda', EMULATED],
  ] as const) {
    // A blank value stands for a clocksource file that could not be read (an empty one would make the script read the host's).
    const dir = await generate(cmdline, clocks === '' ? ' ' : clocks);
    try {
      assert.equal(await blacklisted(dir), undefined, `no blacklist for ${JSON.stringify({ cmdline, clocks })}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test('banger.trim=off masks nothing and puts the seed back before sysinit.target', async () => {
  const dir = await generate('console=ttyS0 banger.trim=off root=/dev/vda');
  try {
    const early = join(dir, 'early');
    assert.deepEqual((await readdir(early)).sort(), ['banger-seed.service.d', 'multi-user.target.d'], 'no masks and no drop-ins: user@.service stays Type=notify');
    assert.match(await readFile(join(early, 'banger-seed.service.d/banger-boot-trim.conf'), 'utf8'), /^Before=sysinit\.target$/m);
    assert.match(
      await readFile(join(early, 'multi-user.target.d/banger-boot-trim.conf'), 'utf8'),
      /^Wants=containerd\.service docker\.service$/m,
      'docker starts at boot, as the image had it before banger took it off the boot',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
