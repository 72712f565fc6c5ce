/** Booting a VM: network, per-VM seed disk, hypervisor launch, then readiness over SSH. */
import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { operationFailed } from '../../api/errors.js';
import type { SSHTarget } from '../../api/types.js';
import { parseDuration } from '../../config/duration.js';
import type { VMHandle } from '../../drivers/hypervisor.js';
import { ensureClientKey, generateHostKey, type KeyPair } from '../../drivers/ssh/keys.js';
import { hostAliases, hostKeyAlias, pin } from '../../drivers/ssh/known-hosts.js';
import { waitForSSH } from '../../drivers/ssh/client.js';
import { buildSeedDisk } from '../../guest/seed.js';
import { pidAlive } from '../../system/proc.js';
import type { VMRow } from '../../store/vms.js';
import type { OpContext } from '../op-context.js';
import type { VMServiceDeps } from './deps.js';
import { bootArgs, vmFiles } from './files.js';
import { writeHandles } from './handles.js';

export function clientKeyPath(deps: Pick<VMServiceDeps, 'config' | 'layout'>): string {
  const p = deps.config.ssh_key_path;
  if (!p) return deps.layout.sshKeyPath;
  return p.startsWith('~/') ? join(process.env.HOME ?? '/root', p.slice(2)) : p;
}

/** ssh adds up to 17 characters to a control path while it creates the socket. */
const MAX_CONTROL_PATH = 107 - 17;

export function sshTargetFor(deps: Pick<VMServiceDeps, 'config' | 'layout'>, row: VMRow): SSHTarget {
  const controlPath = join(vmFiles(deps.layout.vmsDir, row.id).runDir, 'ssh.ctl');
  const shared = deps.layout.mode === 'user' && Buffer.byteLength(controlPath) <= MAX_CONTROL_PATH;
  return {
    ...(shared ? { controlPath } : {}),
    vm: row.name,
    host: row.runtime.sshHost ?? '127.0.0.1',
    port: row.runtime.sshPort ?? 22,
    user: 'root',
    keyPath: clientKeyPath(deps),
    knownHostsPath: deps.layout.knownHostsPath,
    hostKeyAlias: hostKeyAlias(row.id),
  };
}

/** The VM's own SSH host key: made once, kept in its directory, pinned before the first boot. */
async function vmHostKey(dir: string): Promise<KeyPair> {
  const priv = join(dir, 'ssh_host_ed25519_key');
  if (existsSync(priv) && existsSync(`${priv}.pub`)) {
    return { privateKey: readFileSync(priv, 'utf8'), publicKey: readFileSync(`${priv}.pub`, 'utf8').trim() };
  }
  const kp = await generateHostKey(`banger-vm`);
  writeFileSync(`${priv}.pub`, kp.publicKey + '\n', { mode: 0o644 });
  writeFileSync(priv, kp.privateKey, { mode: 0o600 });
  return kp;
}

export async function bootVM(deps: VMServiceDeps, row: VMRow, ctx: OpContext): Promise<VMRow> {
  const files = vmFiles(deps.layout.vmsDir, row.id);
  const image = deps.images.byId(row.imageId);
  if (!image) throw operationFailed(`image ${row.imageId} of vm ${row.name} is gone`, `delete the vm with banger vm delete ${row.name}`);
  if (!image.kernelPath) throw operationFailed(`image ${image.name} has no kernel`, `re-register it with --kernel or --kernel-ref`);
  const driver = await deps.driver();
  const caps = driver.capabilities();

  const net = await ctx.stage('network', 'setting up network', () => deps.network.attach(row));
  await ctx.stage('seed', 'writing VM configuration', async () => {
    const hostKey = await vmHostKey(files.dir);
    await pin(deps.layout.knownHostsPath, hostAliases(row), hostKey.publicKey);
    const client = await ensureClientKey(clientKeyPath(deps));
    await buildSeedDisk(files.seedDisk, {
      hostname: row.name,
      authorizedKeys: [client.publicKey],
      hostKey,
      network: net.guest,
      nameservers: net.nameservers,
    });
  });

  const notice = await deps.accelNotice?.();
  if (notice) ctx.log(notice, 'warn');
  if (existsSync(files.consoleLog)) renameSync(files.consoleLog, `${files.consoleLog}.1`);
  mkdirSync(files.runDir, { recursive: true, mode: 0o700 });
  const handle: VMHandle = await ctx.stage('boot', `booting ${caps.name} (${caps.accel})`, () =>
    driver.launch({
      vmId: row.id,
      name: row.name,
      vcpu: row.spec.vcpu,
      memoryMiB: row.spec.memoryMiB,
      kernelPath: image.kernelPath!,
      ...(image.initrdPath ? { initrdPath: image.initrdPath } : {}),
      cmdline: bootArgs({ hostname: row.name }),
      disks: [
        { path: files.rootOverlay, format: 'qcow2', serial: 'root' },
        { path: files.workDisk, format: 'raw', serial: 'work' },
        { path: files.seedDisk, format: 'raw', readOnly: true, serial: 'seed' },
      ],
      network: { mode: 'user', sshHostPort: net.sshPort, hostAddr: net.sshHost },
      runDir: files.runDir,
      consoleLog: files.consoleLog,
    }),
  );
  writeHandles(files.handles, handle);
  const running = deps.repo.update(row.id, {
    state: 'running',
    runtime: { driver: handle.driver, accel: handle.accel, network: 'user', sshHost: net.sshHost, sshPort: net.sshPort, startedAt: new Date().toISOString() },
    lastError: undefined,
  });
  await ctx.stage('ssh', 'waiting for ssh', () => waitReady(deps, running, handle, ctx.signal));
  return running;
}

/** Ready means an SSH handshake that verifies the pinned host key. Stops early if the VM process dies. */
export async function waitReady(deps: VMServiceDeps, row: VMRow, handle: VMHandle, signal: AbortSignal): Promise<void> {
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  let died = false;
  const watcher = setInterval(() => {
    if (!pidAlive(handle.pid)) {
      died = true;
      ac.abort();
    }
  }, 500);
  try {
    await waitForSSH(sshTargetFor(deps, row), { timeoutMs: parseDuration(deps.config.ssh_wait_timeout) ?? 300_000, signal: ac.signal, intervalMs: 200 });
  } catch (err) {
    if (died) throw operationFailed(`vm ${row.name} stopped while booting`, `see what it printed with banger vm logs ${row.name}`);
    throw err;
  } finally {
    clearInterval(watcher);
    signal.removeEventListener('abort', onAbort);
  }
}
