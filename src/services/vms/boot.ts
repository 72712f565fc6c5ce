/**
 * Booting a VM that is in state `starting`: network, per-VM seed disk, hypervisor launch, then
 * readiness. Ready means an SSH handshake that verifies the VM's pinned host key; until then the VM
 * stays `starting`, and the caller moves it to `running` or `error`. This module writes no state.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { operationFailed } from '../../api/errors.js';
import { parseDuration } from '../../config/duration.js';
import type { DiskFormat, HypervisorDriver, LaunchSpec, VMHandle } from '../../drivers/hypervisor.js';
import { ensureClientKey } from '../../drivers/ssh/keys.js';
import { hostAliases, pin } from '../../drivers/ssh/known-hosts.js';
import { waitForSSH, type ExecResult } from '../../drivers/ssh/client.js';
import { bootArgs } from '../../guest/cmdline.js';
import { buildSeedDisk } from '../../guest/seed.js';
import { SEED_SERIAL } from '../../guest/seed-script.js';
import { ROOT_DISK_NAMES, vmFiles, type VMFiles } from '../../model/filenames.js';
import { guestHostname } from '../../model/vm-name.js';
import { pidAlive } from '../../system/proc.js';
import type { VMRow } from '../../store/vms.js';
import type { OpContext } from '../op-context.js';
import type { VMServiceDeps } from './deps.js';
import { writeHandles } from './handles.js';
import { clientKeyPath, sshTargetFor, vmHostKey } from './ssh.js';
import { faultPoint } from '../../system/faults.js';
import { EGRESS_PROXY_ADDR, EGRESS_PROXY_PORT } from '../network/egress-proxy.js';
import type { NetworkAttachment, UserAttachment } from '../network/provider.js';
import type { FirstBootPlan } from '../../model/first-boot.js';
import { InstallerWatch, pendingFirstBoot, refuseUnbootable, withInstallerEgress } from './first-boot.js';

/** The root disk this VM was given at create, whichever driver made it. */
/** The work disk's position in a launch spec's disks (root, work, seed). */
export const WORK_DISK_INDEX = 1;

export function rootDiskOf(files: VMFiles): { path: string; format: DiskFormat } | undefined {
  for (const format of Object.keys(ROOT_DISK_NAMES) as DiskFormat[]) {
    const path = files.rootDisk(format);
    if (existsSync(path)) return { path, format };
  }
  return undefined;
}

/** A launch that loads saved state instead of booting: the machine must be the one that was saved. */
export interface RestoreInput {
  memoryFile: string;
  /** The RAM image saved beside memoryFile, mapped privately (see SnapshotOps.restore). */
  ramFile?: string;
  kernelPath: string;
  initrdPath?: string;
  /** The saved VM's kernel command line (the saved firmware configuration carries it). */
  cmdline: string;
}

/**
 * Launches the VM (or restores it); returns its row with runtime facts recorded (still `starting`) and the handle.
 * `onLaunch` is called once the network and seed are ready, just before the hypervisor is started.
 */
