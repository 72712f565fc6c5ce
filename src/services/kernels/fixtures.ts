/** Small fixtures for kernel tests: a file that looks like a bzImage and tiny .deb packages. */
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../system/exec.js';

/** Writes a file with an x86 boot setup header ("HdrS") and a version string, nothing bootable. */
export async function writeFakeBzImage(path: string, version = '9.9.9-test'): Promise<Buffer> {
  const buf = Buffer.alloc(0x1000);
  buf.write('HdrS', 0x202, 'latin1');
  buf.writeUInt16LE(0x100, 0x20e);
  buf.write(`${version} (test@banger) #1 SMP\0`, 0x300, 'latin1');
  await writeFile(path, buf);
  return buf;
}

export interface DebSpec {
  package: string;
  version?: string;
  depends?: string;
  /** path inside the package -> content, or { copy: hostPath } */
  files: Record<string, string | Buffer | { copy: string }>;
}

/** Builds a .deb with dpkg-deb --build and returns its path. */
export async function buildDeb(workDir: string, spec: DebSpec): Promise<string> {
  const root = join(workDir, `${spec.package}-root`);
  await mkdir(join(root, 'DEBIAN'), { recursive: true, mode: 0o755 });
  await chmod(root, 0o755);
  const control = [
    `Package: ${spec.package}`,
    `Version: ${spec.version ?? '1.0'}`,
    'Architecture: amd64',
    'Maintainer: banger tests <tests@example.invalid>',
    ...(spec.depends ? [`Depends: ${spec.depends}`] : []),
    'Description: banger test package',
    '',
  ].join('\n');
  await writeFile(join(root, 'DEBIAN', 'control'), control, { mode: 0o644 });
  for (const [path, content] of Object.entries(spec.files)) {
    const dest = join(root, path);
    await mkdir(dirname(dest), { recursive: true });
    if (typeof content === 'object' && !Buffer.isBuffer(content)) await copyFile(content.copy, dest);
    else await writeFile(dest, content);
  }
  const out = join(workDir, `${spec.package}.deb`);
  await run(['dpkg-deb', '--root-owner-group', '-Zgzip', '--build', root, out]);
  return out;
}
