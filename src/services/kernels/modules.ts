/** Kernel modules of an unpacked kernel package: where they are, what they need, which are built in. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runUnchecked } from '../../system/exec.js';

/** What a banger VM needs before its root filesystem is mounted. */
export const INITRAMFS_MODULES = [
  'virtio_pci',
  'virtio_mmio',
  'virtio_blk',
  'virtio_net',
  'virtio_console',
  'ext4',
  'vsock',
  'vmw_vsock_virtio_transport',
];

/** Modules a VM cannot boot without (unless built in). */
export const REQUIRED_MODULES = ['virtio_blk', 'ext4'];

const KO = /\.ko(\.xz|\.zst|\.gz)?$/;

export function moduleName(file: string): string {
  return file.replace(KO, '').replace(/-/g, '_');
}

export interface ModuleTree {
  dir: string;
  /** module name -> file */
  files: Map<string, string>;
  builtin: Set<string>;
  hasBuiltinList: boolean;
}

export async function readModuleTree(dir: string): Promise<ModuleTree> {
  const files = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (KO.test(e.name)) files.set(moduleName(e.name), p);
    }
  };
  await walk(dir);
  const builtin = new Set<string>();
  let hasBuiltinList = false;
  try {
    const text = await readFile(join(dir, 'modules.builtin'), 'utf8');
    hasBuiltinList = true;
    for (const line of text.split('\n')) {
      const base = line.trim().split('/').pop();
      if (base) builtin.add(moduleName(base));
    }
  } catch {
    /* no list: built-in modules are unknown */
  }
  return { dir, files, builtin, hasBuiltinList };
}

async function modinfoField(file: string, field: string): Promise<string> {
  const r = await runUnchecked(['modinfo', '-F', field, file]);
  return r.code === 0 ? r.stdout.trim() : '';
}

export interface ModulePlan {
  /** Modules to load, dependencies first. */
  order: string[];
  /** Wanted modules that are neither loadable nor built in. */
  missing: string[];
  builtin: string[];
}

/** Resolves wanted modules to a load order using each module's depends= and softdep pre: entries. */
export async function planModules(tree: ModuleTree, wanted: readonly string[]): Promise<ModulePlan> {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const missing: string[] = [];
  const builtin: string[] = [];
  const resolve = (name: string): string | undefined => {
    const n = name.replace(/-/g, '_');
    // Soft dependencies may name a crypto algorithm's alias (ext4: "pre: crypto-crc32c"); the modules that
    // provide it are named for the algorithm, with a _generic or arch suffix.
    const bases = n.startsWith('crypto_') ? [n, n.slice('crypto_'.length)] : [n];
    for (const base of bases) for (const candidate of [base, `${base}_generic`, `${base}_intel`]) if (tree.files.has(candidate)) return candidate;
    return undefined;
  };
  const visit = async (name: string, optional: boolean): Promise<void> => {
    const n = name.replace(/-/g, '_');
    if (tree.builtin.has(n)) {
      if (!optional && !builtin.includes(n)) builtin.push(n);
      return;
    }
    const found = resolve(n);
    if (!found) {
      if (!optional && !missing.includes(n)) missing.push(n);
      return;
    }
    if (state.has(found)) return;
    state.set(found, 'visiting');
    const file = tree.files.get(found)!;
    const deps = (await modinfoField(file, 'depends')).split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
    const soft = (await modinfoField(file, 'softdep'))
      .split('\n')
      .flatMap((l) => (/pre:\s*(.*?)(\s+post:.*)?$/.exec(l)?.[1] ?? '').split(/\s+/))
      .filter(Boolean);
    for (const d of deps) await visit(d, false);
    for (const s of soft) await visit(s, true);
    state.set(found, 'done');
    order.push(found);
  };
  for (const w of wanted) await visit(w, false);
  return { order, missing, builtin };
}
