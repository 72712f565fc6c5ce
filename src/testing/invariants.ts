/**
 * What must hold in a BANGER_HOME whenever no operation is running, whatever happened before (a
 * crash at any step, a failed operation, many concurrent ones): every VM row in a stored state that
 * matches reality, no stray VM process, no staging leftovers, no half-published artifact, no run
 * files or forwarded ports of a VM that is not running. Returns the violations (empty when sound).
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import Database from 'better-sqlite3';
import type { Layout } from '../config/paths.js';
import { VMM_NAME_PREFIX } from '../drivers/fake/argv.js';
import { vmFiles } from '../model/filenames.js';
import { isActive, STORED_STATES, type StoredVMState } from '../model/vm-state.js';
import { listProcesses, pidAlive } from '../system/proc.js';
import { readHandles } from '../services/vms/handles.js';

interface Row {
  id: string;
  name: string;
  state: string;
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The VM id a VMM process (fake driver or QEMU) under this layout runs, or undefined when it is none. */
function vmmOf(argv: readonly string[], vmsDir: string): string | undefined {
  const fake = argv.find((a) => a.startsWith(`--name=${VMM_NAME_PREFIX}`));
  if (fake) return argv.some((a) => a.includes(vmsDir)) ? fake.slice(`--name=${VMM_NAME_PREFIX}`.length) : undefined;
  if (!argv.includes('-name') || !argv[argv.indexOf('-name') + 1]?.startsWith('banger-')) return undefined;
  const prefix = `${vmsDir}/`;
  const hit = argv.find((a) => a.includes(prefix));
  return hit?.slice(hit.indexOf(prefix) + prefix.length).split('/')[0] || undefined;
}

/** VMM processes (fake driver or QEMU) under this layout, by VM id. */
export function vmmProcesses(layout: Layout): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const p of listProcesses()) {
    const id = vmmOf(p.argv, layout.vmsDir);
    if (id) out.set(id, [...(out.get(id) ?? []), p.pid]);
  }
  return out;
}

/** A VM's state as stored (not as observed: a VM whose process exited reads "stopped" before its teardown ends). */
export function storedVMState(layout: Layout, name: string): string | undefined {
  const db = new Database(layout.dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT state FROM vms WHERE name = ?').get(name) as { state: string } | undefined)?.state;
  } finally {
    db.close();
  }
}

export function invariantViolations(layout: Layout): string[] {
  const bad: string[] = [];
  const db = new Database(layout.dbPath, { readonly: true, fileMustExist: true });
  try {
    const vms = db.prepare('SELECT id, name, state FROM vms').all() as Row[];
    const leases = db.prepare('SELECT vm_id, host_port FROM network_leases').all() as { vm_id: string; host_port: number | null }[];
    const images = db.prepare('SELECT id, name, managed, dir FROM images').all() as { id: string; name: string; managed: number; dir: string | null }[];
    const kernels = db.prepare('SELECT name, dir FROM kernels').all() as { name: string; dir: string }[];
    const procs = vmmProcesses(layout);
    const ids = new Set(vms.map((v) => v.id));

    for (const vm of vms) {
      const files = vmFiles(layout.vmsDir, vm.id);
      if (!STORED_STATES.includes(vm.state as StoredVMState)) bad.push(`vm ${vm.name}: unknown state ${vm.state}`);
      if (vm.state === 'created') bad.push(`vm ${vm.name}: left in state created (an unfinished create)`);
      let handle;
      try {
        handle = readHandles(files.handles);
      } catch (err) {
        bad.push(`vm ${vm.name}: ${(err as Error).message}`);
      }
      if (isActive(vm.state as StoredVMState)) {
        if (!handle) bad.push(`vm ${vm.name}: ${vm.state} without a handle`);
        else if (!pidAlive(handle.pid)) bad.push(`vm ${vm.name}: ${vm.state} but its process ${handle.pid} is gone`);
      } else {
        if (handle) bad.push(`vm ${vm.name}: ${vm.state} but handles.json is still there`);
        if (existsSync(files.runDir)) bad.push(`vm ${vm.name}: ${vm.state} but its run directory is still there`);
        if (procs.has(vm.id)) bad.push(`vm ${vm.name}: ${vm.state} but process ${procs.get(vm.id)!.join(',')} still runs`);
        if (!existsSync(files.workDisk)) bad.push(`vm ${vm.name}: ${vm.state} without its work disk`);
      }
    }
    for (const [id, pids] of procs) if (!ids.has(id)) bad.push(`orphan VM process ${pids.join(',')} of unknown vm ${id}`);
    for (const d of list(layout.vmsDir)) if (!ids.has(d)) bad.push(`vms/${d}: directory of no VM`);
    for (const l of leases) {
      const vm = vms.find((v) => v.id === l.vm_id);
      if (!vm) bad.push(`lease of unknown vm ${l.vm_id}`);
      else if (!isActive(vm.state as StoredVMState) && l.host_port !== null) bad.push(`vm ${vm.name}: ${vm.state} but still holds host port ${l.host_port}`);
    }
    for (const s of list(layout.stagingDir)) bad.push(`staging/${s} left behind`);
    const imageDirs = new Set(images.flatMap((i) => (i.dir ? [basename(i.dir)] : [])));
    for (const d of list(layout.imagesDir)) if (!imageDirs.has(d)) bad.push(`images/${d}: directory of no image (half published or half deleted)`);
    for (const i of images) {
      if (i.managed && !i.dir) bad.push(`image ${i.name}: managed without a directory`);
      if (i.dir && !existsSync(join(i.dir, 'manifest.json'))) bad.push(`image ${i.name}: ${i.dir}/manifest.json is missing`);
    }
    const kernelDirs = new Set(kernels.map((k) => basename(k.dir)));
    for (const d of list(layout.kernelsDir)) if (!kernelDirs.has(d)) bad.push(`kernels/${d}: directory of no kernel`);
    for (const k of kernels) if (!existsSync(join(k.dir, 'manifest.json'))) bad.push(`kernel ${k.name}: ${k.dir}/manifest.json is missing`);
  } finally {
    db.close();
  }
  return bad;
}
