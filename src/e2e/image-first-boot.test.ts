/**
 * An image from a registry that lacks openssh-server, end to end with real QEMU: a Debian bookworm
 * root filesystem with systemd and no sshd (mmdebstrap minbase from the Debian archive, cached), plus
 * a layer of files with odd owners, modes, setuid/setgid and sticky bits, pushed to a real registry on
 * 127.0.0.1. `image pull` says the image lacks sshd and which mirror it needs; the VM's first boot
 * installs openssh-server from deb.debian.org through banger's egress proxy (the VM itself was given
 * no egress), SSH answers with banger's keys, `stat` inside the guest shows the layers' owners and
 * modes, and afterwards the installer's egress is closed again. The kernel is the kernel catalog's
 * default, pulled by the image pull as for any image without one.
 *
 * One boot.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EgressReport, ImageInfo } from '../api/types.js';
import { banger, e2eSkipReason, processesUnder } from '../testing/cli-process.js';
import { blobOf, layerBlob, pushImage, registryMissing, startRegistry, type TestRegistry } from '../testing/oci-registry.js';
import { debianNoSshTarball } from '../testing/debian-tarball.js';
import { sharedImageSkipReason } from '../testing/shared-image.js';
import { which } from '../system/exec.js';

function skipReason(): string | undefined {
  const e2e = e2eSkipReason() ?? sharedImageSkipReason();
  if (e2e) return e2e;
  if (registryMissing) return registryMissing;
  if (!which('socat')) return 'socat is not installed (apt-get install socat)';
  return undefined;
}

/** path in the guest -> what `stat -c '%u %g %a'` must say (from the odd layer). */
const ODD: Record<string, string> = {
  '/srv/odd': '1234 5678 2770',
  '/srv/odd/suid-tool': '0 0 4755',
  '/srv/odd/secret': '4242 4343 600',
  '/srv/odd/shared': '0 0 1777',
  '/usr/local/bin/sgid-tool': '0 50 2755',
};

const VM = 'fb';

describe('an image without openssh-server gets it at first boot', { skip: skipReason(), timeout: 60 * 60_000 }, () => {
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  let registry: TestRegistry | undefined;
  let ref = '';

  before(async () => {
    home = mkdtempSync('/tmp/bfb-');
    env = { BANGER_HOME: home };
    writeFileSync(join(home, 'config.toml'), 'warm_pool = false\n');
    registry = await startRegistry();
    const base = blobOf(await readFile(await debianNoSshTarball()), 'application/vnd.oci.image.layer.v1.tar');
    const odd = await layerBlob([
      { name: 'srv/', type: 'directory' },
      { name: 'srv/odd/', type: 'directory', uid: 1234, gid: 5678, mode: 0o2770 },
      { name: 'srv/odd/suid-tool', content: '#!/bin/sh\n', mode: 0o4755 },
      { name: 'srv/odd/secret', content: 'psst\n', uid: 4242, gid: 4343, mode: 0o600 },
      { name: 'srv/odd/shared/', type: 'directory', mode: 0o1777 },
      { name: 'usr/local/bin/sgid-tool', content: '#!/bin/sh\n', gid: 50, mode: 0o2755 },
    ]);
    await pushImage(registry.host, 'world/debian', 'nossh', [base, odd]);
    ref = `${registry.host}/world/debian:nossh`;
  });
  after(async () => {
    await banger(['vm', 'delete', VM], env, 120_000);
    await banger(['daemon', 'stop'], env, 30_000);
    for (const pid of processesUnder(home)) process.kill(pid, 'SIGKILL');
    await registry?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('image pull says the image lacks openssh-server, how it will be installed and which mirror that needs', async () => {
    const r = await banger(['image', 'pull', ref, '--name', 'nossh'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /the image has no openssh-server: each VM's first boot installs openssh-server with apt \(apt-get update && apt-get install -y --no-install-recommends openssh-server\), which needs egress to deb\.debian\.org;/,
    );
    const img = JSON.parse((await banger(['--json', 'image', 'show', 'nossh'], env)).stdout) as ImageInfo;
    assert.deepEqual((img.meta.firstBoot as { hosts: string[] }).hosts, ['deb.debian.org'], 'the host comes from the image\'s /etc/apt/sources.list');
    assert.ok(img.kernelRef, 'the image boots with the catalog\'s default kernel');
  });

  it('vm run installs sshd at first boot from the Debian archive, then stat shows the layers\' owners and modes', async () => {
    const started = Date.now();
    const r = await banger(['vm', 'run', '--name', VM, '--image', 'nossh', '--', 'stat', '-c', '%n %u %g %a', ...Object.keys(ODD)], env);
    const secs = Math.round((Date.now() - started) / 1000);
    assert.equal(r.code, 0, `${r.stderr}\n(after ${secs}s)`);
    assert.deepEqual(r.stdout.trim().split('\n'), Object.entries(ODD).map(([p, s]) => `${p} ${s}`));
    assert.match(r.stderr, /fb: first boot installs openssh-server with apt \(the image has no sshd\); egress to deb\.debian\.org is open for it/);
    assert.match(r.stderr, /fb: banger-first-boot: running: apt-get install -y --no-install-recommends openssh-server/, 'the installer\'s progress is shown');
    assert.match(r.stderr, /fb: banger-first-boot: done/);
    assert.match(r.stderr, /fb: first boot done; the installer's egress to deb\.debian\.org is closed again/);
  });

  it('the guest\'s sshd came from the Debian archive through the proxy, and the egress is closed afterwards', async () => {
    const pkg = await banger(['vm', 'exec', VM, '--', 'dpkg-query', '-W', '-f', '${Status}', 'openssh-server'], env);
    assert.equal(pkg.stdout.trim(), 'install ok installed', pkg.stderr);
    const report = JSON.parse((await banger(['--json', 'vm', 'egress', VM], env)).stdout) as EgressReport;
    assert.ok(report.allowed.some((a) => a.name === 'deb.debian.org:80'), `the proxy carried the installer's fetches (${JSON.stringify(report.allowed)})`);
    assert.equal(report.nat, false);
    assert.equal(report.allow, undefined, 'the VM\'s own settings never held the installer\'s hosts');
    await banger(['vm', 'exec', VM, '--', 'sh', '-c', 'apt-get -o Acquire::Retries=0 update >/dev/null 2>&1; true'], env);
    const later = JSON.parse((await banger(['--json', 'vm', 'egress', VM], env)).stdout) as EgressReport;
    assert.ok(later.denied.some((d) => d.name === 'deb.debian.org:80'), `the archive is refused once the install is done (${JSON.stringify(later.denied)})`);
  });
});
