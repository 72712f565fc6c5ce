import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BangerError } from '../../api/errors.js';
import { describePlan, installPlan, isSourceFile, mirrorHosts, osReleaseOf, parseOsRelease } from './sshd-plan.js';

/** os-release files as the official images ship them (trimmed to the keys that matter). */
const FIXTURES = {
  debian: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
  ubuntu: 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n',
  mint: 'NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\n',
  alpine: 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n',
  fedora: 'NAME="Fedora Linux"\nVERSION="41 (Container Image)"\nID=fedora\nVERSION_ID=41\n',
  rocky: 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n',
  arch: 'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n',
  tumbleweed: 'NAME="openSUSE Tumbleweed"\nID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n',
  nixos: 'NAME=NixOS\nID=nixos\nPRETTY_NAME="NixOS 24.05 (Uakari)"\n',
};

test('os-release: quoted and unquoted values, escapes, comments', () => {
  const kv = parseOsRelease('# comment\nNAME="A \\"quoted\\" name"\nID=plain\nVERSION=\'single\'\nbad line\nEMPTY=\n');
  assert.deepEqual(kv, { NAME: 'A "quoted" name', ID: 'plain', VERSION: 'single', EMPTY: '' });
  assert.deepEqual(osReleaseOf(FIXTURES.rocky), { id: 'rocky', idLike: ['rhel', 'centos', 'fedora'] });
});

test('each distro family gets its package manager and package names', () => {
  const sshd = { sshd: true, init: false };
  const want: Record<string, [string, string, string]> = {
    debian: ['apt', 'debian', 'apt-get update && apt-get install -y --no-install-recommends openssh-server'],
    ubuntu: ['apt', 'ubuntu', 'apt-get update && apt-get install -y --no-install-recommends openssh-server'],
    mint: ['apt', 'ubuntu', 'apt-get update && apt-get install -y --no-install-recommends openssh-server'],
    alpine: ['apk', 'alpine', 'apk add --no-cache openssh-server'],
    fedora: ['dnf', 'fedora', 'dnf install -y openssh-server'],
    rocky: ['dnf', 'rhel', 'dnf install -y openssh-server'],
    arch: ['pacman', 'arch', 'pacman -Sy --noconfirm --needed openssh'],
    tumbleweed: ['zypper', 'opensuse-tumbleweed', 'zypper --non-interactive install openssh-server'],
  };
  for (const [name, [manager, via, line]] of Object.entries(want)) {
    const plan = installPlan(osReleaseOf(FIXTURES[name as keyof typeof FIXTURES]), sshd);
    assert.equal(plan.manager, manager, name);
    assert.equal(plan.via, via, name);
    assert.equal(describePlan(plan), line, name);
  }
});

test('an image without an init system gets the family\'s init packages too; nothing needed is no commands', () => {
  assert.deepEqual(installPlan(osReleaseOf(FIXTURES.debian), { sshd: true, init: true }).packages, ['openssh-server', 'systemd', 'systemd-sysv']);
  assert.deepEqual(installPlan(osReleaseOf(FIXTURES.alpine), { sshd: false, init: true }).packages, ['openrc']);
  assert.deepEqual(installPlan(osReleaseOf(FIXTURES.fedora), { sshd: false, init: false }).commands, []);
});

test('an unknown distro or a missing os-release is a clear error naming what was found', () => {
  assert.throws(() => installPlan(osReleaseOf(FIXTURES.nixos), { sshd: true, init: false }), (err: unknown) => {
    assert.ok(err instanceof BangerError);
    assert.equal(err.code, 'unavailable');
    assert.match(err.message, /does not know how to install openssh-server on NixOS 24\.05 \(Uakari\) \(ID=nixos\)/);
    assert.match(err.hint ?? '', /debian\/ubuntu \(apt\)/);
    return true;
  });
  assert.throws(() => installPlan(undefined, { sshd: true, init: false }), /no \/etc\/os-release/);
  assert.throws(() => installPlan(osReleaseOf('NAME=x\n'), { sshd: true, init: false }), /no ID in it/);
});

