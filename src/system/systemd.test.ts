import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { resolveLayout } from '../config/paths.js';
import { runUnchecked, which } from './exec.js';
import { DAEMON_HARDENING, HELPER_HARDENING, missingHardening, PROTECTED_TREES, quoteExecArg, renderHelperUnit, renderUnit, systemdPresent, validUserName } from './systemd.js';
import { rewriteFileAtomic, writeFileAtomic } from './atomic-file.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'banger-systemd-'));
  dirs.push(d);
  return d;
}

test('renderUnit: the whole unit', () => {
  assert.equal(
    renderUnit({ nodePath: '/usr/bin/node', bangerdScript: '/opt/banger/dist/bin/bangerd.js' }),
    `[Unit]
Description=banger daemon (bangerd): development sandboxes on microVMs
After=network.target

[Service]
Type=simple
ExecStart=/usr/bin/node /opt/banger/dist/bin/bangerd.js --system
Restart=on-failure
RestartSec=2s
# Stop only bangerd itself: VMs keep running and are re-adopted when it starts again.
KillMode=process
RuntimeDirectory=banger
RuntimeDirectoryMode=0755
RuntimeDirectoryPreserve=yes
StateDirectory=banger
CacheDirectory=banger
NoNewPrivileges=yes
# /usr, /boot, /efi and /etc are read-only but for banger's own configuration directory.
ProtectSystem=full
ConfigurationDirectory=banger
ReadWritePaths=/etc/banger
ProtectHome=read-only
LockPersonality=yes
PrivateTmp=no

[Install]
WantedBy=multi-user.target
`,
  );
});

