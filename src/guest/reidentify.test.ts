/** The identity script: what it refuses to carry, and that it is valid sh carrying the new identity. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { runUnchecked } from '../system/exec.js';
import { generateHostKey } from '../drivers/ssh/keys.js';
import { IDENTITY_OK, reidentifyScript } from './reidentify.js';

describe('reidentifyScript', () => {
  it('is valid sh that reseeds first, sets hostname, key and clock, and proves sshd serves the key', async () => {
    const hostKey = await generateHostKey('t');
    const entropy = randomBytes(64);
    const s = reidentifyScript({ hostname: 'kid-1', hostKey, entropy, now: new Date(1_700_000_000_123) });
    const syntax = await runUnchecked(['sh', '-n'], { input: s });
    assert.equal(syntax.code, 0, syntax.stderr);
    assert.ok(s.indexOf('/dev/urandom') < s.indexOf('hostname'), 'entropy is mixed in before anything else runs');
    assert.ok(s.includes(entropy.toString('base64')));
    assert.ok(s.includes('date -u -s @1700000000.123'));
    assert.ok(s.includes(hostKey.privateKey.trim()));
    assert.ok(s.includes(hostKey.publicKey.trim().split(' ')[1]!));
    assert.ok(s.includes(`echo ${IDENTITY_OK}`));
    const other = reidentifyScript({ hostname: 'kid-1', hostKey, entropy: randomBytes(64), now: new Date(1_700_000_000_123) });
    assert.notEqual(other, s, 'every call carries its own entropy');
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
