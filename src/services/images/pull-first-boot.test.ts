/** image pull of an image without openssh-server: the first-boot installer and the mirror hosts it needs (real registry, real ext4). */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { resolveConfig } from '../../config/load.js';
import { resolveLayout } from '../../config/paths.js';
import { readText, stat } from '../../drivers/ext4/index.js';
import { openStore } from '../../store/db.js';
import { which } from '../../system/exec.js';
import { layerBlob, pushImage, registryMissing, startRegistry, type TestRegistry } from '../../testing/oci-registry.js';
import type { OpContext } from '../op-context.js';
import { writeFakeBzImage } from '../kernels/fixtures.js';
import { ImageService } from './image-service.js';
import { readManifest } from './manifest.js';

const skip = registryMissing || (['mkfs.ext4', 'debugfs'].every((t) => which(t)) ? false : 'needs e2fsprogs');

let dir = '';
let db: Database;
let svc: ImageService;
let kernel = '';
let reg: TestRegistry;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'banger-pull-fb-test-'));
  const layout = resolveLayout({ env: { BANGER_HOME: join(dir, 'home') } });
  db = openStore(layout.dbPath);
  svc = new ImageService({ db, layout, config: resolveConfig({}, '/nonexistent/config.toml', {}, false).config, dockerConfig: join(dir, 'none.json') });
  kernel = join(dir, 'vmlinuz');
  await writeFakeBzImage(kernel, '6.1.0-fb');
  reg = await startRegistry();
});
after(async () => {
  if (skip) return;
  db.close();
  await reg.stop();
  await rm(dir, { recursive: true, force: true });
});

function logging(): { ctx: OpContext; logs: string[] } {
  const logs: string[] = [];
  return { logs, ctx: { signal: new AbortController().signal, stage: (_id, _l, fn) => fn(), progress: () => undefined, log: (m) => logs.push(m) } };
}

test('an image with systemd but no sshd gets the first-boot installer, its plan and the mirror hosts from its apt sources', { skip }, async () => {
  const layer = await layerBlob([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/os-release', content: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n' },
    { name: 'etc/apt/', type: 'directory' },
    { name: 'etc/apt/sources.list', content: 'deb http://deb.debian.org/debian bookworm main\n' },
    { name: 'etc/apt/sources.list.d/', type: 'directory' },
    { name: 'etc/apt/sources.list.d/extra.sources', content: 'Types: deb\nURIs: https://mirror.example.org/debian\n' },
    { name: 'lib/', type: 'directory' },
    { name: 'lib/systemd/', type: 'directory' },
    { name: 'lib/systemd/systemd', content: 'init', mode: 0o755 },
  ]);
  await pushImage(reg.host, 'team/nossh', 'v1', [layer]);
  const { ctx, logs } = logging();
  const img = await svc.pull({ ref: `${reg.host}/team/nossh:v1`, kernel }, ctx);
  const plan = { manager: 'apt', packages: ['openssh-server'], commands: [['apt-get', 'update'], ['apt-get', 'install', '-y', '--no-install-recommends', 'openssh-server']], hosts: ['deb.debian.org', 'mirror.example.org'] };
  assert.deepEqual(img.meta.firstBoot, plan);
  assert.equal(img.meta.initMissing, undefined);
  assert.deepEqual((await readManifest(join(img.rootfsPath, '..'))).firstBoot, plan, 'the manifest carries the plan (push and pull keep it)');
  assert.ok(
    logs.some((m) => m.includes("each VM's first boot installs openssh-server with apt (apt-get update && apt-get install -y --no-install-recommends openssh-server), which needs egress to deb.debian.org, mirror.example.org")),
    logs.join(' | '),
  );
  const script = await readText(img.rootfsPath, '/usr/local/libexec/banger-first-boot');
  assert.match(script, /^ {2}run apt-get install -y --no-install-recommends openssh-server \|\| return 1$/m);
  assert.equal((await stat(img.rootfsPath, '/usr/local/libexec/banger-first-boot'))?.mode, 0o755);
  const link = await stat(img.rootfsPath, '/etc/systemd/system/multi-user.target.wants/banger-first-boot.service');
  assert.equal(link?.type, 'symlink', 'the installer is enabled');
});

test('an image with sshd gets no installer; an unknown distro without sshd is said and gets none', { skip }, async () => {
  const withSshd = await layerBlob([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/os-release', content: 'ID=debian\n' },
    { name: 'sbin/', type: 'directory' },
    { name: 'sbin/init', content: 'init', mode: 0o755 },
    { name: 'usr/', type: 'directory' },
    { name: 'usr/sbin/', type: 'directory' },
    { name: 'usr/sbin/sshd', content: 'sshd', mode: 0o755 },
  ]);
  await pushImage(reg.host, 'team/full', 'v1', [withSshd]);
  const full = await svc.pull({ ref: `${reg.host}/team/full:v1`, kernel }, logging().ctx);
  assert.equal(full.meta.firstBoot, undefined);
  assert.equal(await stat(full.rootfsPath, '/usr/local/libexec/banger-first-boot'), undefined);

  const nix = await layerBlob([{ name: 'etc/', type: 'directory' }, { name: 'etc/os-release', content: 'ID=nixos\n' }, { name: 'sbin/', type: 'directory' }, { name: 'sbin/init', content: 'i' }]);
  await pushImage(reg.host, 'team/nix', 'v1', [nix]);
  const { ctx, logs } = logging();
  const img = await svc.pull({ ref: `${reg.host}/team/nix:v1`, kernel }, ctx);
  assert.equal(img.meta.firstBoot, undefined);
  assert.ok(logs.some((m) => /no openssh-server: VMs from it will not become ready/.test(m)));
  assert.ok(logs.some((m) => /does not know how to install openssh-server on nixos/.test(m)));
});
