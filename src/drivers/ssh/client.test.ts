import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SSHTarget } from '../../api/types.js';
import { run, runUnchecked, which } from '../../system/exec.js';
import { classifySSHFailure, KEX_ALGORITHMS, makeTarget, shellJoin, shellQuote, sshArgv, sshFailure } from './client.js';

const target: SSHTarget = {
  vm: 'dev',
  host: '172.16.0.5',
  port: 22,
  user: 'root',
  keyPath: '/s/ssh/id_ed25519',
  knownHostsPath: '/s/ssh/known_hosts',
  hostKeyAlias: 'banger-0f3a',
};

const COMMON = [
  'ssh',
  '-F',
  '/dev/null',
  '-i',
  '/s/ssh/id_ed25519',
  '-o',
  'IdentitiesOnly=yes',
  '-o',
  'UserKnownHostsFile=/s/ssh/known_hosts',
  '-o',
  'GlobalKnownHostsFile=/dev/null',
  '-o',
  'StrictHostKeyChecking=yes',
  '-o',
  'HostKeyAlias=banger-0f3a',
  '-o',
  'UpdateHostKeys=no',
  '-o',
  'CheckHostIP=no',
  '-o',
  'PreferredAuthentications=publickey',
  '-o',
  `KexAlgorithms=${KEX_ALGORITHMS}`,
  '-o',
  'LogLevel=ERROR',
];

void test('makeTarget', () => {
  assert.deepEqual(
    makeTarget({ sshKeyPath: '/s/ssh/id_ed25519', knownHostsPath: '/s/ssh/known_hosts' }, { name: 'dev', id: '0f3a' }, { host: '172.16.0.5' }),
    target,
  );
  assert.equal(makeTarget({ sshKeyPath: 'k', knownHostsPath: 'h' }, { name: 'd', id: '1' }, { host: '127.0.0.1', port: 2222 }).port, 2222);
});

void test('sshArgv: interactive shell', () => {
  assert.deepEqual(sshArgv(target), [...COMMON, '-p', '22', '-t', '--', 'root@172.16.0.5']);
});

void test('sshArgv: a shared connection when the target has a control path', () => {
  assert.deepEqual(sshArgv({ ...target, controlPath: '/s/vms/0f3a/run/ssh.ctl' }), [
    ...COMMON,
    '-o',
    'ControlMaster=auto',
    '-o',
    'ControlPath=/s/vms/0f3a/run/ssh.ctl',
    '-o',
    'ControlPersist=600',
    '-p',
    '22',
    '-t',
    '--',
    'root@172.16.0.5',
  ]);
});

void test('sshArgv: command, batch mode, no tty, one quoted remote command line', () => {
  assert.deepEqual(sshArgv(target, { command: ['sh', '-c', 'exit 7'], connectTimeoutS: 5 }), [
    ...COMMON,
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-p',
    '22',
    '-T',
    '--',
    'root@172.16.0.5',
    "sh -c 'exit 7'",
  ]);
});

void test('sshArgv: forced tty, log file, extra options, other port', () => {
  assert.deepEqual(
    sshArgv(
      { ...target, host: '127.0.0.1', port: 2222 },
      { command: ['top'], tty: true, logFile: '/tmp/l', extra: ['-L', '8080:localhost:80'], connectTimeoutS: 2.2 },
    ),
    [...COMMON, '-o', 'ConnectTimeout=3', '-E', '/tmp/l', '-p', '2222', '-tt', '-L', '8080:localhost:80', '--', 'root@127.0.0.1', 'top'],
  );
  assert.deepEqual(sshArgv(target, { command: ['ls'], tty: 'auto' }), [...COMMON, '-p', '22', '-t', '--', 'root@172.16.0.5', 'ls']);
  assert.deepEqual(sshArgv(target, { command: [], batch: true, tty: false }), [
    ...COMMON,
    '-o',
    'BatchMode=yes',
    '-p',
    '22',
    '-T',
    '--',
    'root@172.16.0.5',
  ]);
});

