/** A private BANGER_HOME whose daemon runs the fake driver and has a tiny registered image `tiny` (the default). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkfsFromDir } from '../drivers/ext4/mkfs.js';
import type { FakeKnobs } from '../drivers/fake/options.js';
import { CliHarness } from './cli-harness.js';

export async function tinyImageHome(knobs: FakeKnobs = {}): Promise<CliHarness> {
  const h = new CliHarness({ BANGER_FAKE_DRIVER: JSON.stringify(knobs) });
  writeFileSync(join(h.home, 'config.toml'), 'ssh_wait_timeout = "30s"\ndefault_image_name = "tiny"\n');
  await mkfsFromDir(join(h.home, 'rootfs.ext4'), undefined, { label: 'tiny', sizeBytes: 8 * 1024 * 1024 });
  const kernel = Buffer.alloc(0x400);
  kernel.write('HdrS', 0x202, 'latin1');
  writeFileSync(join(h.home, 'vmlinuz'), kernel);
  const r = await h.run(['image', 'register', '--name', 'tiny', '--rootfs', join(h.home, 'rootfs.ext4'), '--kernel', join(h.home, 'vmlinuz')]);
  if (r.code !== 0) throw new Error(`image register failed: ${r.stderr}`);
  return h;
}
