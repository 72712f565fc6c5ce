import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MmdebstrapProgress, mmdebstrapArgv } from './mmdebstrap.js';
import { builtinRecipes } from './recipes.js';

test('mmdebstrap argv: recipe packages, mirrors, keyring, signature checks on', () => {
  const recipe = builtinRecipes()[0]!;
  const argv = mmdebstrapArgv({ recipe, mirror: 'http://deb.debian.org/debian', target: '/s/tree', mode: 'root', keyring: '/k.gpg' });
  assert.equal(argv[0], 'mmdebstrap');
  assert.ok(argv.includes('--mode=root'));
  assert.ok(argv.includes('--variant=minbase'));
  assert.ok(argv.includes('--keyring=/k.gpg'));
  assert.ok(argv.some((a) => a.startsWith('--include=') && a.includes('openssh-server') && a.includes('linux-image-cloud-amd64')));
  assert.ok(!argv.some((a) => /no-check-gpg|allow-insecure|trusted=yes/i.test(a)), 'no signature bypass');
  const i = argv.indexOf('bookworm');
  assert.equal(argv[i + 1], '/s/tree');
  assert.deepEqual(argv.slice(i + 2), [
    'deb http://deb.debian.org/debian bookworm main',
    'deb http://deb.debian.org/debian bookworm-updates main',
    'deb http://deb.debian.org/debian-security bookworm-security main',
  ]);
});

test('mmdebstrap progress follows package counts', () => {
  const events: Array<[number, number | undefined]> = [];
  const logs: string[] = [];
  const p = new MmdebstrapProgress({ progress: (c, t) => events.push([c, t]), log: (m) => logs.push(m) });
  for (const l of [
    'I: chroot architecture amd64 is equal to the host\'s architecture',
    'W: Download is performed unsandboxed as root as file /x couldn\'t be accessed by user _apt',
    'I: downloading packages with apt...',
    'I: /vmlinuz is now a symlink to boot/vmlinuz-6.1.0-57-cloud-amd64',
    '0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.',
    'Get:1 http://deb.debian.org/debian bookworm/main amd64 libc6 amd64 2.36 [2759 kB]',
    'Setting up libc6:amd64 (2.36) ...',
    'Setting up bash (5.2) ...',
    '0 upgraded, 3 newly installed, 0 to remove and 0 not upgraded.',
    'Setting up git (1:2.39) ...',
    'E: Unable to locate package nope',
  ]) p.line(l);
  assert.deepEqual(events, [[0, 2], [1, 2], [2, 2], [2, 5], [3, 5]]);
  assert.equal(p.downloaded, 1);
  assert.deepEqual(p.errors, ['Unable to locate package nope']);
  assert.deepEqual(logs, ['downloading packages with apt...']);
});

test('recipes validate', async () => {
  const { recipeProblems } = await import('./recipes.js');
  const r = builtinRecipes()[0]!;
  assert.deepEqual(recipeProblems(r), []);
  assert.ok(recipeProblems({ ...r, packages: ['ok', 'Bad Name'] }).some((p) => p.includes('Bad Name')));
  assert.ok(recipeProblems({ ...r, arch: 'arm64' }).length > 0);
  assert.ok(recipeProblems({ ...r, files: [{ path: 'etc/x', content: '', mode: '0644' }] }).length > 0);
});

test('mmdebstrap argv: early files go in through a setup hook before any package; odd paths are refused', () => {
  const recipe = builtinRecipes()[0]!;
  const plan = { recipe, mirror: 'http://deb.debian.org/debian', target: '/s/tree', mode: 'root' as const };
  assert.ok(!mmdebstrapArgv(plan).some((a) => a.startsWith('--setup-hook')));
  const argv = mmdebstrapArgv({ ...plan, earlyTar: '/s/early.tar' });
  assert.ok(argv.includes(`--setup-hook=tar-in '/s/early.tar' /`));
  assert.throws(() => mmdebstrapArgv({ ...plan, earlyTar: "/s/it's.tar" }), /cannot be used in an mmdebstrap hook/);
  assert.throws(() => mmdebstrapArgv({ ...plan, earlyTar: '/s/with space.tar' }), /cannot be used in an mmdebstrap hook/);
});

test('mmdebstrap argv without root: unshare mode, a tar on stdout without /dev', () => {
  const recipe = builtinRecipes()[0]!;
  const argv = mmdebstrapArgv({ recipe, mirror: 'http://deb.debian.org/debian', target: '-', mode: 'unshare', format: 'tar' });
  assert.ok(argv.includes('--mode=unshare'));
  assert.ok(argv.includes('--format=tar'));
  assert.ok(argv.includes('--skip=output/dev'));
  assert.equal(argv[argv.indexOf('bookworm') + 1], '-');
  const dir = mmdebstrapArgv({ recipe, mirror: 'http://deb.debian.org/debian', target: '/s/tree', mode: 'root' });
  assert.ok(dir.includes('--format=directory') && !dir.includes('--skip=output/dev'));
});

test('the debian-bookworm recipe carries what agents reach for, mise pinned by sha256 from an https source', async () => {
  const { recipeProblems } = await import('./recipes.js');
  const r = builtinRecipes().find((x) => x.name === 'debian-bookworm')!;
  for (const p of ['build-essential', 'python3', 'python3-venv', 'python3-pip', 'jq', 'rsync', 'unzip', 'ripgrep', 'gnupg', 'git', 'curl', 'ca-certificates', 'docker.io']) {
    assert.ok(r.packages.includes(p), `${p} in the recipe`);
  }
  const mise = r.downloads?.find((d) => d.name === 'mise');
  assert.ok(mise && mise.url.startsWith('https://') && /^[0-9a-f]{64}$/.test(mise.sha256) && mise.dest === '/usr/local/bin/mise');
  const bad = recipeProblems({ ...r, downloads: [{ ...mise, url: 'http://x/y.tgz', sha256: 'abc', member: '../x', dest: 'usr/bin/x', mode: '9' }] });
  for (const part of ['url must be https', 'sha256 must be', 'member must be', 'is not an absolute path', 'is not octal']) {
    assert.ok(bad.some((p) => p.includes(part)), `a problem about ${part}: ${bad.join(' | ')}`);
  }
  assert.ok(recipeProblems({ ...r, earlyFiles: [{ path: 'etc/x', content: '', mode: '0644' }] }).length > 0);
});
