/**
 * The system install's split, with real processes inside a network namespace this file creates:
 * bangerd runs as a throwaway owner (no capability but CAP_NET_BIND_SERVICE, as its unit gives it)
 * in bridge mode with the fake driver, and banger's root helper runs as root with its unit's
 * capability set. The daemon makes the bridge, banger's tables and its pool of taps only through the
 * helper; the taps belong to the owner. Another user reaches neither socket; a member of the owner's
 * group reaches the daemon but cannot have it read the owner's files; nobody registers a root-only file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from '../api/client.js';
import { tryPing } from '../api/daemon-status.js';
import type { DoctorCheck } from '../api/types.js';
import { resolveLayout } from '../config/paths.js';
import { spawnDetached } from '../system/exec.js';
import { linkKind, listLinks, tapOwner } from '../system/netdev.js';
import { nftListText } from '../system/nft.js';
import { isAlive, signalProcess, waitForExit } from '../system/proc.js';
import type { LocalUser } from '../system/users.js';
import { BANGER_BIN } from '../testing/cli-process.js';
import { runInNetns } from '../testing/netns.js';
import { BANGERD, startRootHelper, type HelperProcess } from '../testing/root-helper-process.js';
import { addThrowawayUser, asUserArgv, removeThrowawayUser, runAsUser, socketClientArgv, throwawayUserSkip } from '../testing/throwaway-user.js';
import { writeTinyImageFiles } from '../testing/tiny-image.js';

const BRIDGE = 'bgsplit0';
const CAP_NET_BIND_SERVICE = 1n << 10n;

async function until(what: string, probe: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (runInNetns(import.meta.url, 'split system install', 200_000)) {
  describe('bangerd as its owner with the root helper', { skip: throwawayUserSkip(), timeout: 190_000 }, () => {
    let dir = '';
    let owner: LocalUser;
    let member: LocalUser;
    let stranger: LocalUser;
    let helper: HelperProcess | undefined;
    let daemonPid = 0;
    let socket = '';
    let files = { rootfs: '', kernel: '' };
    let secret = { rootfs: '', kernel: '' };

    const cli = (user: LocalUser, args: string[]) =>
      runAsUser(user, [process.execPath, BANGER_BIN, ...args], { env: { PATH: process.env.PATH, NO_COLOR: '1', BANGER_HOME: join(dir, `client-${user.name}`), BANGER_SOCKET: socket } });
    const daemonLog = () => (existsSync(join(dir, 'bangerd.out')) ? readFileSync(join(dir, 'bangerd.out'), 'utf8') : '');

    before(async () => {
      owner = await addThrowawayUser('bgo');
      member = await addThrowawayUser('bgm', [owner.name]);
      stranger = await addThrowawayUser('bgx');
      dir = mkdtempSync('/tmp/bgs-');
      chmodSync(dir, 0o711);
      mkdirSync(join(dir, 'root'), { mode: 0o711 });
      helper = await startRootHelper({ owner: owner.name, socket: join(dir, 'root', 'helper.sock'), bridges: [BRIDGE], logFile: join(dir, 'helper.log') });
      const home = join(dir, 'd');
      mkdirSync(home, { mode: 0o711 });
      chownSync(home, owner.uid, owner.gid);
      const env = { PATH: process.env.PATH, BANGER_HOME: home, BANGER_OWNER: owner.name, BANGER_HELPER_SOCKET: helper.socket, BANGER_FAKE_DRIVER: '{}' };
      const layout = resolveLayout({ env });
      socket = layout.socketPath;
      writeFileSync(
        layout.configFile,
        ['network_mode = "bridge"', `bridge_name = "${BRIDGE}"`, 'bridge_ip = "10.216.0.1"', 'cidr = 24', 'tap_pool_size = 2', 'dns_listen_addr = "127.0.0.1:0"', ''].join('\n'),
      );
      chownSync(layout.configFile, owner.uid, owner.gid);
      for (const u of [owner, member, stranger]) {
        mkdirSync(join(dir, `client-${u.name}`));
        chownSync(join(dir, `client-${u.name}`), u.uid, u.gid);
      }
      // As the daemon's unit runs it: the owner's ids, CAP_NET_BIND_SERVICE and nothing else, no_new_privs.
      const argv = [
        ...asUserArgv(owner, []).slice(0, -1),
        '--inh-caps=-all,+net_bind_service',
        '--ambient-caps=+net_bind_service',
        '--bounding-set=-all,+net_bind_service',
        '--no-new-privs',
        '--',
        process.execPath,
        BANGERD,
      ];
      daemonPid = spawnDetached(argv, { env, logFile: join(dir, 'bangerd.out') });
      await until('the daemon socket', () => existsSync(socket) || !isAlive(daemonPid)).catch(() => undefined);
      assert.ok(existsSync(socket), `the daemon listens:\n${daemonLog()}`);
      // The owner's own files; root-only copies; and a file only the owner may read.
      const mine = join(dir, 'mine');
      mkdirSync(mine);
      files = await writeTinyImageFiles(mine);
      for (const p of [mine, files.rootfs, files.kernel]) chownSync(p, owner.uid, owner.gid);
      chmodSync(mine, 0o700);
      const vault = join(dir, 'vault');
      mkdirSync(vault, { mode: 0o755 });
      secret = { rootfs: join(vault, 'rootfs.ext4'), kernel: join(vault, 'vmlinuz') };
      copyFileSync(files.rootfs, secret.rootfs);
      copyFileSync(files.kernel, secret.kernel);
      chmodSync(secret.rootfs, 0o600);
      chmodSync(secret.kernel, 0o600);
    });

    after(async () => {
      if (daemonPid) {
        signalProcess(daemonPid, 'SIGTERM');
        if (!(await waitForExit(daemonPid, 15_000))) signalProcess(daemonPid, 'SIGKILL');
      }
      await helper?.stop();
      for (const u of [member, stranger, owner]) await removeThrowawayUser(u);
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('runs as the owner without privileges but CAP_NET_BIND_SERVICE; its socket is 0660 for the owner\'s group', async () => {
      const status = readFileSync(`/proc/${daemonPid}/status`, 'utf8');
      assert.match(status, new RegExp(`^Uid:\\s+${owner.uid}\\s+${owner.uid}\\s+${owner.uid}\\s+${owner.uid}$`, 'm'));
      assert.equal(BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(status)![1]}`), CAP_NET_BIND_SERVICE);
      const st = statSync(socket);
      assert.equal(st.mode & 0o777, 0o660);
      assert.equal(st.uid, owner.uid);
      assert.equal(st.gid, owner.gid);
      const ping = await tryPing(new ApiClient(socket), 10_000);
      assert.equal(ping?.uid, owner.uid);
      assert.deepEqual(ping?.rootHelper, { socket: helper!.socket, reachable: true });
    });

    it('makes the bridge, banger\'s tables and its pool of taps through the helper; the taps are the owner\'s', async () => {
      await until('the tap pool', async () => (await listLinks()).filter((l) => /^bgtap\d+$/.test(l.name)).length === 2);
      assert.equal(await linkKind(BRIDGE), 'bridge');
      assert.match(await nftListText(['table', 'inet', 'banger']), new RegExp(`iifname "${BRIDGE}"`));
      for (const l of (await listLinks()).filter((x) => /^bgtap\d+$/.test(x.name))) {
        assert.equal(l.master, BRIDGE);
        assert.equal(await tapOwner(l.name), owner.uid, `${l.name} belongs to the owner`);
      }
      const done = helper!.log();
      assert.match(done, /"op":"ensure_bridge"/);
      assert.match(done, /"op":"nft_apply"/);
      assert.match(done, /"op":"add_tap"/);
      assert.match(done, new RegExp(`"msg":"request done","uid":${owner.uid}`), 'the daemon is the client, as its owner');
    });

    it('another user reaches neither the helper nor the daemon; a member of the owner\'s group reaches the daemon', async () => {
      assert.equal((await runAsUser(stranger, socketClientArgv(helper!.socket, { op: 'ping' }))).stdout.trim(), 'error EACCES');
      assert.equal((await runAsUser(member, socketClientArgv(helper!.socket, { op: 'ping' }))).stdout.trim(), 'error EACCES');
      const strangerPing = await cli(stranger, ['--json', 'daemon', 'status']);
      assert.doesNotMatch(strangerPing.stdout, new RegExp(`"pid":\\s*${daemonPid}\\b`));
      const memberPing = await cli(member, ['--json', 'daemon', 'status']);
      assert.equal(memberPing.code, 0, memberPing.stderr);
      assert.match(memberPing.stdout, new RegExp(`"pid":\\s*${daemonPid}\\b`));
    });

    it('nobody registers a root-only file, and a group member cannot have the daemon read the owner\'s', async () => {
      const rootOnly = await cli(owner, ['image', 'register', '--name', 'stolen', '--rootfs', secret.rootfs, '--kernel', files.kernel]);
      assert.notEqual(rootOnly.code, 0);
      assert.match(rootOnly.stderr, new RegExp(`--rootfs ${secret.rootfs}: permission denied for uid ${owner.uid}`));
      const borrowed = await cli(member, ['image', 'register', '--name', 'borrowed', '--rootfs', files.rootfs, '--kernel', files.kernel]);
      assert.notEqual(borrowed.code, 0);
      // An unprivileged daemon cannot see other users' processes, so it cannot tell who the member is: it refuses.
      assert.match(borrowed.stderr, new RegExp(`runs as uid ${owner.uid} and reads files a request names only for that user( \\(the sender could not be told\\)|, not for uid ${member.uid})`));
      const list = await cli(owner, ['--json', 'image', 'list']);
      assert.deepEqual(JSON.parse(list.stdout), [], 'nothing was registered');
      const own = await cli(owner, ['image', 'register', '--name', 'own', '--rootfs', files.rootfs, '--kernel', files.kernel]);
      assert.equal(own.code, 0, own.stderr);
    });

    it('banger doctor shows the helper in use and reachable', async () => {
      const r = await cli(owner, ['doctor', '--json']);
      const row = (JSON.parse(r.stdout) as { checks: DoctorCheck[] }).checks.find((c) => c.name === 'least-privilege');
      assert.ok(row, r.stdout + r.stderr);
      assert.equal(row.status, 'PASS', row.details.join('\n'));
      assert.match(row.details[0]!, new RegExp(`bangerd runs as uid ${owner.uid}; bridge, taps and nftables go through the root helper on .*helper\\.sock: reachable`));
    });
  });
}
