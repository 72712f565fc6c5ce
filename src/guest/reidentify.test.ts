/** The identity script: what it refuses to carry, and that it is valid sh carrying the new identity. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runUnchecked } from '../system/exec.js';
import { generateHostKey } from '../drivers/ssh/keys.js';
import { IDENTITY_OK, rekeyScript, reidentifyScript } from './reidentify.js';
import { HOST_KEY_PATH } from './sshd.js';

describe('reidentifyScript', () => {
  it('is valid sh that reseeds first, sets hostname, key and clock, and installs the host key', async () => {
    const hostKey = await generateHostKey('t');
    const entropy = randomBytes(64);
    const s = reidentifyScript({ hostname: 'kid-1', hostKey, entropy, now: new Date(1_700_000_000_123) });
    const syntax = await runUnchecked(['sh', '-n'], { input: s });
    assert.equal(syntax.code, 0, syntax.stderr);
    assert.ok(s.indexOf('/dev/urandom') < s.indexOf('hostname'), 'entropy is mixed in before anything else runs');
    const line = s.split('\n').find((l) => l.endsWith('> /dev/urandom'));
    assert.ok(line, 'the script writes to /dev/urandom');
    const r = await runUnchecked(['sh', '-c', `${line.replace('> /dev/urandom', '')} | od -An -tx1 -v`]);
    assert.equal(r.stdout.replace(/\s+/g, ''), entropy.toString('hex'), 'the host\'s bytes, byte for byte, written by printf');
    assert.ok(s.includes('date -u -s @1700000000.123'));
    for (const line of hostKey.privateKey.trim().split('\n')) assert.ok(s.includes(`'${line}'`));
    assert.ok(s.includes(hostKey.publicKey.trim().split(' ')[1]!));
    assert.ok(s.includes(`echo ${IDENTITY_OK}`));
    const other = reidentifyScript({ hostname: 'kid-1', hostKey, entropy: randomBytes(64), now: new Date(1_700_000_000_123) });
    assert.notEqual(other, s, 'every call carries its own entropy');
  });

  it('writes the private key byte for byte (one printf, no program started)', async () => {
    const hostKey = await generateHostKey('t');
    const s = reidentifyScript({ hostname: 'kid-1', hostKey, entropy: randomBytes(64), now: new Date() });
    const line = s.split('\n').find((l) => l.endsWith(`> ${HOST_KEY_PATH}.banger-new`));
    assert.ok(line, 'the script writes the new private key');
    const dir = mkdtempSync(join(tmpdir(), 'reid-'));
    try {
      const out = join(dir, 'key');
      const r = await runUnchecked(['sh', '-c', line.replace(`${HOST_KEY_PATH}.banger-new`, out)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(out, 'utf8'), hostKey.privateKey.trim() + '\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('in place (a restore over the guest channel) writes the same files where they belong and starts no mv', async () => {
    const hostKey = await generateHostKey('t');
    const id = { hostname: 'kid-1', hostKey, entropy: randomBytes(64), now: new Date() };
    const staged = reidentifyScript(id);
    const inPlace = reidentifyScript(id, { inPlace: true });
    assert.equal(staged.match(/^mv -f /gm)?.length, 4);
    assert.doesNotMatch(inPlace, /\bmv\b|banger-new/);
    for (const path of ['/etc/hostname', '/etc/hosts', HOST_KEY_PATH, `${HOST_KEY_PATH}.pub`]) {
      const write = (script: string, target: string) => script.split('\n').find((l) => l.endsWith(`> ${target}`))?.replace(/> \S+$/, '');
      assert.equal(write(inPlace, path), write(staged, `${path}.banger-new`), `${path} gets the same content`);
    }
  });

  it('the rekey of a running guest replaces its key pair by rename and leaves its hostname and clock alone', async () => {
    const hostKey = await generateHostKey('t');
    const entropy = randomBytes(64);
    const s = rekeyScript({ hostKey, entropy });
    const syntax = await runUnchecked(['sh', '-n'], { input: s });
    assert.equal(syntax.code, 0, syntax.stderr);
    assert.deepEqual(s.match(/^mv -f .*$/gm), [`mv -f ${HOST_KEY_PATH}.banger-new ${HOST_KEY_PATH}`, `mv -f ${HOST_KEY_PATH}.pub.banger-new ${HOST_KEY_PATH}.pub`]);
    assert.doesNotMatch(s, /\bdate\b|hostname|\/etc\/hosts/);
    const line = s.split('\n').find((l) => l.endsWith('> /dev/urandom'));
    assert.ok(line && s.indexOf(line) < s.indexOf(HOST_KEY_PATH), 'entropy is mixed in first');
    const r = await runUnchecked(['sh', '-c', `${line.replace('> /dev/urandom', '')} | od -An -tx1 -v`]);
    assert.equal(r.stdout.replace(/\s+/g, ''), entropy.toString('hex'));
    // The key files get what the restore's identity writes.
    const full = reidentifyScript({ hostname: 'kid-1', hostKey, entropy, now: new Date() });
    const write = (script: string, target: string) => script.split('\n').find((l) => l.endsWith(`> ${target}`));
    for (const path of [HOST_KEY_PATH, `${HOST_KEY_PATH}.pub`]) assert.equal(write(s, `${path}.banger-new`), write(full, `${path}.banger-new`), path);
    assert.ok(s.endsWith(`echo ${IDENTITY_OK}\n`));
    assert.throws(() => rekeyScript({ hostKey: { ...hostKey, privateKey: 'x\nrm -rf /' }, entropy }), /not an OpenSSH private key/);
    assert.throws(() => rekeyScript({ hostKey, entropy: Buffer.alloc(8) }), /32 bytes of entropy/);
  });

  it('refuses what could break out of the script', async () => {
    const hostKey = await generateHostKey('t');
    const entropy = randomBytes(64);
    const now = new Date();
    assert.throws(() => reidentifyScript({ hostname: "a'; rm -rf /", hostKey, entropy, now }), /not a DNS label/);
    assert.throws(() => reidentifyScript({ hostname: 'ok', hostKey: { ...hostKey, publicKey: "ssh-ed25519 AAAA' x" }, entropy, now }), /not an ssh-ed25519 public key/);
    assert.throws(() => reidentifyScript({ hostname: 'ok', hostKey: { ...hostKey, privateKey: 'BANGER_HOST_KEY\nrm -rf /' }, entropy, now }), /not an OpenSSH private key/);
    assert.throws(() => reidentifyScript({ hostname: 'ok', hostKey, entropy: Buffer.alloc(8), now }), /32 bytes of entropy/);
  });
});
