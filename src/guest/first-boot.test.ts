import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUnchecked, which } from '../system/exec.js';
import { FIRST_BOOT_DONE, FIRST_BOOT_UNIT, firstBootBits, firstBootScript } from './first-boot.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'banger-first-boot-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Debian's plan (services/images/sshd-plan.ts). */
const DEBIAN = { commands: [['apt-get', 'update'], ['apt-get', 'install', '-y', '--no-install-recommends', 'openssh-server']] };

/**
 * A guest root and a PATH of host tools plus fakes: apt-get records its argv, the proxy it sees and
 * whether services were held back, and fails as `failures` says (per subcommand, the first N calls);
 * systemctl records its argv and knows ssh.service.
 */
async function sandbox(name: string, failures: Record<string, number>): Promise<{ root: string; bin: string; calls: string }> {
  const root = join(dir, name, 'root');
  const bin = join(dir, name, 'bin');
  const calls = join(dir, name, 'calls');
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(bin, { recursive: true });
  await writeFile(join(root, 'etc/environment'), 'LANG=C.UTF-8\n# >>> banger proxy\nhttp_proxy=http://10.0.2.100:3128\nhttps_proxy=http://10.0.2.100:3128\n# <<< banger proxy\n');
  for (const t of ['sh', 'mkdir', 'dirname', 'date', 'rm', 'chmod', 'printf', 'sleep', 'cat', 'echo']) {
    const p = which(t);
    if (p) await symlink(p, join(bin, t));
  }
  const fails = Object.entries(failures).map(([sub, n]) => `  ${sub}) limit=${n} ;;`).join('\n');
  await writeFile(
    join(bin, 'apt-get'),
    `#!/bin/sh
echo "apt-get $* proxy=$http_proxy policy=$(sh "${root}/usr/sbin/policy-rc.d"; echo $?) frontend=$DEBIAN_FRONTEND" >> "${calls}"
limit=0
case "$1" in
${fails}
esac
count="${calls}.$1"
n=$(cat "$count" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$count"
[ "$n" -gt "$limit" ] || exit 100
`,
    { mode: 0o755 },
  );
  await writeFile(join(bin, 'systemctl'), `#!/bin/sh\necho "systemctl $*" >> "${calls}"\n[ "$1 $2" != "cat sshd.service" ]\n`, { mode: 0o755 });
  return { root, bin, calls };
}

async function runScript(s: { root: string; bin: string }) {
  const script = join(dir, 'script.sh');
  await writeFile(script, firstBootScript(DEBIAN.commands), { mode: 0o755 });
  return runUnchecked(['sh', script], { env: { PATH: s.bin, BANGER_FIRST_BOOT_ROOT: s.root, BANGER_FIRST_BOOT_PAUSE: '0' }, timeoutMs: 30_000 });
}

test('the installer runs the plan through the guest proxy with services held back, marks itself done and starts sshd', async () => {
  const s = await sandbox('ok', { update: 1 });
  const r = await runScript(s);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const calls = (await readFile(s.calls, 'utf8')).trim().split('\n');
  assert.deepEqual(calls, [
    'apt-get update proxy=http://10.0.2.100:3128 policy=101 frontend=noninteractive',
    'apt-get update proxy=http://10.0.2.100:3128 policy=101 frontend=noninteractive',
    'apt-get install -y --no-install-recommends openssh-server proxy=http://10.0.2.100:3128 policy=101 frontend=noninteractive',
    'systemctl daemon-reload',
    'systemctl cat ssh.service',
    'systemctl enable ssh.service',
    'systemctl --no-block start ssh.service',
  ]);
  assert.match(r.stdout, /banger-first-boot: running: apt-get update\nbanger-first-boot: apt-get update exited 100\nbanger-first-boot: trying again in 0s\nbanger-first-boot: running: apt-get update\n/);
  assert.match(r.stdout, /banger-first-boot: done\n$/);
  assert.ok(existsSync(join(s.root, FIRST_BOOT_DONE)), 'marked done');
  assert.ok(!existsSync(join(s.root, 'usr/sbin/policy-rc.d')), 'services may start again afterwards');
});

test('a step that keeps failing ends the installer with a FAILED line, no done mark and services allowed again', async () => {
  const s = await sandbox('fail', { install: 99 });
  const r = await runScript(s);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /banger-first-boot: FAILED: apt-get install -y --no-install-recommends openssh-server exited 100\n$/);
  const calls = (await readFile(s.calls, 'utf8')).trim().split('\n');
  assert.equal(calls.filter((c) => c.startsWith('apt-get install')).length, 4, 'tried four times');
  assert.equal(calls.filter((c) => c.startsWith('apt-get update')).length, 4, 'each time from the start of the plan');
  assert.ok(!calls.some((c) => c.startsWith('systemctl')), 'sshd is not started');
  assert.ok(!existsSync(join(s.root, FIRST_BOOT_DONE)));
  assert.ok(!existsSync(join(s.root, 'usr/sbin/policy-rc.d')));
});

test('the unit runs once (until marked done), before sshd, wanted by multi-user.target', () => {
  assert.match(FIRST_BOOT_UNIT, new RegExp(`ConditionPathExists=!${FIRST_BOOT_DONE}`));
  assert.match(FIRST_BOOT_UNIT, /Before=ssh\.service sshd\.service/);
  assert.match(FIRST_BOOT_UNIT, /StandardOutput=journal\+console/);
  const link = firstBootBits(DEBIAN.commands).find((b) => b.type === 'symlink');
  assert.equal(link?.path, '/etc/systemd/system/multi-user.target.wants/banger-first-boot.service');
});