test('renderUnit: --owner runs the daemon as the owner, with no capability but CAP_NET_BIND_SERVICE, through the root helper', () => {
  const unit = renderUnit({ nodePath: '/usr/bin/node', bangerdScript: '/opt/b/bangerd.js', owner: 'alice' });
  assert.match(
    unit,
    /\nExecStart=\/usr\/bin\/node \/opt\/b\/bangerd\.js --system\nEnvironment=BANGER_OWNER=alice\nEnvironment=BANGER_HELPER_SOCKET=\/run\/banger-root\/helper\.sock\nUser=alice\n#[^\n]*\nExecStartPre=\+\/bin\/ln -sfn \/var\/lib\/banger\/ssh_config \/etc\/banger\/ssh_config\nRestart=on-failure\n/,
  );
  assert.match(unit, /\nWants=bangerd-root\.service\n/);
  assert.deepEqual(missingHardening(unit, DAEMON_HARDENING), []);
  assert.deepEqual(missingHardening(renderUnit({ nodePath: '/usr/bin/node', bangerdScript: '/opt/b/bangerd.js' }), DAEMON_HARDENING), ['RestrictSUIDSGID=yes', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE']);
  assert.throws(() => renderUnit({ nodePath: '/n', bangerdScript: '/b', owner: 'bad user' }), TypeError);
});

test('renderUnit: every directory of the system install that bangerd writes stays writable under ProtectSystem=full', () => {
  const unit = renderUnit({ nodePath: '/usr/bin/node', bangerdScript: '/opt/b/bangerd.js' });
  const setting = (key: string) => unit.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  assert.deepEqual(setting('ProtectSystem'), ['full']);
  assert.deepEqual(setting('NoNewPrivileges'), ['yes']);
  const writable = setting('ReadWritePaths').flatMap((v) => v.split(' '));
  const layout = resolveLayout({ env: {}, system: true });
  const protectedBy = (dir: string) => PROTECTED_TREES.find((t) => dir === t || dir.startsWith(`${t}/`));
  for (const dir of [layout.configDir, layout.stateDir, layout.cacheDir, layout.runtimeDir, dirname(layout.sshConfigPath), dirname(layout.socketPath)]) {
    if (protectedBy(dir)) assert.ok(writable.includes(dir), `${dir} is under read-only ${protectedBy(dir)} and not in ReadWritePaths`);
  }
  // systemd creates the configuration directory before it mounts the tree read-only, so ReadWritePaths finds it.
  assert.deepEqual(setting('ConfigurationDirectory'), [basename(layout.configDir)]);
  assert.equal(dirname(layout.configDir), '/etc');
});

test('renderUnit: systemd accepts every setting of the unit', { skip: which('systemd-analyze') ? undefined : 'systemd-analyze is not installed' }, async () => {
  const dir = tempDir();
  const script = join(dir, 'bangerd.js');
  writeFileSync(script, '');
  const unitFile = join(dir, 'bangerd.service');
  writeFileSync(unitFile, renderUnit({ nodePath: process.execPath, bangerdScript: script, owner: 'root' }));
  const r = await runUnchecked(['systemd-analyze', 'verify', '--man=no', unitFile], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no unknown or invalid setting');
});

test('renderHelperUnit: root with only the helper\'s capabilities, hardened, serving the owner', () => {
  const unit = renderHelperUnit({ nodePath: '/usr/bin/node', bangerdScript: '/opt/b/bangerd.js', owner: 'alice' });
  assert.match(unit, /\nExecStart=\/usr\/bin\/node \/opt\/b\/bangerd\.js --helper --owner alice --socket \/run\/banger-root\/helper\.sock\n/);
  assert.doesNotMatch(unit, /\nUser=/);
  assert.match(unit, /\nCapabilityBoundingSet=CAP_NET_ADMIN CAP_CHOWN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH\n/);
  assert.match(unit, /\nRuntimeDirectory=banger-root\nRuntimeDirectoryMode=0711\n/);
  assert.deepEqual(missingHardening(unit, HELPER_HARDENING), []);
  assert.deepEqual(missingHardening(unit.replace('ProtectSystem=strict', 'ProtectSystem=full'), HELPER_HARDENING), ['ProtectSystem=strict']);
  assert.throws(() => renderHelperUnit({ nodePath: '/n', bangerdScript: '/b', owner: 'x;y' }), TypeError);
});

test('renderUnit and renderHelperUnit: systemd accepts the split install\'s units', { skip: which('systemd-analyze') ? undefined : 'systemd-analyze is not installed' }, async () => {
  const dir = tempDir();
  const script = join(dir, 'bangerd.js');
  writeFileSync(script, '');
  writeFileSync(join(dir, 'bangerd-root.service'), renderHelperUnit({ nodePath: process.execPath, bangerdScript: script, owner: 'root' }));
  writeFileSync(join(dir, 'bangerd.service'), renderUnit({ nodePath: process.execPath, bangerdScript: script, owner: 'root' }));
  const r = await runUnchecked(['systemd-analyze', 'verify', '--man=no', join(dir, 'bangerd-root.service'), join(dir, 'bangerd.service')], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', 'no unknown or invalid setting');
});

test('rewriteFileAtomic writes through a link whose file does not exist yet, keeping the link (the owner\'s ssh_config)', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'etc'));
  mkdirSync(join(dir, 'state'));
  symlinkSync(join(dir, 'state', 'ssh_config'), join(dir, 'etc', 'ssh_config'));
  await rewriteFileAtomic(join(dir, 'etc', 'ssh_config'), 'Host a\n');
  assert.ok(lstatSync(join(dir, 'etc', 'ssh_config')).isSymbolicLink());
  assert.equal(readFileSync(join(dir, 'state', 'ssh_config'), 'utf8'), 'Host a\n');
  assert.deepEqual(readdirSync(join(dir, 'etc')), ['ssh_config'], 'no temporary beside the link');
  await rewriteFileAtomic(join(dir, 'etc', 'ssh_config'), 'Host b\n');
  assert.equal(readFileSync(join(dir, 'etc', 'ssh_config'), 'utf8'), 'Host b\n');
  assert.ok(lstatSync(join(dir, 'etc', 'ssh_config')).isSymbolicLink());
});

test('quoteExecArg: plain words stay, spaces are quoted, % and $ escaped', () => {
  assert.equal(quoteExecArg('/usr/bin/node'), '/usr/bin/node');
  assert.equal(quoteExecArg('/opt/my banger/bangerd.js'), '"/opt/my banger/bangerd.js"');
  assert.equal(quoteExecArg('/opt/100%/x'), '/opt/100%%/x');
  assert.equal(quoteExecArg('/opt/$HOME/x'), '"/opt/$$HOME/x"');
  assert.equal(quoteExecArg('/a"b\\c'), '"/a\\"b\\\\c"');
});

test('validUserName', () => {
  for (const ok of ['alice', '_svc', 'bob-2', 'machine$']) assert.ok(validUserName(ok), ok);
  for (const bad of ['', '1abc', 'a b', 'x;rm', '-opt', 'a'.repeat(40)]) assert.equal(validUserName(bad), false, bad);
});

test('systemdPresent needs the runtime directory and systemctl', () => {
  const dir = tempDir();
  const runtime = join(dir, 'run-systemd-system');
  assert.equal(systemdPresent({ runtimeDir: runtime, path: '/usr/bin:/bin' }), false);
  mkdirSync(runtime);
  assert.equal(systemdPresent({ runtimeDir: runtime, path: join(dir, 'empty') }), false);
});

test('writeFileAtomic replaces the file and leaves no temporary behind', () => {
  const dir = tempDir();
  const p = join(dir, 'bangerd.service');
  writeFileAtomic(p, 'one\n');
  writeFileAtomic(p, 'two\n');
  assert.equal(readFileSync(p, 'utf8'), 'two\n');
  assert.equal(statSync(p).mode & 0o777, 0o644);
  assert.deepEqual(readdirSync(dir), ['bangerd.service']);
});
