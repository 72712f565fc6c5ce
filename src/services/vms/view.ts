/**
 * What the API shows of a VM. Reads have no side effects: a VM whose process died is shown stopped
 * here, and the store catches up under the VM's lock (at the next mutating call or reconcile).
 * Problems (missing directory, image, unreadable handle) make it `broken` instead of failing a list.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import type { VMInfo } from '../../api/types.js';
import { vmFiles } from '../../model/filenames.js';
import type { VMState } from '../../model/vm-state.js';
import { pidAlive } from '../../system/proc.js';
import type { VMRow } from '../../store/vms.js';
import type { ImageResolver, VMServiceDeps } from './deps.js';
import { readHandles } from './handles.js';
import { PROCESS_EXITED } from './teardown.js';

/** A row as it really is now; never written back. */
export interface ObservedVM extends Omit<VMRow, 'state'> {
  state: VMState;
  pid?: number;
  problems: string[];
}

export function observe(deps: Pick<VMServiceDeps, 'layout'>, row: VMRow): ObservedVM {
  const files = vmFiles(deps.layout.vmsDir, row.id);
  const out: ObservedVM = { ...row, problems: [] };
  if (row.state === 'starting' || row.state === 'running' || row.state === 'paused' || row.state === 'stopping') {
    let handle;
    try {
      handle = readHandles(files.handles);
    } catch (err) {
      out.problems.push((err as Error).message);
    }
    if (handle && pidAlive(handle.pid)) out.pid = handle.pid;
    else if (row.state !== 'starting' && out.problems.length === 0) {
      out.state = 'stopped';
      out.runtime = { ...row.runtime, stoppedReason: PROCESS_EXITED };
    }
  }
  if (row.state !== 'created' && !existsSync(files.dir)) out.problems.push('its directory is missing');
  return out;
}

export function toInfo(vm: ObservedVM, images: ImageResolver): VMInfo {
  const info: VMInfo = {
    id: vm.id,
    name: vm.name,
    state: vm.state,
    imageId: vm.imageId,
    spec: vm.spec,
    dnsName: `${vm.name}.vm`,
    createdAt: vm.createdAt,
    updatedAt: vm.updatedAt,
  };
  const problems = [...vm.problems];
  if (vm.imageId) {
    try {
      const img = images.byId(vm.imageId);
      if (img) info.imageName = img.name;
      else problems.push(`image ${vm.imageId} is gone`);
    } catch (err) {
      problems.push(`image lookup failed: ${(err as Error).message}`);
    }
  }
  const rt = vm.runtime;
  if (rt.driver) info.driver = rt.driver;
  if (rt.accel) info.accel = rt.accel;
  if (rt.startedAt && vm.state === 'running') info.startedAt = rt.startedAt;
  if (vm.state === 'running' && rt.sshPort) {
    info.sshHost = rt.sshHost ?? '127.0.0.1';
    info.sshPort = rt.sshPort;
    info.ip = rt.ip ?? `${info.sshHost}:${rt.sshPort}`;
  }
  if (vm.state === 'running' && rt.network) info.networkMode = rt.network === 'tap' ? 'bridge' : 'user';
  if (vm.state === 'stopped' && rt.stoppedReason) info.stoppedReason = rt.stoppedReason;
  if (vm.pid !== undefined) info.pid = vm.pid;
  if (vm.lastError) info.lastError = vm.lastError;
  if (vm.workspace) info.workspace = vm.workspace;
  if (problems.length > 0) {
    info.problems = problems;
    info.state = 'broken';
  }
  return info;
}