void test('shellQuote leaves plain words alone and single-quotes the rest', () => {
  assert.equal(shellQuote('ls'), 'ls');
  assert.equal(shellQuote('/usr/bin/env'), '/usr/bin/env');
  assert.equal(shellQuote('-la'), '-la');
  assert.equal(shellQuote('a@b:c,d+e%f'), 'a@b:c,d+e%f');
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote('a b'), "'a b'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
  assert.equal(shellQuote('$(id)'), "'$(id)'");
  assert.equal(shellQuote('~'), "'~'");
  assert.equal(shellQuote('FOO=bar'), "'FOO=bar'");
  assert.equal(shellQuote('*'), "'*'");
  assert.equal(shellJoin(['printf', '%s\\n', 'a b']), "printf '%s\\n' 'a b'");
});

/** A small deterministic PRNG, so a failure can be reproduced. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = [
  ...'abcXYZ019_-./:@%+,=~',
  ...' \t\n\r',
  ...`'"\`\\$!?*[](){}<>|&;#^`,
  '$(',
  '${HOME}',
  "'\\''",
  'é',
  '日本',
  '\u0001',
  '\u007f',
];

function randomArg(rand: () => number): string {
  const len = Math.floor(rand() * 12);
  let s = '';
  for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
  return s;
}

const shells = ['sh', 'bash', 'dash'].filter((s) => which(s));

for (const shell of shells) {
  void test(`shellQuote round-trips random arguments through ${shell} -c`, async () => {
    const rand = prng(0xba9e5 + shell.length);
    for (let round = 0; round < 25; round++) {
      const args = Array.from({ length: 20 }, () => randomArg(rand));
      const r = await run([shell, '-c', `printf '%s\\000' ${shellJoin(args)}`]);
      const got = r.stdout.split('\0');
      assert.equal(got.pop(), '');
      assert.deepEqual(got, args, `round ${round}: ${shellJoin(args)}`);
    }
  });
}

void test('shellJoin: a quoted word is never an assignment, a glob, an expansion or a second command', async () => {
  const r = await runUnchecked(['sh', '-c', shellJoin(['FOO=bar'])]);
  assert.equal(r.code, 127);
  const r2 = await run(['sh', '-c', shellJoin(['printf', '%s|', '*', '~', '$HOME', '$(echo hi)', 'a;b', 'a&&b', '#c'])]);
  assert.equal(r2.stdout, '*|~|$HOME|$(echo hi)|a;b|a&&b|#c|');
  const r3 = await runUnchecked(['sh', '-c', shellJoin(['sh', '-c', 'exit 7'])]);
  assert.equal(r3.code, 7);
});

void test('classifySSHFailure reads ssh diagnostics', () => {
  assert.equal(
    classifySSHFailure('WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\nHost key verification failed.'),
    'host_key_mismatch',
  );
  assert.equal(
    classifySSHFailure('No ED25519 host key is known for banger-1 and you have requested strict checking.\nHost key verification failed.'),
    'host_key_unknown',
  );
  assert.equal(classifySSHFailure('root@127.0.0.1: Permission denied (publickey).'), 'auth');
  assert.equal(classifySSHFailure('ssh: connect to host 127.0.0.1 port 2: Connection refused'), 'refused');
  assert.equal(classifySSHFailure('ssh: connect to host 10.0.0.9 port 22: Connection timed out'), 'timeout');
  assert.equal(classifySSHFailure('ssh: connect to host 10.0.0.9 port 22: No route to host'), 'unreachable');
  assert.equal(classifySSHFailure('kex_exchange_identification: Connection closed by remote host'), 'closed');
  assert.equal(classifySSHFailure('something else'), 'other');
});

void test('sshFailure: a host key mismatch reads as a possible man-in-the-middle', () => {
  const e = sshFailure(target, 'WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!\nHost key verification failed.\n');
  assert.equal(e.kind, 'host_key_mismatch');
  assert.equal(e.code, 'operation_failed');
  assert.match(e.message, /man-in-the-middle/);
  assert.match(e.message, /vm dev/);
  const refused = sshFailure(target, 'ssh: connect to host 172.16.0.5 port 22: Connection refused\n');
  assert.equal(refused.code, 'unavailable');
  assert.match(refused.message, /Connection refused/);
});
