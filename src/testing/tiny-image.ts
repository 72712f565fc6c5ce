/** A private BANGER_HOME whose daemon runs the fake driver and has a tiny registered image `tiny` (the default). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkfsFromDir } from '../drivers/ext4/mkfs.js';
import type { FakeKnobs } from '../drivers/fake/options.js';
import { CliHarness } from './cli-harness.js';

/** Writes an 8 MiB ext4 rootfs and a file the kernel checks accept (an x86 setup header) into dir; the fake VMM never runs it. */
export async function writeTinyImageFiles(dir: string): Promise<{ rootfs: string; kernel: string }> {
  const rootfs = join(dir, 'rootfs.ext4');
  const kernel = join(dir, 'vmlinuz');
  await mkfsFromDir(rootfs, undefined, { label: 'tiny', sizeBytes: 8 * 1024 * 1024 });
  const header = Buffer.alloc(0x400);
  header.write('HdrS', 0x202, 'latin1');
  writeFileSync(kernel, header);
  return { rootfs, kernel };
}

/** `opts.env`: more environment for the CLI and the daemon it starts. */
export async function tinyImageHome(knobs: FakeKnobs = {}, opts: { sshWaitTimeout?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliHarness> {
  const h = new CliHarness({ ...opts.env, BANGER_FAKE_DRIVER: JSON.stringify(knobs) });
  writeFileSync(join(h.home, 'config.toml'), `ssh_wait_timeout = "${opts.sshWaitTimeout ?? '30s'}"\ndefault_image_name = "tiny"\nwarm_pool = false\n`);
  const { rootfs, kernel } = await writeTinyImageFiles(h.home);
  const r = await h.run(['image', 'register', '--name', 'tiny', '--rootfs', rootfs, '--kernel', kernel]);
  if (r.code !== 0) throw new Error(`image register failed: ${r.stderr}`);
  return h;
}