/** Package sources as the images ship them (trimmed). */
const SOURCES: Record<string, [keyof typeof FIXTURES, Record<string, string>, string[]]> = {
  'debian deb822 (official image)': ['debian', { '/etc/apt/sources.list.d/debian.sources': 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n' }, ['deb.debian.org']],
  'debian one-line (mmdebstrap), a mirror of its own and a comment': ['debian', { '/etc/apt/sources.list': '# deb http://old.example/debian bookworm main\ndeb http://deb.debian.org/debian bookworm main\ndeb [signed-by=/k.gpg] https://mirror.example.org/debian-security bookworm-security main\n' }, ['deb.debian.org', 'mirror.example.org']],
  'ubuntu': ['ubuntu', { '/etc/apt/sources.list.d/ubuntu.sources': 'Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\n\nTypes: deb\nURIs: http://security.ubuntu.com/ubuntu/\n' }, ['archive.ubuntu.com', 'security.ubuntu.com']],
  'alpine': ['alpine', { '/etc/apk/repositories': 'https://dl-cdn.alpinelinux.org/alpine/v3.20/main\nhttps://dl-cdn.alpinelinux.org/alpine/v3.20/community\n' }, ['dl-cdn.alpinelinux.org']],
  'fedora': ['fedora', { '/etc/yum.repos.d/fedora.repo': '[fedora]\n#baseurl=http://download.example/pub/fedora/linux/releases/$releasever/\nmetalink=https://mirrors.fedoraproject.org/metalink?repo=fedora-$releasever&arch=$basearch\n' }, ['mirrors.fedoraproject.org']],
  'arch': ['arch', { '/etc/pacman.d/mirrorlist': '#Server = https://commented.example/$repo\nServer = https://geo.mirror.pkgbuild.com/$repo/os/$arch\n' }, ['geo.mirror.pkgbuild.com']],
  'tumbleweed': ['tumbleweed', { '/etc/zypp/repos.d/repo-oss.repo': '[repo-oss]\nbaseurl=http://download.opensuse.org/tumbleweed/repo/oss/\n' }, ['download.opensuse.org']],
};

test('the mirror hosts come from each family\'s own source files, uncommented lines only', () => {
  for (const [what, [distro, files, hosts]] of Object.entries(SOURCES)) {
    const plan = installPlan(osReleaseOf(FIXTURES[distro]), { sshd: true, init: false });
    for (const path of Object.keys(files)) assert.ok(isSourceFile(plan, path), `${what}: ${path} is a source file`);
    assert.deepEqual(mirrorHosts(plan, Object.values(files)), hosts, what);
  }
  const apt = installPlan(osReleaseOf(FIXTURES.debian), { sshd: true, init: false });
  assert.equal(isSourceFile(apt, '/etc/apt/sources.list.d/sub/x.list'), false, 'only files directly in the directory');
  assert.equal(isSourceFile(apt, '/etc/apt/sources.list.d/x.list.save'), false);
  assert.equal(isSourceFile(apt, '/etc/apt/apt.conf'), false);
});

test('without sources the family\'s default mirror is named (Ubuntu and derivatives its own)', () => {
  const hostsOf = (f: keyof typeof FIXTURES) => mirrorHosts(installPlan(osReleaseOf(FIXTURES[f]), { sshd: true, init: false }), []);
  assert.deepEqual(hostsOf('debian'), ['deb.debian.org']);
  assert.deepEqual(hostsOf('ubuntu'), ['archive.ubuntu.com', 'security.ubuntu.com']);
  assert.deepEqual(hostsOf('mint'), ['archive.ubuntu.com', 'security.ubuntu.com']);
  assert.deepEqual(hostsOf('alpine'), ['dl-cdn.alpinelinux.org']);
  assert.deepEqual(hostsOf('rocky'), ['mirrors.fedoraproject.org']);
  assert.deepEqual(hostsOf('arch'), ['geo.mirror.pkgbuild.com']);
  assert.deepEqual(hostsOf('tumbleweed'), ['download.opensuse.org']);
  assert.deepEqual(mirrorHosts(installPlan(osReleaseOf(FIXTURES.debian), { sshd: true, init: false }), ['# only a comment\n']), ['deb.debian.org']);
});