export async function launchVM(
  deps: VMServiceDeps,
  driver: HypervisorDriver,
  row: VMRow,
  ctx: OpContext,
  restore?: RestoreInput,
  onLaunch?: () => void,
): Promise<{ row: VMRow; handle: VMHandle; net: NetworkAttachment; firstBoot?: FirstBootPlan }> {
  const files = vmFiles(deps.layout.vmsDir, row.id);
  const image = deps.images.byId(row.imageId);
  if (!image) throw operationFailed(`image ${row.imageId} of vm ${row.name} is gone`, `delete the vm with banger vm delete ${row.name}`);
  if (!image.kernelPath) throw operationFailed(`image ${image.name} has no kernel`, `re-register it with --kernel or --kernel-ref`);
  refuseUnbootable(image);
  const firstBoot = restore ? undefined : pendingFirstBoot(image, files.firstBootDone);
  const root = rootDiskOf(files);
  if (!root) throw operationFailed(`vm ${row.name} has no root disk in ${files.dir}`, `delete it with banger vm delete ${row.name} and create it again`);
  const caps = driver.capabilities();
  const driverMode = deps.network.driverModeFor?.(row) ?? deps.network.driverMode;
  if (!caps.networkModes.includes(driverMode)) {
    throw operationFailed(`the ${caps.name} driver cannot use ${driverMode === 'tap' ? 'bridge' : 'user'} networking`, 'set network_mode in config.toml (or --network at create) to one the driver supports');
  }

  const net = await ctx.stage('network', 'setting up network', () => deps.network.attach(firstBoot ? withInstallerEgress(row, firstBoot.hosts) : row));
  if (firstBoot) {
    ctx.log(`${row.name}: first boot installs ${firstBoot.packages.join(' ')} with ${firstBoot.manager} (the image has no sshd); egress to ${firstBoot.hosts.join(', ')} is open for it`);
  }
  faultPoint('boot.network');
  await ctx.stage('seed', 'writing VM configuration', async () => {
    const hostKey = await vmHostKey(deps, row);
    await pin(deps.layout.knownHostsPath, hostAliases(row), hostKey.publicKey);
    const client = await ensureClientKey(clientKeyPath(deps));
    await buildSeedDisk(files.seedDisk, {
      hostname: guestHostname(row.name), authorizedKeys: [client.publicKey], hostKey, network: net.guest, nameservers: net.nameservers,
      ...(net.mode === 'user' && net.proxy ? { proxy: net.proxy } : {}),
    });
  });
  faultPoint('boot.seed');

  const notice = await deps.hypervisors.accelNotice(caps.name);
  if (notice) ctx.log(notice, 'warn');
  if (existsSync(files.consoleLog)) renameSync(files.consoleLog, files.previousConsoleLog);
  mkdirSync(files.runDir, { recursive: true, mode: 0o700 });
  const initrdPath = restore ? restore.initrdPath : image.initrdPath;
  const spec: LaunchSpec = {
    vmId: row.id,
    name: row.name,
    vcpu: row.spec.vcpu,
    memoryMiB: row.spec.memoryMiB,
    kernelPath: restore?.kernelPath ?? image.kernelPath,
    ...(initrdPath ? { initrdPath } : {}),
    cmdline: restore?.cmdline ?? bootArgs({ hostname: guestHostname(row.name) }),
    disks: [
      { path: root.path, format: root.format, serial: 'root' },
      { path: files.workDisk, format: 'raw', serial: 'work' },
      { path: files.seedDisk, format: 'raw', readOnly: true, serial: SEED_SERIAL },
    ],
    network: net.mode === 'user' ? { mode: 'user', sshHostPort: net.sshPort, hostAddr: net.sshHost, mac: net.mac, forwards: net.forwards, ...userEgress(net) } : { mode: 'tap', tap: net.tap, mac: net.mac },
    runDir: files.runDir,
    consoleLog: files.consoleLog,
    // A new generation id at every start: a restored guest's kernel sees it change and reseeds.
    vmGenId: randomUUID(),
  };
  const snapshots = driver.snapshots;
  onLaunch?.();
  const handle = restore
    ? await ctx.stage('restore', `restoring saved state with ${caps.name} (${caps.accel})`, () => {
        if (!snapshots) throw operationFailed(`the ${caps.name} driver cannot restore snapshots`);
        return snapshots.restore(spec, restore.memoryFile, { signal: ctx.signal, ...(restore.ramFile !== undefined ? { ramFile: restore.ramFile } : {}) });
      })
    : await ctx.stage('boot', `booting ${caps.name} (${caps.accel})`, () => driver.launch(spec, { signal: ctx.signal }));
  faultPoint('boot.launched');
  writeHandles(files.handles, handle);
  const updated = deps.repo.update(row.id, {
    runtime: {
      driver: handle.driver,
      accel: handle.accel,
      network: net.mode,
      sshHost: net.sshHost,
      sshPort: net.sshPort,
      ...(net.mode === 'tap' ? { ip: net.ip } : {}),
      startedAt: handle.startedAt,
    },
  });
  faultPoint('boot.handles');
  return { row: updated, handle, net, ...(firstBoot ? { firstBoot } : {}) };
}

/** How much longer than ssh_wait_timeout a first boot may take for its installer (it stops at once when the installer fails). */
const FIRST_BOOT_ALLOWANCE_MS = 20 * 60_000;

/**
 * Ready means an SSH handshake that verifies the pinned host key. Stops early if the VM process dies,
 * or when the first-boot installer (followed in `installer`) says it failed.
 */
export async function waitReady(
  deps: VMServiceDeps,
  row: VMRow,
  handle: VMHandle,
  signal: AbortSignal,
  installer?: InstallerWatch,
  opts: { probe?: boolean; command?: readonly string[] } = {},
): Promise<ExecResult> {
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  if (signal.aborted) ac.abort();
  else signal.addEventListener('abort', onAbort, { once: true });
  let died = false;
  const watcher = setInterval(() => {
    installer?.poll();
    if (installer?.failure !== undefined || !pidAlive(handle.pid)) {
      died = installer?.failure === undefined;
      ac.abort();
    }
  }, 250);
  try {
    const timeoutMs = (parseDuration(deps.config.ssh_wait_timeout) ?? 300_000) + (installer ? FIRST_BOOT_ALLOWANCE_MS : 0);
    return await waitForSSH(sshTargetFor(deps, row), {
      timeoutMs,
      signal: ac.signal,
      intervalMs: opts.probe === false ? 100 : 200,
      ...(opts.probe === false ? { probe: false } : {}),
      ...(opts.command ? { command: opts.command } : {}),
    });
  } catch (err) {
    if (installer?.failure !== undefined) {
      throw operationFailed(`the first-boot installer of vm ${row.name} failed (${installer.failure})`, `see its output with banger vm logs ${row.name}; the next start tries again`);
    }
    if (died) throw operationFailed(`vm ${row.name} stopped while booting`, `see what it printed with banger vm logs ${row.name}`);
    throw err;
  } finally {
    clearInterval(watcher);
    signal.removeEventListener('abort', onAbort);
  }
}

/** The driver's egress endpoint of a user-mode VM whose proxy listens. */
function userEgress(net: UserAttachment): { egressEndpoint?: { guestAddr: string; guestPort: number; socket: string } } {
  return net.egressSocket ? { egressEndpoint: { guestAddr: EGRESS_PROXY_ADDR, guestPort: EGRESS_PROXY_PORT, socket: net.egressSocket } } : {};
}
