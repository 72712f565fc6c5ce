import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeBin, fakeDoctorEnv } from '../testing.js';
import { checkImageBuild } from './image-build.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n';

function host(files: Record<string, string>, tools: string[] = ['newuidmap', 'newgidmap'], o: Parameters<typeof fakeDoctorEnv>[1] = {}) {
  const bin = fakeBin(Object.fromEntries(tools.map((t) => [t, ''])));
  return fakeDoctorEnv(bin, { uid: 1000, readText: (p) => ({ '/etc/passwd': PASSWD, ...files })[p], ...o });
}

test('image-build: root builds with mmdebstrap --mode=root', async () => {
  const r = await checkImageBuild(host({}, [], { uid: 0 }));
  assert.equal(r.status, 'PASS');
  assert.match(r.details[0]!, /as root: image build installs with mmdebstrap --mode=root/);
});

test('image-build without root: ranges, newuidmap and newgidmap make it ready', async () => {
  const r = await checkImageBuild(host({ '/etc/subuid': 'bob:100000:65536\nalice:165536:65536\n', '/etc/subgid': 'alice:165536:65536\n' }));
  assert.equal(r.status, 'PASS', JSON.stringify(r));
  assert.match(r.details[0]!, /as alice \(not root\).*mmdebstrap --mode=unshare/);
  assert.ok(r.details.includes('subuid 165536-231071'));
  assert.ok(r.details.includes('subgid 165536-231071'));
});

test('image-build without root: no range for the user fails with the usermod line', async () => {
  const r = await checkImageBuild(host({ '/etc/subuid': 'bob:100000:65536\n', '/etc/subgid': '' }));
  assert.equal(r.status, 'FAIL');
  assert.ok(r.details.includes('alice has no range in /etc/subuid'));
  assert.ok(r.details.includes('alice has no range in /etc/subgid'));
  // bob has 100000-165535: the suggested range starts after it.
  assert.equal(r.fix, 'sudo usermod --add-subuids 165536-231071 --add-subgids 165536-231071 alice');
});

test('image-build without root: a short range, missing uidmap tools and disabled user namespaces are each named', async () => {
  const r = await checkImageBuild(
    host({ '/etc/subuid': 'alice:100000:1000\n', '/etc/subgid': 'alice:100000:65536\n', '/proc/sys/user/max_user_namespaces': '0\n' }, []),
  );
  assert.equal(r.status, 'FAIL');
  assert.ok(r.details.some((d) => /first range in \/etc\/subuid \(100000-100999\) has 1000 ids; mmdebstrap needs 65536/.test(d)), r.details.join('\n'));
  assert.ok(r.details.includes('newuidmap and newgidmap not found'));
  assert.ok(r.details.some((d) => /max_user_namespaces = 0/.test(d)));
  assert.match(r.fix!, /usermod --add-subuids/);
  assert.match(r.fix!, /apt-get install uidmap/);
  assert.match(r.fix!, /sysctl -w user.max_user_namespaces/);
});

test('image-build follows the uid of a running daemon', async () => {
  const ping = () => Promise.resolve({ uid: 0 } as never);
  const r = await checkImageBuild(host({}, [], { uid: 1000, ping }));
  assert.equal(r.status, 'PASS');
  assert.match(r.details[0]!, /^bangerd runs as root/);
});

test('image-build: a daemon with no_new_privs (the hardened system unit) cannot map ids, and says how to build anyway', async () => {
  const files = { '/etc/subuid': 'alice:100000:65536\n', '/etc/subgid': 'alice:100000:65536\n' };
  const ping = () => Promise.resolve({ uid: 1000, pid: 4242 } as never);
  const running = await checkImageBuild(host({ ...files, '/proc/4242/status': 'Name:\tnode\nNoNewPrivs:\t1\nSeccomp:\t2\n' }, undefined, { ping }));
  assert.equal(running.status, 'FAIL');
  assert.ok(running.details.some((d) => /no_new_privs \(NoNewPrivileges=yes/.test(d)), running.details.join('\n'));
  assert.match(running.fix!, /daemon started outside the hardened unit/);
  assert.equal((await checkImageBuild(host({ ...files, '/proc/4242/status': 'NoNewPrivs:\t0\n' }, undefined, { ping }))).status, 'PASS');
  const unit = '[Service]\nUser=alice\nNoNewPrivileges=yes\n';
  const stopped = await checkImageBuild(host({ ...files, '/etc/systemd/system/bangerd.service': unit }));
  assert.equal(stopped.status, 'FAIL');
  assert.match(stopped.details[0]!, /^bangerd would run as alice/);
});
