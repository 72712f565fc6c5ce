/**
 * Images that lack what a VM needs, through the CLI and a daemon on the fake driver (real registry,
 * real ext4, real egress proxy; no guest kernel): one without systemd is refused by vm create with
 * what to add; one without sshd shows its installer in image show, and its first start opens the
 * installer's egress and closes it again once SSH answers, while later starts leave it closed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliHarness } from '../testing/cli-harness.js';
import { writeTinyImageFiles } from '../testing/tiny-image.js';
import { layerBlob, pushImage, registryMissing, startRegistry, type TestRegistry } from '../testing/oci-registry.js';
import { which } from '../system/exec.js';
import { FAULT_ENV } from '../system/faults.js';

const skip = registryMissing || (['mkfs.ext4', 'debugfs', 'socat'].every((t) => which(t)) ? false : 'needs e2fsprogs and socat');

const OS = { name: 'etc/os-release', content: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n' };

describe('images without systemd or sshd (fake driver)', { skip }, () => {
  const h = new CliHarness({ BANGER_FAKE_DRIVER: '{}' });
  /** A daemon whose guests never start SSH and print the installer's failure on their console. */
  const restarted = new CliHarness({ BANGER_FAKE_DRIVER: '{}' });
  const failing = new CliHarness({ BANGER_FAKE_DRIVER: JSON.stringify({ noSsh: true, consoleLines: ['[   9.1] banger-first-boot[301]: banger-first-boot: FAILED: apt-get update exited 100'] }) });
  let reg: TestRegistry | undefined;
  let kernel = '';
  before(async () => {
    for (const home of [h.home, failing.home, restarted.home]) writeFileSync(join(home, 'config.toml'), 'ssh_wait_timeout = "60s"\nwarm_pool = false\n');
    kernel = (await writeTinyImageFiles(h.home)).kernel;
    reg = await startRegistry();
    await pushImage(reg.host, 'w/noinit', 'v1', [await layerBlob([{ name: 'etc/', type: 'directory' }, OS])]);
    await pushImage(reg.host, 'w/nossh', 'v1', [
      await layerBlob([
        { name: 'etc/', type: 'directory' }, OS,
        { name: 'etc/apt/', type: 'directory' }, { name: 'etc/apt/sources.list', content: 'deb http://ftp.example.org/debian bookworm main\n' },
        { name: 'usr/', type: 'directory' }, { name: 'usr/lib/', type: 'directory' }, { name: 'usr/lib/systemd/', type: 'directory' },
        { name: 'usr/lib/systemd/systemd', content: 'init', mode: 0o755 },
      ]),
    ]);
  });
  after(async () => {
    await h.cleanup();
    await failing.cleanup();
    await restarted.cleanup();
    await reg?.stop();
  });

  it('an image without systemd pulls with a warning, shows as not bootable, and vm create refuses it', async () => {
    const pull = await h.run(['image', 'pull', `${reg!.host}/w/noinit:v1`, '--name', 'noinit', '--kernel', kernel]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stderr, /no init system \(systemd\): banger cannot boot VMs from it.*add openssh-server systemd systemd-sysv with apt/);
    assert.match((await h.run(['image', 'show', 'noinit'])).stdout, /^bootable: +no: the image has no init system \(systemd\)$/m);
    const create = await h.run(['vm', 'create', '--name', 'x', '--image', 'noinit']);
    assert.notEqual(create.code, 0);
    assert.match(create.stderr, /image noinit has no init system \(systemd\), so banger cannot boot it/);
    assert.match(create.stderr, /hint: add systemd to the image \(Debian\/Ubuntu: apt-get install -y systemd-sysv\) and pull it again/);
    assert.equal((await h.run(['vm', 'show', 'x'])).code, 3, 'nothing is left of the refused VM');
  });

  it('an image without sshd: its first start opens the installer\'s mirror for the install only; later starts do not', async () => {
    const pull = await h.run(['image', 'pull', `${reg!.host}/w/nossh:v1`, '--name', 'nossh', '--kernel', kernel]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stderr, /which needs egress to ftp\.example\.org; banger opens exactly that for the install/);
    assert.match((await h.run(['image', 'show', 'nossh'])).stdout, /^first boot: +installs openssh-server with apt, egress to ftp\.example\.org open meanwhile$/m);
    const create = await h.run(['vm', 'create', '--name', 'fb', '--image', 'nossh']);
    assert.equal(create.code, 0, create.stderr);
    assert.match(create.stderr, /fb: first boot installs openssh-server with apt \(the image has no sshd\); egress to ftp\.example\.org is open for it/);
    assert.match(create.stderr, /installing openssh-server at first boot, then waiting for ssh/);
    assert.match(create.stderr, /fb: first boot done; the installer's egress to ftp\.example\.org is closed again/);
    const egress = JSON.parse((await h.run(['--json', 'vm', 'egress', 'fb'])).stdout) as { nat: boolean; allow?: string[] };
    assert.deepEqual([egress.nat, egress.allow], [false, undefined], 'the VM keeps the egress it was given');
    assert.equal((await h.run(['vm', 'stop', 'fb'])).code, 0);
    const start = await h.run(['vm', 'start', 'fb']);
    assert.equal(start.code, 0, start.stderr);
    assert.doesNotMatch(start.stderr, /first boot/, 'the installer ran once');
    assert.equal((await h.run(['vm', 'delete', 'fb'])).code, 0);
  });

  it('a failing installer ends the start at once with its console line, and its egress is gone with the VM process', async () => {
    assert.equal((await failing.run(['image', 'pull', `${reg!.host}/w/nossh:v1`, '--name', 'nossh', '--kernel', kernel])).code, 0);
    const started = Date.now();
    const r = await failing.run(['vm', 'create', '--name', 'broken', '--image', 'nossh']);
    const secs = (Date.now() - started) / 1000;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /broken: banger-first-boot: FAILED: apt-get update exited 100/, 'the installer\'s line is shown as progress');
    assert.match(r.stderr, /the first-boot installer of vm broken failed \(banger-first-boot: FAILED: apt-get update exited 100\)/);
    assert.match(r.stderr, /hint: see its output with banger vm logs broken; the next start tries again/);
    assert.ok(secs < 30, `stopped at the failure, not at ssh_wait_timeout (60s): took ${secs}s`);
    const egress = JSON.parse((await failing.run(['--json', 'vm', 'egress', 'broken'])).stdout) as { running: boolean };
    assert.equal(egress.running, false, 'the VM\'s proxy listener is closed');
  });

  it('a daemon that died during the first boot waits it out when it comes back: the VM runs and later starts skip the installer', async () => {
    const r = restarted;
    assert.equal((await r.run(['image', 'pull', `${reg!.host}/w/nossh:v1`, '--name', 'nossh', '--kernel', kernel])).code, 0);
    assert.equal((await r.run(['vm', 'create', '--name', 'cut', '--image', 'nossh', '--no-start'])).code, 0);
    assert.equal((await r.run(['daemon', 'stop'])).code, 0);
    const crashed = await r.run(['vm', 'start', 'cut'], { [FAULT_ENV]: 'boot.handles:crash' });
    assert.notEqual(crashed.code, 0, 'the daemon died while the VM was starting');
    let state = '';
    for (let i = 0; i < 100 && state !== 'running'; i++) {
      const show = await r.run(['--json', 'vm', 'show', 'cut']);
      state = (JSON.parse(show.stdout) as { state: string }).state;
      if (state !== 'running') await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(state, 'running', `the restarted daemon waited the VM out: ${(await r.run(['vm', 'show', 'cut'])).stdout}`);
    assert.equal((await r.run(['vm', 'stop', 'cut'])).code, 0);
    const start = await r.run(['vm', 'start', 'cut']);
    assert.equal(start.code, 0, start.stderr);
    assert.doesNotMatch(start.stderr, /first boot/, 'the first boot was finished by the restarted daemon');
    assert.equal((await r.run(['vm', 'delete', 'cut'])).code, 0);
  });
});
