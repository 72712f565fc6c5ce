import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planModules } from './modules.js';

/** A host module whose softdep names the crc32c algorithm by its crypto alias (Debian: btrfs, ext4). */
function hostModuleWithCryptoSoftdep(): string | undefined {
  const base = '/lib/modules';
  const versions = existsSync(base) ? readdirSync(base).sort() : [];
  for (const v of versions) {
    for (const rel of ['kernel/fs/ext4/ext4.ko', 'kernel/fs/btrfs/btrfs.ko']) {
      const p = join(base, v, rel);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

test('a module whose soft dependency is "crypto-crc32c" gets crc32c_generic loaded before it', async (t) => {
  const mod = hostModuleWithCryptoSoftdep();
  if (!mod) return t.skip('no ext4.ko or btrfs.ko under /lib/modules');
  const dir = mkdtempSync(join(tmpdir(), 'banger-modules-'));
  try {
    const crc = join(dir, 'crc32c_generic.ko');
    writeFileSync(crc, '');
    const name = mod.endsWith('ext4.ko') ? 'ext4' : 'btrfs';
    const tree = { dir, files: new Map([[name, mod], ['crc32c_generic', crc]]), builtin: new Set<string>(), hasBuiltinList: true };
    const plan = await planModules(tree, [name]);
    assert.ok(plan.order.includes('crc32c_generic'), `order ${plan.order.join(',')} loads crc32c_generic`);
    assert.ok(plan.order.indexOf('crc32c_generic') < plan.order.indexOf(name), `crc32c_generic comes before ${name}: ${plan.order.join(',')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
