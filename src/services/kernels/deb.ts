/** Debian kernel packages: fetched with apt-get download, read with dpkg-deb. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runUnchecked, ExecError, ToolMissingError } from '../../system/exec.js';
import { badRequest, notFound, operationFailed, unavailable } from '../../api/errors.js';

export function isPackageName(s: string): boolean {
  return /^[a-z0-9][a-z0-9+.-]+$/.test(s);
}

/** A .deb path, or a package name for apt-get download. */
export function classifyDebInput(arg: string): { kind: 'file'; path: string } | { kind: 'package'; name: string } {
  if (arg.includes('/') || arg.endsWith('.deb')) {
    if (!arg.startsWith('/')) throw badRequest(`package file path ${JSON.stringify(arg)} is not absolute`);
    return { kind: 'file', path: arg };
  }
  if (!isPackageName(arg)) throw badRequest(`${JSON.stringify(arg)} is neither a .deb path nor a Debian package name`);
  return { kind: 'package', name: arg };
}

/** Downloads one package (no dependencies) into dir and returns the .deb path. */
export async function downloadPackage(name: string, dir: string, signal?: AbortSignal): Promise<string> {
  if (!isPackageName(name)) throw badRequest(`${JSON.stringify(name)} is not a Debian package name`);
  const before = new Set(await readdir(dir));
  let r;
  try {
    r = await runUnchecked(['apt-get', 'download', '-q', name], { cwd: dir, signal });
  } catch (err) {
    if (err instanceof ToolMissingError) throw unavailable('apt-get is needed to fetch kernel packages', 'give a .deb file instead');
    throw err;
  }
  if (r.code !== 0) {
    const text = r.stderr + r.stdout;
    if (/Unable to locate package|has no installation candidate|No packages found/.test(text)) {
      throw notFound(`package ${name} is not in apt's package lists`, 'check the name, or run apt-get update');
    }
    throw operationFailed(`apt-get download ${name} failed: ${text.trim().split('\n').slice(-3).join('; ')}`);
  }
  const debs = (await readdir(dir)).filter((f) => f.endsWith('.deb') && !before.has(f));
  if (debs.length !== 1) throw operationFailed(`apt-get download ${name} produced ${debs.length} packages`);
  return join(dir, debs[0]!);
}

export interface DebFields {
  package: string;
  version: string;
  depends: string;
}

export async function debFields(file: string): Promise<DebFields> {
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) throw badRequest(`${file} does not exist or is not a file`);
  try {
    const r = await run(['dpkg-deb', '-f', file, 'Package', 'Version', 'Depends']);
    const field = (k: string) => new RegExp(`^${k}: (.*)$`, 'm').exec(r.stdout)?.[1]?.trim() ?? '';
    return { package: field('Package'), version: field('Version'), depends: field('Depends') };
  } catch (err) {
    if (err instanceof ToolMissingError) throw unavailable('dpkg-deb is needed to read kernel packages');
    if (err instanceof ExecError) throw badRequest(`${file} is not a Debian package: ${err.lastLines(2)}`);
    throw err;
  }
}

export async function extractDeb(file: string, dir: string, signal?: AbortSignal): Promise<void> {
  try {
    await run(['dpkg-deb', '-x', file, dir], { signal });
  } catch (err) {
    if (err instanceof ExecError) throw badRequest(`cannot unpack ${file}: ${err.lastLines(2)}`);
    throw err;
  }
}

/** The kernel image package a meta package (linux-image-cloud-amd64) depends on, if any. */
export function kernelDependency(depends: string): string | undefined {
  for (const alt of depends.split(',')) {
    const name = alt.trim().split(/[\s(|]/)[0] ?? '';
    if (/^linux-image-\d/.test(name)) return name;
  }
  return undefined;
}

export interface UnpackedKernel {
  version: string;
  kernel: string;
  modulesDir?: string;
}

/** Finds boot/vmlinuz-* (and its lib/modules/<version>) in an unpacked package. */
export async function findPackagedKernel(root: string): Promise<UnpackedKernel | undefined> {
  const boot = await readdir(join(root, 'boot')).catch(() => [] as string[]);
  const v = boot.filter((n) => n.startsWith('vmlinuz-')).sort().pop();
  if (!v) return undefined;
  const version = v.slice('vmlinuz-'.length);
  for (const base of ['lib/modules', 'usr/lib/modules']) {
    const d = join(root, base, version);
    if ((await stat(d).catch(() => undefined))?.isDirectory()) return { version, kernel: join(root, 'boot', v), modulesDir: d };
  }
  return { version, kernel: join(root, 'boot', v) };
}
