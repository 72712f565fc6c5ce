/** A small initramfs: the host's busybox, the modules a VM needs and an /init that mounts root. */
import { chmod, copyFile, mkdir, mkdtemp, readdir, realpath, rename, rm, writeFile, lstat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { run, runUnchecked, which } from '../../system/exec.js';
import { unavailable } from '../../api/errors.js';
import { toolError } from '../../drivers/ext4/debugfs.js';
import { INIT_SCRIPT, INITRAMFS_MODULE_DIR } from './init-script.js';

export interface InitramfsInput {
  /** Module files in load order: [name, path]. */
  modules: Array<[string, string]>;
  /** Output file (gzip-compressed newc cpio). */
  out: string;
  scratchDir: string;
  signal?: AbortSignal;
}

/** The busybox to put in the initramfs: a static one when the host has it (busybox-static), else busybox. */
export function findBusybox(): string {
  for (const c of ['/bin/busybox', '/usr/bin/busybox']) if (which(c)) return c;
  const onPath = which('busybox');
  if (onPath) return onPath;
  throw unavailable('busybox is needed to build an initramfs', 'install it: apt-get install busybox-static (or busybox)');
}

/** Shared libraries (and the loader) a dynamic executable needs; empty for a static one. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const r = await runUnchecked(['ldd', binary]).catch(() => undefined);
  if (!r || r.code !== 0) return [];
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

async function copyInto(root: string, hostPath: string, mode: number): Promise<void> {
  const dest = join(root, hostPath);
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(await realpath(hostPath), dest);
  await chmod(dest, mode);
}

async function decompressInPlace(file: string, signal?: AbortSignal): Promise<string> {
  const tools: Array<[RegExp, string[]]> = [
    [/\.xz$/, ['xz', '-d', '-f', '-q']],
    [/\.zst$/, ['zstd', '-d', '-f', '-q', '--rm']],
    [/\.gz$/, ['gzip', '-d', '-f']],
  ];
  for (const [re, argv] of tools) {
    if (re.test(file)) {
      try {
        await run([...argv, file], { signal });
      } catch (err) {
        throw toolError(err, argv[0]!);
      }
      return file.replace(re, '');
    }
  }
  return file;
}

async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      out.push(relative(root, p));
      const st = await lstat(p);
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out;
}

export async function buildInitramfs(input: InitramfsInput): Promise<void> {
  const root = await mkdtemp(join(input.scratchDir, 'initramfs-'));
  try {
    for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'run', 'newroot', 'usr/bin', 'usr/sbin', INITRAMFS_MODULE_DIR.slice(1)]) {
      await mkdir(join(root, d), { recursive: true, mode: 0o755 });
    }
    const busybox = findBusybox();
    await copyFile(await realpath(busybox), join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    for (const lib of await sharedLibraries(busybox)) await copyInto(root, lib, 0o755);
    const modDir = join(root, INITRAMFS_MODULE_DIR);
    for (const [name, path] of input.modules) {
      const ext = /\.ko(\.xz|\.zst|\.gz)?$/.exec(path)?.[0] ?? '.ko';
      const staged = join(modDir, `${name}${ext}`);
      await copyFile(path, staged);
      await chmod(staged, 0o644);
      const plain = await decompressInPlace(staged, input.signal);
      if (plain !== join(modDir, `${name}.ko`)) await rename(plain, join(modDir, `${name}.ko`));
    }
    await writeFile(join(modDir, 'order'), input.modules.map(([n]) => n).join('\n') + '\n', { mode: 0o644 });
    await writeFile(join(root, 'init'), INIT_SCRIPT, { mode: 0o755 });
    await chmod(join(root, 'init'), 0o755);

    const cpio = join(root, '..', `${relative(input.scratchDir, root)}.cpio`);
    const list = (await listTree(root)).join('\n') + '\n';
    try {
      await run(['cpio', '--quiet', '-o', '-H', 'newc', '-R', '0:0', '-F', cpio], { cwd: root, input: list, signal: input.signal });
      await run(['gzip', '-9', '-n', '-f', cpio], { signal: input.signal });
    } catch (err) {
      throw toolError(err, 'cpio');
    }
    await rm(input.out, { force: true });
    await rename(`${cpio}.gz`, input.out);
    await chmod(input.out, 0o644);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
