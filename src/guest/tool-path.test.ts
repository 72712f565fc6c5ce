import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, which } from '../system/exec.js';
import { generateHostKey } from '../drivers/ssh/keys.js';
import { GUEST_PATH, MISE_PROFILE, MISE_SHIMS } from './tool-path.js';
import { HOST_KEY_PATH, SSHD_DROPIN } from './sshd.js';

test("a login shell's profile puts mise's shims first on PATH, once", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'banger-profile-'));
  try {
    writeFileSync(join(dir, 'mise.sh'), MISE_PROFILE);
    const r = await run(['sh', '-c', '. "$1"; . "$1"; echo "$PATH"', 'sh', join(dir, 'mise.sh')], { env: { PATH: '/usr/bin:/bin', HOME: '/home/x' } });
    assert.equal(r.stdout.trim(), '/home/x/.local/share/mise/shims:/usr/bin:/bin');
    const custom = await run(['sh', '-c', '. "$1"; echo "$PATH"', 'sh', join(dir, 'mise.sh')], { env: { PATH: '/bin', HOME: '/root', MISE_DATA_DIR: '/opt/mise' } });
    assert.equal(custom.stdout.trim(), '/opt/mise/shims:/bin');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sshd takes banger's drop-in and sets the shims-first PATH for every session", { skip: which('sshd') ? false : 'sshd is not installed' }, async () => {
  assert.ok(GUEST_PATH.startsWith(`${MISE_SHIMS}:`));
  const dir = mkdtempSync(join(tmpdir(), 'banger-sshd-dropin-'));
  try {
    const key = await generateHostKey();
    writeFileSync(join(dir, 'host_key'), key.privateKey, { mode: 0o600 });
    writeFileSync(join(dir, 'sshd_config'), SSHD_DROPIN.replace(HOST_KEY_PATH, join(dir, 'host_key')));
    const r = await run([which('sshd')!, '-T', '-f', join(dir, 'sshd_config')]);
    assert.match(r.stdout, new RegExp(`^setenv PATH=${GUEST_PATH.replace(/[.]/g, '\\.')}$`, 'm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
