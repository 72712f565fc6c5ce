/**
 * Bridge mode end to end with real QEMU (TCG): the daemon runs inside a network namespace this file
 * creates, so the bridge, the taps and banger's nftables tables never touch the host's namespace. An
 * "upstream" namespace, joined by a veth pair, serves HTTP on two addresses and answers two names
 * through dnsmasq (banger's dns_upstream). Two VMs are booted once and shared:
 *   alpha: --nat (then --no-nat and --nat again, live)
 *   bravo: --allow name1.test (no NAT otherwise), -p 18090:8000
 * The run starts with isolate_vms at its default (true), where alpha cannot reach bravo's sshd, then
 * restarts the daemon with isolate_vms = false (the VMs keep running and are re-adopted), where it can
 * through `bravo.vm`; every later check runs against the re-adopted VMs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { VMPorts } from '../api/ports.js';
import type { EgressReport } from '../api/types.js';
import { run, runUnchecked, spawnPiped, which, type PipedChild } from '../system/exec.js';
import { banger, e2eSkipReason, type ProcResult, killLeftovers } from '../testing/cli-process.js';
import { GUEST_HTTPD, startGuestHttpd } from '../testing/guest-httpd.js';
import { runInNetns } from '../testing/netns.js';
import { sharedImage, sharedImageSkipReason } from '../testing/shared-image.js';

const BRIDGE_IP = '10.213.0.1';
const UP_DAEMON = '192.0.2.1';
const UP_ONE = '192.0.2.2';
const UP_TWO = '192.0.2.3';

function skipReason(): string | undefined {
  for (const tool of ['nft', 'dnsmasq', 'dig']) if (!which(tool)) return `${tool} is not installed`;
  return e2eSkipReason() ?? sharedImageSkipReason();
}

/** A node one-liner serving `body` over HTTP on each host:port given. */
const serve = (binds: [string, number, string][]) =>
  `const http = require('node:http'); for (const [h, p, b] of ${JSON.stringify(binds)}) http.createServer((q, r) => r.end(b + '\\n')).listen(p, h);`;

