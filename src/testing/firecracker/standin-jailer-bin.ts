/**
 * A stand-in for Firecracker's jailer, for tests where no jailer exists: it checks its arguments the
 * way the jailer does (id, absolute exec file, uid/gid, chroot base, cgroup version and
 * `file=value` cgroup settings), makes `<chroot base>/<exec name>/<id>/root`, copies the exec file
 * in, writes the cgroup settings it was given to `<id>/cgroups.json` (where the real jailer writes
 * them to the cgroup filesystem), drops to uid/gid and runs the stand-in firecracker with the
 * arguments after `--`, resolving every path inside the chroot (the real one chroots; this one
 * changes into the root and resolves paths relative to it).
 *
 * @module
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';

const args = process.argv.slice(2);
const dash = args.indexOf('--');
const own = dash >= 0 ? args.slice(0, dash) : args;
const rest = dash >= 0 ? args.slice(dash + 1) : [];
const fail = (message: string): never => {
  process.stderr.write(`jailer: ${message}\n`);
  process.exit(1);
};
const values = (name: string) => own.flatMap((a, i) => (a === name && own[i + 1] !== undefined ? [own[i + 1]!] : []));
const one = (name: string) => values(name)[0] ?? fail(`missing argument ${name}`);

const id = one('--id');
if (!/^[a-zA-Z0-9-]{1,64}$/.test(id)) fail(`invalid id ${id}`);
const exec = one('--exec-file');
if (!isAbsolute(exec)) fail(`--exec-file must be absolute: ${exec}`);
const uid = Number(one('--uid'));
const gid = Number(one('--gid'));
if (!Number.isInteger(uid) || !Number.isInteger(gid)) fail('invalid uid or gid');
const base = one('--chroot-base-dir');
if (!isAbsolute(base)) fail(`--chroot-base-dir must be absolute: ${base}`);
const version = values('--cgroup-version')[0] ?? '1';
if (version !== '1' && version !== '2') fail(`invalid cgroup version ${version}`);
const cgroups: Record<string, string> = {};
for (const c of values('--cgroup')) {
  const m = /^([a-z_]+)\.([a-z_.]+)=(.+)$/.exec(c);
  if (!m) fail(`invalid cgroup setting ${c}`);
  cgroups[`${m![1]}.${m![2]}`] = m![3]!;
}

const dir = join(base, basename(exec), id);
const root = join(dir, 'root');
mkdirSync(root, { recursive: true });
copyFileSync(exec, join(root, basename(exec)));
writeFileSync(join(dir, 'cgroups.json'), JSON.stringify({ version: Number(version), settings: cgroups }));
// Like a chroot: from inside the root, relative paths need no access to the directories above it.
process.chdir(root);
process.setgid!(gid);
process.setuid!(uid);
process.env.BANGER_FC_STANDIN_ROOT = '.';
// The real jailer execs firecracker with --id after the arguments it was given.
process.argv = [process.argv[0]!, new URL('./standin-bin.js', import.meta.url).pathname, ...rest, '--id', id];
await import('./standin-bin.js');
