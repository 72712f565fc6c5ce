/** At daemon start: re-adopt live VMs, mark dead ones stopped, and remove what nothing owns. */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readCmdline, pidAlive } from '../../system/proc.js';
import type { VMServiceDeps } from './deps.js';
import { vmFiles } from './files.js';
import { readHandles, removeHandles } from './handles.js';

export interface ReconcileReport {
  adopted: string[];
  stopped: string[];
  removedDirs: string[];
  killedProcesses: number[];
}

const ACTIVE = new Set(['starting', 'running', 'stopping']);

export async function reconcile(deps: VMServiceDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { adopted: [], stopped: [], removedDirs: [], killedProcesses: [] };
  const rows = deps.repo.list();
  const known = new Set(rows.map((r) => r.id));
  const needsDriver = rows.some((r) => ACTIVE.has(r.state));
  const driver = needsDriver ? await deps.driver().catch(() => undefined) : undefined;
  for (const row of rows) {
    if (!ACTIVE.has(row.state)) continue;
    const files = vmFiles(deps.layout.vmsDir, row.id);
    let reason = 'its process was gone when the daemon started';
    try {
      const handle = readHandles(files.handles);
      if (handle && driver && (await driver.adopt(handle))) {
        if (row.state !== 'running') deps.repo.update(row.id, { state: 'running' });
        report.adopted.push(row.name);
        continue;
      }
      if (handle && pidAlive(handle.pid) && !driver) reason = 'no hypervisor driver to adopt it with';
    } catch (err) {
      reason = `its handles could not be read: ${(err as Error).message}`;
    }
    removeHandles(files.handles);
    rmSync(files.runDir, { recursive: true, force: true });
    deps.repo.update(row.id, { state: 'stopped', runtime: { ...row.runtime, stoppedReason: reason } });
    report.stopped.push(row.name);
  }
  let entries: string[] = [];
  try {
    entries = readdirSync(deps.layout.vmsDir);
  } catch {
    entries = [];
  }
  for (const id of entries) {
    if (known.has(id)) continue;
    rmSync(join(deps.layout.vmsDir, id), { recursive: true, force: true });
    report.removedDirs.push(id);
  }
  const active = new Set(deps.repo.list().filter((r) => r.state === 'running').map((r) => r.id));
  for (const { pid, vmId } of hypervisorProcesses(deps.layout.vmsDir)) {
    if (active.has(vmId)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      report.killedProcesses.push(pid);
    } catch {
      /* already gone */
    }
  }
  return report;
}

/** Hypervisor processes started by this install: their command line names a VM directory under vmsDir. */
export function hypervisorProcesses(vmsDir: string): { pid: number; vmId: string }[] {
  const out: { pid: number; vmId: string }[] = [];
  const prefix = vmsDir.endsWith('/') ? vmsDir : `${vmsDir}/`;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const p of pids) {
    const pid = Number(p);
    if (pid <= 1 || pid === process.pid) continue;
    const argv = readCmdline(pid);
    if (!argv || argv.length === 0) continue;
    const nameIdx = argv.indexOf('-name');
    const name = nameIdx >= 0 ? argv[nameIdx + 1] : undefined;
    if (!name?.startsWith('banger-')) continue;
    const hit = argv.find((a) => a.includes(prefix));
    if (!hit) continue;
    const vmId = hit.slice(hit.indexOf(prefix) + prefix.length).split('/')[0];
    if (vmId) out.push({ pid, vmId });
  }
  return out;
}
