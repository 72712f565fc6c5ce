/**
 * The conformance fixture for the fake driver, also used by its own tests: a stand-in kernel file,
 * a real seed disk (BANGERSEED, with a fresh host key and a client key allowed to log in), a sparse
 * raw root per VM, and user-mode networking on a free port, so every fake VM answers real SSH.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { truncate, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { SSHTarget } from '../api/types.js';
import { buildSeedDisk } from '../guest/seed.js';
import { freeLoopbackPort } from '../system/net.js';
import type { DriverFixture } from '../drivers/conformance.case.js';
import type { LaunchSpec } from '../drivers/hypervisor.js';
import { ensureClientKey, generateHostKey, type ClientKey, type KeyPair } from '../drivers/ssh/keys.js';
import { hostAliases, hostKeyAlias, pin } from '../drivers/ssh/known-hosts.js';
import { BOOT_LINE, READY_LINE } from '../drivers/fake/console.js';
import { createRawRootDisk } from '../drivers/fake/root-disk.js';

export interface FakeFixture extends DriverFixture {
  /** Valid after prepare(). */
  keys(): { client: ClientKey; host: KeyPair; knownHosts: string };
  /** How banger's SSH client reaches the guest of a spec made by this fixture; pins the guest's host key. */
  sshTarget(spec: LaunchSpec): Promise<SSHTarget>;
}

export function fakeFixture(): FakeFixture {
  let work = '';
  let client: ClientKey | undefined;
  let host: KeyPair | undefined;
  const keys = () => {
    if (!client || !host) throw new Error('fixture not prepared');
    return { client, host, knownHosts: join(work, 'known_hosts') };
  };
  return {
    async prepare(workDir) {
      work = workDir;
      await writeFile(join(work, 'vmlinuz'), 'not a kernel: the fake vmm only checks that it exists\n');
      client = await ensureClientKey(join(work, 'client', 'id_ed25519'));
      host = await generateHostKey();
      await buildSeedDisk(join(work, 'seed.ext4'), {
        hostname: 'fake',
        authorizedKeys: [client.publicKey],
        hostKey: host,
        network: { mode: 'dhcp' },
        nameservers: [],
      });
      await writeFile(join(work, 'base.raw'), '');
      await truncate(join(work, 'base.raw'), 64 * 1024 * 1024);
    },
    async spec(vmId, runDir): Promise<LaunchSpec> {
      const root = join(work, `${vmId}.img`);
      if (!existsSync(root)) await createRawRootDisk(join(work, 'base.raw'), root);
      return {
        vmId,
        name: vmId,
        vcpu: 1,
        memoryMiB: 512,
        kernelPath: join(work, 'vmlinuz'),
        cmdline: 'console=ttyS0',
        disks: [
          { path: root, format: 'raw', serial: 'root' },
          { path: join(work, 'seed.ext4'), format: 'raw', readOnly: true, serial: 'seed' },
        ],
        network: { mode: 'user', sshHostPort: await freeLoopbackPort() },
        runDir,
        consoleLog: join(runDir, 'console.log'),
      };
    },
    bootMarker: new RegExp(BOOT_LINE),
    bootTimeoutMs: 10_000,
    readyMarker: new RegExp(READY_LINE),
    shutdownTimeoutMs: 5_000,
    keys,
    async sshTarget(spec) {
      if (spec.network.mode !== 'user') throw new Error('the fixture only makes user-mode specs');
      const k = keys();
      await pin(k.knownHosts, hostAliases({ name: spec.name, id: spec.vmId }), k.host.publicKey);
      return {
        vm: spec.name,
        host: spec.network.hostAddr ?? '127.0.0.1',
        port: spec.network.sshHostPort,
        // sshd -i runs as this process's user, who is the only one it can log in.
        user: userInfo().username,
        keyPath: k.client.path,
        knownHostsPath: k.knownHosts,
        hostKeyAlias: hostKeyAlias(spec.vmId),
      };
    },
  };
}
