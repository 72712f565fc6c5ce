import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addSubidsCommand, formatRanges, freeSubidStart, subidRanges, usernsReadiness } from './subids.js';

test('subid ranges: by name or numeric uid, in file order; comments and malformed lines skipped', () => {
  const text = '# comment\nalice:100000:65536\nbob:165536:65536\n1000:300000:10\nalice:x:5\nalice:400000:0\n\nalice:500000:100\n';
  assert.deepEqual(subidRanges(text, { name: 'alice' }), [{ start: 100000, count: 65536 }, { start: 500000, count: 100 }]);
  assert.deepEqual(subidRanges(text, { name: 'alice', uid: 1000 }).length, 3);
  assert.deepEqual(subidRanges(text, { name: 'carol' }), []);
  assert.equal(formatRanges(subidRanges(text, { name: 'bob' })), '165536-231071');
});

test('userns readiness: mmdebstrap maps the first named range, so that one must be complete', () => {
  const base = { which: (c: string) => `/usr/bin/${c}`, sysctl: () => undefined };
  const short = usernsReadiness({ name: 'alice' }, { ...base, subuid: 'alice:1:10\nalice:100000:65536\n', subgid: 'alice:100000:65536\n' });
  assert.equal(short.ready, false);
  assert.match(short.problems[0]!, /first range in \/etc\/subuid \(1-10\) has 10 ids/);
  const ok = usernsReadiness({ name: 'alice' }, { ...base, subuid: 'alice:100000:65536\n', subgid: 'alice:100000:70000\n' });
  assert.deepEqual(ok, { ready: true, details: ['subuid 100000-165535', 'subgid 100000-169999', '/usr/bin/newuidmap, /usr/bin/newgidmap'], problems: [], hints: [] });
  const missing = usernsReadiness({ name: 'alice' }, { ...base, subuid: undefined, subgid: '' });
  assert.deepEqual(missing.problems, ['/etc/subuid is missing or unreadable', 'alice has no range in /etc/subgid']);
  const apparmor = usernsReadiness({ name: 'alice' }, { ...base, subuid: 'alice:100000:65536', subgid: 'alice:100000:65536', sysctl: (k) => (k === 'kernel/apparmor_restrict_unprivileged_userns' ? '1' : undefined) });
  assert.match(apparmor.problems[0]!, /AppArmor restricts user namespaces/);
});

test('the suggested usermod range overlaps no range in /etc/subuid or /etc/subgid', () => {
  assert.equal(freeSubidStart('', ''), 100000, 'where useradd starts');
  assert.equal(freeSubidStart('alice:100000:65536\n', 'bob:300000:65536\n'), 365536, 'after the last range of either file');
  assert.equal(addSubidsCommand('carol', 'alice:100000:65536\n', ''), 'sudo usermod --add-subuids 165536-231071 --add-subgids 165536-231071 carol');
  const r = usernsReadiness({ name: 'carol' }, { subuid: 'alice:100000:65536\n', subgid: 'alice:100000:65536\n', which: (c) => `/usr/bin/${c}`, sysctl: () => undefined });
  assert.deepEqual(r.hints, ['sudo usermod --add-subuids 165536-231071 --add-subgids 165536-231071 carol']);
});
