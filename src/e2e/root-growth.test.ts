/**
 * One real boot of the shared debian-bookworm image on an 8 GiB root overlay, driven directly through
 * the QEMU driver (no daemon): the guest's banger-growroot unit must have grown the ~0.8 GiB rootfs to
 * the disk by the time SSH answers, so writing 1 GiB succeeds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { QemuDriver } from '../drivers/qemu/driver.js';
import { createOverlay } from '../drivers/qemu/overlay.js';
import type { VMHandle } from '../drivers/hypervisor.js';
import { exec, makeTarget, waitForSSH } from '../drivers/ssh/client.js';
import { ensureClientKey, generateHostKey } from '../drivers/ssh/keys.js';
import { hostAliases, pin } from '../drivers/ssh/known-hosts.js';
import { buildSeedDisk } from '../guest/seed.js';
import { makeWorkDisk } from '../services/vms/disks.js';
import { bootArgs } from '../services/vms/files.js';
import { freeLoopbackPort } from '../system/net.js';
import { which } from '../system/exec.js';
import type { SSHTarget } from '../api/types.js';
import { sharedImage, sharedImageSkipReason } from '../testing/shared-image.js';
import { parseRootDf, rootGrowthProblem, ROOT_DF_COMMAND, ROOT_WRITE_1G_COMMAND } from '../testing/root-growth.js';

const GiB = 2 ** 30;
const ROOT_BYTES = 8 * GiB;
const VM = { id: 'growroot-test', name: 'growroot' };

function skipReason(): string | undefined {
  for (const tool of ['qemu-system-x86_64', 'qemu-img', 'ssh', 'ssh-keygen']) if (!which(tool)) return `${tool} is not installed`;
  return sharedImageSkipReason();
}

describe('root filesystem growth in a real guest', { skip: skipReason(), timeout: 30 * 60_000 }, () => {
  let work = '';
  let target: SSHTarget;
  const driver = new QemuDriver();
  let handle: VMHandle | undefined;

  before(async () => {
    const img = await sharedImage();
    // Short: the QMP socket path under it must fit in 107 bytes.
    work = await mkdtemp('/tmp/bgr-');
    const rootDisk = join(work, 'root.qcow2');
    await createOverlay(img.rootfsPath, rootDisk, { sizeBytes: ROOT_BYTES });
    await makeWorkDisk(join(work, 'work.ext4'), img.workSeedPath, 256 * 2 ** 20);
    const client = await ensureClientKey(join(work, 'id_ed25519'));
    const hostKey = await generateHostKey('banger-growroot-test');
    await pin(join(work, 'known_hosts'), hostAliases(VM), hostKey.publicKey);
    await buildSeedDisk(join(work, 'seed.ext4'), {
      hostname: VM.name,
      authorizedKeys: [client.publicKey],
      hostKey,
      network: { mode: 'dhcp' },
      nameservers: ['10.0.2.3'],
    });
    const port = await freeLoopbackPort();
    handle = await driver.launch({
      vmId: VM.id,
      name: VM.name,
      vcpu: 2,
      memoryMiB: 1024,
      kernelPath: img.kernelPath,
      initrdPath: img.initrdPath,
      cmdline: bootArgs({ hostname: VM.name }),
      disks: [
        { path: rootDisk, format: 'qcow2', serial: 'root' },
        { path: join(work, 'work.ext4'), format: 'raw', serial: 'work' },
        { path: join(work, 'seed.ext4'), format: 'raw', readOnly: true, serial: 'seed' },
      ],
      network: { mode: 'user', sshHostPort: port },
      runDir: join(work, 'run'),
      consoleLog: join(work, 'console.log'),
    });
    target = makeTarget({ sshKeyPath: client.path, knownHostsPath: join(work, 'known_hosts') }, VM, { host: '127.0.0.1', port });
    await waitForSSH(target, { timeoutMs: 300_000, intervalMs: 200 });
  });

  after(async () => {
    if (handle) await driver.kill(handle).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  const guest = async (argv: readonly string[]) => {
    const r = await exec(target, argv, { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  it('the root filesystem fills the 8 GiB disk as soon as SSH answers', async (t) => {
    const df = parseRootDf(await guest(ROOT_DF_COMMAND));
    t.diagnostic(`df /: ${df.sizeBytes} bytes, ${df.availBytes} free`);
    assert.equal(rootGrowthProblem(df, ROOT_BYTES), undefined);
    assert.ok(df.availBytes > 6 * GiB, `${df.availBytes} bytes free`);
  });

  it('1 GiB can be written to the root filesystem', async () => {
    await guest(ROOT_WRITE_1G_COMMAND);
  });

  it('the unit succeeded and said what it did', async (t) => {
    assert.equal((await guest(['systemctl', 'show', '-p', 'Result', '--value', 'banger-growroot.service'])).trim(), 'success');
    const said = await guest(['journalctl', '-b', '-o', 'cat', '-u', 'banger-growroot.service']);
    assert.match(said, /banger-growroot: \/ on \/dev\/vda: The filesystem on \/dev\/vda is now \d+ \(4k\) blocks long/);
    const blame = await guest(['sh', '-c', 'systemd-analyze blame | grep -E "banger-(growroot|seed)" || true']);
    t.diagnostic(`systemd-analyze blame: ${blame.trim().replace(/\s*\n\s*/g, '; ')}`);
  });
});
