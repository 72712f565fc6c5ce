/**
 * Ending a VM's process and undoing what its run made (handle, run directory, network attachment),
 * and settling a VM whose process went away on its own. The caller holds the VM's lock.
 *
 * @module
 */
import { rmSync } from 'node:fs';
import type { VMHandle } from '../../drivers/hypervisor.js';
import { vmFiles } from '../../model/filenames.js';
import { isActive } from '../../model/vm-state.js';
import { pidAlive, waitForExit } from '../../system/proc.js';
import type { VMRow } from '../../store/vms.js';
import type { VMServiceDeps } from './deps.js';
import { readHandles, removeHandles } from './handles.js';
import type { VMLifecycle } from './lifecycle.js';

export const PROCESS_EXITED = 'the VM process exited (guest powered off or crashed)';

export class Teardown {
  constructor(
    private readonly deps: VMServiceDeps,
    private readonly lifecycle: VMLifecycle,
    private readonly onChange: () => void,
  ) {}

  /** The VM's recorded hypervisor handle; undefined when there is none or it cannot be read. */
  handleOf(id: string): VMHandle | undefined {
    try {
      return readHandles(vmFiles(this.deps.layout.vmsDir, id).handles);
    } catch {
      return undefined;
    }
  }

  /** Ends the process (gracefully within timeoutMs, or at once when 0) and removes what the run made. Writes no state. */
  async end(id: string, timeoutMs: number): Promise<void> {
    const files = vmFiles(this.deps.layout.vmsDir, id);
    const handle = this.handleOf(id);
    if (handle) {
      const driver = this.deps.hypervisors.forHandle(handle);
      if (timeoutMs > 0) await driver.shutdown(handle, { timeoutMs });
      else {
        await driver.kill(handle, 'SIGKILL');
        await waitForExit(handle.pid, 10_000);
      }
    }
    removeHandles(files.handles);
    rmSync(files.runDir, { recursive: true, force: true });
    const row = this.deps.repo.get(id);
    if (row) await this.deps.network.detach(row);
    this.onChange();
  }

  /** A VM marked active whose process is gone is moved to stopped, with the reason. Returns the current row. */
  async settle(row: VMRow): Promise<VMRow> {
    if (!isActive(row.state)) return row;
    const handle = this.handleOf(row.id);
    if (handle && pidAlive(handle.pid)) return row;
    await this.end(row.id, 0);
    return this.lifecycle.transition(row.id, 'stopped', { reason: row.state === 'starting' ? 'its process exited while it was starting' : PROCESS_EXITED });
  }
}
