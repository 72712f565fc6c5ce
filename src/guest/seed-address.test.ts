/**
 * A trimmed boot's seed puts a static address on the network card itself (BANGER_SEED_NET=now), before
 * networkd gets the card from udev. The seed script runs for real here, with the real `ip`, against a
 * dummy card in a network namespace this file creates.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runUnchecked } from '../system/exec.js';
import { runInNetns } from '../testing/netns.js';
import { renderSeedFiles, type SeedConfig, type SeedNetwork } from './seed.js';
import { SEED_SCRIPT, SEED_UNIT, TRIMMED_SEED_UNIT } from './seed-script.js';

const CARD = 'eth0';

function config(network: SeedNetwork): SeedConfig {
  return {
    hostname: 'calm-otter',
    authorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2pU1f0Pv1Ex6mlkvT8SHkMCtLzfbDkpGByUkDMeX4f user@host'],
    hostKey: {
      privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n',
      publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC2pU1f0Pv1Ex6mlkvT8SHkMCtLzfbDkpGByUkDMeX4f test-host\n',
    },
    network,
    nameservers: ['10.0.2.3'],
  };
}

const STATIC: SeedNetwork = { mode: 'static', address: '10.0.2.15', prefix: 24, gateway: '10.0.2.2' };

interface IpAddr {
  flags: string[];
  addr_info: { family: string; local: string; prefixlen: number }[];
}

async function card(): Promise<IpAddr> {
  return (JSON.parse((await run(['ip', '-j', 'addr', 'show', 'dev', CARD])).stdout) as IpAddr[])[0]!;
}

async function defaultRoutes(): Promise<{ gateway?: string; dev?: string; protocol?: string }[]> {
  return JSON.parse((await run(['ip', '-j', '-4', 'route', 'show', 'default'])).stdout) as { gateway?: string; dev?: string; protocol?: string }[];
}

it('only the trimmed seed unit configures the card itself', () => {
  assert.match(TRIMMED_SEED_UNIT, /^Environment=.*\bBANGER_SEED_NET=now\b/m);
  assert.doesNotMatch(SEED_UNIT, /BANGER_SEED_NET/);
});

if (runInNetns(import.meta.url, 'seed puts the address on the card')) {
  describe('the seed script against a card in a network namespace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'banger-seed-address-'));
    const script = join(dir, 'banger-seed');

    /** Runs the script on a seed with `network`, writing files under a fresh root; returns what it logged. */
    async function applySeed(name: string, network: SeedNetwork, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string; root: string }> {
      const seedDir = join(dir, `${name}-seed`);
      mkdirSync(seedDir, { recursive: true });
      for (const f of renderSeedFiles(config(network))) writeFileSync(join(seedDir, f.name), f.content, { mode: f.mode });
      const root = join(dir, `${name}-root`);
      mkdirSync(join(root, 'etc'), { recursive: true });
      const r = await runUnchecked(['sh', script], { env: { ...process.env, BANGER_SEED_DIR: seedDir, BANGER_SEED_ROOT: root, ...env } });
      return { code: r.code, stderr: r.stderr, root };
    }

    before(() => writeFileSync(script, SEED_SCRIPT, { mode: 0o755 }));
    after(async () => {
      await runUnchecked(['ip', 'link', 'del', CARD]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('with no card yet, the rest of the seed is applied and the address is left to networkd', async () => {
      const r = await applySeed('nocard', STATIC, { BANGER_SEED_NET: 'now' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /no network card yet; its address is left to systemd-networkd/);
      assert.match(readFileSync(join(r.root, 'run/systemd/network/10-banger.network'), 'utf8'), /Address=10\.0\.2\.15\/24\nGateway=10\.0\.2\.2\n/);
      assert.equal(readFileSync(join(r.root, 'etc/hostname'), 'utf8'), 'calm-otter\n');
    });

    it('without BANGER_SEED_NET, or with a DHCP seed, the card is left alone', async () => {
      await run(['ip', 'link', 'add', CARD, 'type', 'veth', 'peer', 'name', 'bgt-peer']);
      for (const [name, network, env] of [
        ['untrimmed', STATIC, {}],
        ['dhcp', { mode: 'dhcp' }, { BANGER_SEED_NET: 'now' }],
      ] as const) {
        const r = await applySeed(name, network, env);
        assert.equal(r.code, 0, r.stderr);
        const c = await card();
        assert.ok(!c.flags.includes('UP'), `${name}: the card stays down`);
        assert.deepEqual(c.addr_info.filter((a) => a.family === 'inet'), [], `${name}: no address`);
      }
    });

    it('with BANGER_SEED_NET=now the card is up with the address and the default route, and a second run changes nothing', async () => {
      for (const name of ['first', 'again']) {
        const r = await applySeed(name, STATIC, { BANGER_SEED_NET: 'now' });
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /left to systemd-networkd/, `${name}: ${r.stderr}`);
        const c = await card();
        assert.ok(c.flags.includes('UP'), `${name}: the card is up`);
        assert.deepEqual(c.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`), ['10.0.2.15/24'], name);
        assert.deepEqual((await defaultRoutes()).map((x) => [x.gateway, x.dev, x.protocol]), [['10.0.2.2', CARD, 'static']], name);
      }
    });

    it('an address ip refuses is reported and the seed still completes', async () => {
      await run(['ip', 'link', 'set', CARD, 'down']);
      const r = await applySeed('refused', { mode: 'static', address: '10.0.3.15', prefix: 24, gateway: '192.0.2.1' }, { BANGER_SEED_NET: 'now' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`could not configure ${CARD}; its address is left to systemd-networkd`));
      assert.equal(readFileSync(join(r.root, 'etc/hostname'), 'utf8'), 'calm-otter\n');
    });
  });
}