/** The body of GET url from this namespace (the daemon's), or the error's text. */
async function hostGet(url: string): Promise<string> {
  try {
    return await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
  } catch (err) {
    return `failed: ${String((err as Error).cause ?? err)}`;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port in this namespace. */
function listensOnLoopback(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

// The shared image is built (once, cached) in the host's namespace, where the Debian archive is reachable.
const prepareImage = async () => (skipReason() ? undefined : sharedImage());
if (runInNetns(import.meta.url, 'bridge mode end to end', 25 * 60_000, prepareImage)) {
  describe('bridge mode end to end', { skip: skipReason() }, () => {
    const up = `bgup-${process.pid}`;
    let home = '';
    let env: NodeJS.ProcessEnv = {};
    const children: PipedChild[] = [];
    const ok = (r: ProcResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`);
    const sh = (vm: string, script: string) => banger(['vm', 'exec', vm, '--', 'sh', '-c', script], env, 120_000);
    const fetchFrom = (vm: string, url: string) => sh(vm, `curl -sS --max-time 6 ${url}`);
    const egress = async (vm: string) => JSON.parse((await banger(['--json', 'vm', 'egress', vm], env)).stdout) as EgressReport;
    const table = async () => (await runUnchecked(['nft', 'list', 'table', 'inet', 'banger'])).stdout;
    const writeConfig = (extra: string[]) =>
      writeFileSync(
        join(home, 'config.toml'),
        [
          'network_mode = "bridge"',
          'warm_pool = false',
          'bridge_name = "bgbr0"',
          `bridge_ip = "${BRIDGE_IP}"`,
          'cidr = 24',
          'tap_pool_size = 2',
          `dns_upstream = "${UP_ONE}:53"`,
          'default_image_name = "deb"',
          'ssh_wait_timeout = "12m"',
          ...extra,
          '',
        ].join('\n'),
      );

    before(async () => {
      const img = await sharedImage();
      // The upstream namespace: two addresses with HTTP, dnsmasq answering name1/name2.
      await run(['ip', 'netns', 'add', up]);
      await run(['ip', 'link', 'add', 'bgup0', 'type', 'veth', 'peer', 'name', 'bgup1', 'netns', up]);
      await run(['ip', 'addr', 'add', `${UP_DAEMON}/24`, 'dev', 'bgup0']);
      await run(['ip', 'link', 'set', 'bgup0', 'up']);
      for (const a of [UP_ONE, UP_TWO]) await run(['ip', '-n', up, 'addr', 'add', `${a}/24`, 'dev', 'bgup1']);
      await run(['ip', '-n', up, 'link', 'set', 'bgup1', 'up']);
      await run(['ip', '-n', up, 'link', 'set', 'lo', 'up']);
      await run(['ip', '-n', up, 'route', 'add', 'default', 'via', UP_DAEMON]);
      children.push(spawnPiped(['ip', 'netns', 'exec', up, process.execPath, '-e', serve([[UP_ONE, 80, 'upstream-one'], [UP_TWO, 80, 'upstream-two']])]));
      // A service of the daemon's own namespace on every address: guests must never reach it.
      children.push(spawnPiped([process.execPath, '-e', serve([['0.0.0.0', 8081, 'host-port']])]));
      children.push(
        spawnPiped([
          'ip', 'netns', 'exec', up, 'dnsmasq', '--no-daemon', '--port=53', `--listen-address=${UP_ONE}`, '--bind-interfaces', '--no-resolv', '--no-hosts',
          `--address=/name1.test/${UP_ONE}`, `--address=/name2.test/${UP_TWO}`, '--local-ttl=60',
        ]),
      );

      home = mkdtempSync('/tmp/bbe-');
      env = { BANGER_HOME: home };
      writeConfig([]);
      ok(await banger(['image', 'register', '--name', 'deb', '--rootfs', img.rootfsPath, '--kernel', img.kernelPath, '--initrd', img.initrdPath], env), 'image register');
      // One boot at a time: two TCG boots at once on a small busy host can outlast the guest's device timeouts.
      ok(await banger(['vm', 'create', '--name', 'alpha', '--nat', '--vcpu', '1', '--memory', '512'], env), 'create alpha');
      ok(await banger(['vm', 'create', '--name', 'bravo', '--allow', 'name1.test', '-p', '18090:8000', '--vcpu', '1', '--memory', '512'], env), 'create bravo');
    });

    after(async () => {
      await banger(['vm', 'delete', 'alpha', 'bravo'], env, 120_000);
      await banger(['daemon', 'stop'], env, 30_000);
      killLeftovers(home);
      for (const c of children) c.kill('SIGTERM');
      await runUnchecked(['ip', 'netns', 'del', up]);
      rmSync(home, { recursive: true, force: true });
    });

    it('each VM has its own tap on the bridge and a static address from the lease table', async () => {
      // The address of the guest's uplink (the default route's device); docker0 in the image has its own.
      const ips = await Promise.all(['alpha', 'bravo'].map(async (vm) => (await sh(vm, "ip -4 -o addr show scope global dev $(ip -4 route show default | awk '{print $5; exit}') | awk '{print $4}'")).stdout.trim()));
      assert.deepEqual(ips.sort(), ['10.213.0.2/24', '10.213.0.3/24']);
      const links = JSON.parse((await run(['ip', '-j', 'link', 'show', 'master', 'bgbr0'])).stdout) as { ifname: string }[];
      assert.ok(links.filter((l) => l.ifname.startsWith('bgtap')).length >= 2, 'two taps (and the pool) on the bridge');
    });

    it('isolate_vms = true (the default): alpha resolves bravo.vm but cannot reach its sshd; with isolate_vms = false after a daemon restart it can', async () => {
      const reach = "getent hosts bravo.vm && timeout 8 bash -c 'exec 3<>/dev/tcp/bravo.vm/22; head -c 7 <&3'";
      const blocked = await sh('alpha', reach);
      assert.notEqual(blocked.code, 0, `isolated: alpha must not reach bravo.vm:22, got ${blocked.stdout}`);
      assert.match(blocked.stdout, /10\.213\.0\.\d+\s+bravo\.vm/, 'the name resolves all the same');
      assert.doesNotMatch(blocked.stdout, /SSH-2\.0/);

      writeConfig(['isolate_vms = false']);
      ok(await banger(['daemon', 'stop'], env, 60_000), 'daemon stop (VMs keep running)');
      let r = await sh('alpha', reach);
      // The guest may still hold the failed neighbour entry of the isolated attempt for a moment.
      for (let i = 0; i < 3 && r.code !== 0; i++) r = await sh('alpha', `sleep 2; ${reach}`);
      ok(r, 'alpha -> bravo.vm:22');
      assert.match(r.stdout, /10\.213\.0\.\d+\s+bravo\.vm/);
      assert.match(r.stdout, /SSH-2\.0/);
      const dig = await run(['dig', '+short', '+time=2', '+tries=1', `@${BRIDGE_IP}`, 'bravo.vm', 'A']);
      assert.match(dig.stdout.trim(), /^10\.213\.0\.\d+$/, 'banger answers .vm names on the bridge address');
      const tcp = await run(['dig', '+tcp', '+short', '+time=2', '+tries=1', `@${BRIDGE_IP}`, 'bravo.vm', 'A']);
      assert.equal(tcp.stdout.trim(), dig.stdout.trim(), 'and over TCP');
      const status = JSON.parse((await banger(['--json', 'daemon', 'status'], env)).stdout) as { guestDnsAddr?: string };
      assert.equal(status.guestDnsAddr, `${BRIDGE_IP}:53`);
      const dns = JSON.parse((await banger(['--json', 'dns', 'status'], env)).stdout) as { guest?: { addr?: string; answers: boolean } };
      assert.deepEqual(dns.guest, { addr: `${BRIDGE_IP}:53`, answers: true, link: 'bgbr0' });
    });

    it('--nat reaches upstream; a guest never reaches a port of the host namespace', async () => {
      const r = await fetchFrom('alpha', `http://${UP_TWO}/`);
      ok(r, 'alpha -> upstream');
      assert.equal(r.stdout.trim(), 'upstream-two');
      const host = await fetchFrom('alpha', `http://${BRIDGE_IP}:8081/`);
      assert.notEqual(host.code, 0, 'the host namespace\'s port 8081 is closed to guests');
    });

    it('--allow name1.test: only name1 is answered and reachable; name2 and plain addresses are refused and shown in vm egress', async () => {
      const one = await fetchFrom('bravo', 'http://name1.test/');
      ok(one, 'bravo -> name1.test');
      assert.equal(one.stdout.trim(), 'upstream-one');
      const two = await fetchFrom('bravo', 'http://name2.test/');
      assert.notEqual(two.code, 0, 'name2.test is not resolved for bravo');
      const direct = await fetchFrom('bravo', `http://${UP_TWO}/`);
      assert.notEqual(direct.code, 0, 'an address the allowlist does not hold is dropped');
      const e = await egress('bravo');
      assert.deepEqual(e.allow, ['name1.test']);
      const allowed = e.allowed.find((x) => x.name === 'name1.test');
      assert.ok(allowed && allowed.count >= 1 && allowed.addresses?.includes(UP_ONE), JSON.stringify(e));
      assert.ok(e.denied.some((x) => x.name === 'name2.test' && x.count >= 1), JSON.stringify(e));
      assert.ok((e.droppedPackets ?? 0) >= 1, 'the dropped connection is counted');
      const refused = e.refusedConnections?.find((c) => c.address === UP_TWO && c.protocol === 'tcp' && c.port === 80);
      assert.ok(refused && refused.count >= 1 && Date.parse(refused.last) > 0, `the refused connection is recorded with its destination: ${JSON.stringify(e.refusedConnections)}`);
      const text = await banger(['vm', 'egress', 'bravo'], env);
      assert.match(text.stdout, /refused names:\n\s+name2\.test/);
      assert.match(text.stdout, new RegExp(`refused connections:\\n(.*\\n)*\\s+${UP_TWO.replace(/\./g, '\\.')} tcp/80 `));
    });

    it('vm set --no-nat and --nat change a running VM at once', async () => {
      ok(await banger(['vm', 'set', 'alpha', '--no-nat'], env), 'set --no-nat');
      assert.notEqual((await fetchFrom('alpha', `http://${UP_ONE}/`)).code, 0, 'no egress after --no-nat');
      ok(await banger(['vm', 'set', 'alpha', '--nat'], env), 'set --nat');
      const back = await fetchFrom('alpha', `http://${UP_ONE}/`);
      ok(back, 'egress again after --nat');
      assert.equal(back.stdout.trim(), 'upstream-one');
    });

    it('published ports answer on 127.0.0.1 (create -p, and vm forward live); vm ports lists them and NAME.vm endpoints; a taken port is refused', async () => {
      for (const vm of ['alpha', 'bravo']) ok(await banger(['vm', 'exec', vm, '--', 'sh', '-c', startGuestHttpd([[8000, '0.0.0.0'], [8001, '127.0.0.1']]), GUEST_HTTPD], env, 180_000), `httpd in ${vm}`);
      assert.equal((await hostGet('http://127.0.0.1:18090/')).trim(), 'guest-ok', 'create -p published bravo\'s port at its start');
      assert.equal(await listensOnLoopback(18080), false);
      const fwd = await banger(['vm', 'forward', 'alpha', '18080:8000'], env);
      ok(fwd, 'vm forward');
      assert.match(fwd.stdout, /^127\.0\.0\.1:18080 -> 8000$/m);
      assert.equal((await hostGet('http://127.0.0.1:18080/')).trim(), 'guest-ok', 'vm forward publishes on the running VM at once');
      children.push(spawnPiped([process.execPath, '-e', serve([['127.0.0.1', 18081, 'squatter']])]));
      for (let i = 0; i < 50 && !(await listensOnLoopback(18081)); i++) await new Promise((r) => setTimeout(r, 100));
      const taken = await banger(['vm', 'forward', 'alpha', '18081:8000'], env);
      assert.notEqual(taken.code, 0);
      assert.match(taken.stderr, /host port 127\.0\.0\.1:18081 is taken/);
      assert.match(taken.stderr, /OTHERPORT:8000/, 'with the way out');

      const ports = JSON.parse((await banger(['--json', 'vm', 'ports', 'alpha'], env)).stdout) as VMPorts;
      assert.deepEqual(ports.published, [{ hostPort: 18080, guestPort: 8000 }]);
      assert.equal(ports.hostAddr, '127.0.0.1');
      assert.match(ports.guestAddr ?? '', /^10\.213\.0\.\d+$/);
      const web = ports.sockets.find((x) => x.proto === 'tcp' && x.port === 8000);
      assert.equal(web?.endpoint, 'alpha.vm:8000');
      assert.equal(web?.forward, '127.0.0.1:18080');
      assert.equal(web?.url, 'http://alpha.vm:8000/', 'it answers HTTP');
      assert.equal(ports.sockets.find((x) => x.proto === 'tcp' && x.port === 22)?.endpoint, 'alpha.vm:22', 'every port outside the guest\'s loopback has its NAME.vm endpoint');
      const lo = ports.sockets.find((x) => x.port === 8001);
      assert.equal(lo?.endpoint, undefined);
      assert.match(lo?.warning ?? '', /loopback/);
      const text = await banger(['vm', 'ports', 'alpha'], env);
      assert.match(text.stdout, /http:\/\/alpha\.vm:8000\/, 127\.0\.0\.1:18080/);

      ok(await banger(['vm', 'forward', 'alpha', '--remove', '18080'], env), 'vm forward --remove');
      assert.equal(await listensOnLoopback(18080), false, '--remove closes it at once');
      ok(await banger(['vm', 'forward', 'alpha', '18080:8000'], env), 'vm forward again');
    });

    it('after delete: no tap, no VM object in banger\'s table, no DNS answer, no published port listening', async () => {
      ok(await banger(['vm', 'delete', 'alpha', 'bravo'], env, 120_000), 'delete');
      const links = JSON.parse((await run(['ip', '-j', 'link', 'show', 'master', 'bgbr0'])).stdout) as { ifname: string }[];
      const pool = links.map((l) => l.ifname);
      assert.ok(pool.length <= 2, `only the idle pool is left: ${pool.join(' ')}`);
      const t = await table();
      assert.doesNotMatch(t, /vm-|nets-|dns-|deny-|10\.213\.0\.[23]/, t);
      const dig = await run(['dig', '+short', '+time=2', '+tries=1', `@${BRIDGE_IP}`, 'bravo.vm', 'A']);
      assert.equal(dig.stdout.trim(), '');
      const hostDig = await run(['dig', '+short', '+time=2', '+tries=1', '-p', '42069', '@127.0.0.1', 'alpha.vm', 'A']);
      assert.equal(hostDig.stdout.trim(), '');
      for (const port of [18080, 18090]) assert.equal(await listensOnLoopback(port), false, `nothing listens on 127.0.0.1:${port}`);
    });
  });
}
