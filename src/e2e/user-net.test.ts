/**
 * User-mode networking end to end with real QEMU (TCG): default deny (the guest reaches neither the
 * outside nor the host's loopback), --nat and --allow through banger's egress proxy (switched live),
 * published ports on each VM's own loopback address.
 *
 * Where things run, and why: the daemon (and so QEMU and the egress proxy) runs inside a network
 * namespace this test creates ("vmhost"), joined by a veth pair to a second namespace ("upstream")
 * that stands for the outside world and serves HTTP on 10.231.7.2:8099, named up.test in vmhost's
 * /etc/hosts (`ip netns exec` mounts /etc/netns/<ns>/hosts over it). The guest's egress goes out
 * through the daemon's sockets in vmhost, so it can reach the upstream without any traffic leaving
 * the test's namespaces. HTTP servers on vmhost's own 127.0.0.1:8098 and on its veth address
 * 10.231.7.1:8097 are "the host's services" the guest must never reach: the guest tries slirp's
 * gateway 10.0.2.2 (mapped to the host's loopback unless restricted) directly, and the host's
 * addresses and names through the proxy.
 *
 * The guest also tries the daemon's socket path and other host ports on 10.0.2.2, and the test reads
 * the VM's QEMU from the host: seccomp on, CAP_NET_BIND_SERVICE alone, files open for writing only in
 * the VM's own directory; and the egress connector slirp starts for a guest connection, contained the
 * same way.
 *
 * One boot: "closed" (created without --nat), shared by the checks; --nat and --allow are set live.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveLayout } from '../config/paths.js';
import { randomBytes } from 'node:crypto';
import { BANGER_BIN, e2eSkipReason, processesUnder, type ProcResult, killLeftovers } from '../testing/cli-process.js';
import { sharedImage, sharedImageSkipReason } from '../testing/shared-image.js';
import { run, runUnchecked, spawnDetached, which } from '../system/exec.js';
import { findProcesses, signalProcess } from '../system/proc.js';
import type { EgressReport, VMInfo } from '../api/types.js';
import type { VMPorts } from '../api/ports.js';
import { GUEST_HTTPD } from '../testing/guest-httpd.js';

function skipReason(): string | undefined {
  const e2e = e2eSkipReason() ?? sharedImageSkipReason();
  if (e2e) return e2e;
  if (!which('socat')) return 'socat is not installed (apt-get install socat)';
  if (!which('ip')) return 'ip is not installed (apt-get install iproute2)';
  if (!which('dig')) return 'dig is not installed (scripts/install-deps.sh --test)';
  return undefined;
}

const tag = randomBytes(3).toString('hex');
const NS = `bun-vm-${tag}`;
const UP = `bun-up-${tag}`;
const UPSTREAM = '10.231.7.2';
const NETNS_ETC = `/etc/netns/${NS}`;
const SERVER = `require('http').createServer((q,s)=>s.end(process.argv[1])).listen(Number(process.argv[2]),process.argv[3])`;

/**
 * A guest fetch of `url` as a user's tool does it (with the http_proxy the seed set); the output is
 * the body, or "FAIL <curl exit code>" (22: the proxy refused). `flags` go to curl first.
 */
const fetchIn = (url: string, flags = '') => ['sh', '-c', `curl -sf --max-time 8 ${flags} ${url} || echo FAIL $?`];
const PROXY = 'http://10.0.2.100:3128';

describe('user-mode networking end to end', { skip: skipReason(), timeout: 75 * 60_000 }, () => {
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  const servers: number[] = [];
  const ns = (name: string, argv: string[]) => ['ip', 'netns', 'exec', name, ...argv];
  const banger = async (args: string[], timeoutMs = 30 * 60_000): Promise<ProcResult> => {
    const r = await runUnchecked(ns(NS, [process.execPath, BANGER_BIN, ...args]), { env: { ...process.env, NO_COLOR: '1', ...env }, timeoutMs });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  };
  const exec = async (vm: string, argv: string[]) => {
    const r = await banger(['vm', 'exec', vm, '--', ...argv]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };

  before(async () => {
    const img = await sharedImage();
    home = mkdtempSync('/tmp/bun-');
    env = { BANGER_HOME: home };
    // One VM at a time, smaller than the default, and a patient SSH wait: TCG boots on a busy 2-core host can take many minutes.
    const layout = resolveLayout({ env });
    mkdirSync(layout.configDir, { recursive: true });
    writeFileSync(layout.configFile, 'ssh_wait_timeout = "25m"\nwarm_pool = false\n[vm_defaults]\nmemory_mib = 1024\n');
    for (const n of [NS, UP]) await run(['ip', 'netns', 'add', n]);
    mkdirSync(NETNS_ETC, { recursive: true });
    writeFileSync(join(NETNS_ETC, 'hosts'), `127.0.0.1 localhost\n10.231.7.1 vmhost.test\n${UPSTREAM} up.test\n`);
    await run(['ip', 'link', 'add', `bv${tag}`, 'netns', NS, 'type', 'veth', 'peer', 'name', `bu${tag}`, 'netns', UP]);
    await run(ns(NS, ['ip', 'addr', 'add', '10.231.7.1/24', 'dev', `bv${tag}`]));
    await run(ns(UP, ['ip', 'addr', 'add', `${UPSTREAM}/24`, 'dev', `bu${tag}`]));
    for (const [n, dev] of [[NS, `bv${tag}`], [UP, `bu${tag}`]] as const) {
      await run(ns(n, ['ip', 'link', 'set', 'lo', 'up']));
      await run(ns(n, ['ip', 'link', 'set', dev, 'up']));
    }
    await run(ns(NS, ['ip', 'route', 'add', 'default', 'via', UPSTREAM]));
    servers.push(spawnDetached(ns(UP, [process.execPath, '-e', SERVER, 'upstream-ok', '8099', UPSTREAM])));
    servers.push(spawnDetached(ns(NS, [process.execPath, '-e', SERVER, 'host-loopback-leak', '8098', '127.0.0.1'])));
    servers.push(spawnDetached(ns(NS, [process.execPath, '-e', SERVER, 'host-address-leak', '8097', '10.231.7.1'])));
    const reg = await banger(['image', 'register', '--name', 'debian-bookworm', '--rootfs', img.rootfsPath, '--kernel', img.kernelPath, '--initrd', img.initrdPath]);
    assert.equal(reg.code, 0, reg.stderr);
  });

  after(async () => {
    for (const vm of ['closed', 'open']) await banger(['vm', 'delete', vm], 120_000).catch(() => undefined);
    await banger(['daemon', 'stop'], 30_000).catch(() => undefined);
    killLeftovers(home);
    for (const pid of servers) signalProcess(pid, 'SIGKILL');
    for (const n of [NS, UP]) await runUnchecked(['ip', 'netns', 'del', n]);
    rmSync(NETNS_ETC, { recursive: true, force: true });
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const hostGet = async (url: string) => (await runUnchecked(ns(NS, ['curl', '-s', '--max-time', '5', url]), { timeoutMs: 20_000 })).stdout;
  const show = async (vm: string) => JSON.parse((await banger(['--json', 'vm', 'show', vm])).stdout) as VMInfo;
  let closedAddr = '';

  it('without --nat the guest reaches neither the upstream nor the host loopback', async () => {
    const r = await banger(['vm', 'run', '-d', '--name', 'closed', '-p', '8080:8000']);
    assert.equal(r.code, 0, r.stderr);
    closedAddr = (await show('closed')).sshHost ?? '';
    assert.match(closedAddr, /^127\.77\.\d+\.\d+$/);
    assert.equal(await exec('closed', ['sh', '-c', 'echo "$http_proxy $https_proxy"']), `${PROXY} ${PROXY}`, 'the seed set the guest proxy');
    const started = await banger(['vm', 'session', 'start', 'closed', '--name', 'proxy', '--', 'sh', '-c', 'echo "$http_proxy $https_proxy"']);
    assert.equal(started.code, 0, started.stderr);
    const sessionOut = await banger(['vm', 'session', 'logs', 'closed', 'proxy', '-f']);
    assert.equal(sessionOut.stdout.trim(), `${PROXY} ${PROXY}`, 'a session (a systemd unit, which reads no /etc/environment) has the proxy too');
    assert.equal(await exec('closed', fetchIn(`http://${UPSTREAM}:8099/`)), 'FAIL 22', 'the proxy refuses');
    assert.match(await exec('closed', fetchIn(`http://${UPSTREAM}:8099/`, "--noproxy '*'")), /^FAIL/, 'no packet leaves slirp');
    assert.match(await exec('closed', fetchIn('http://10.0.2.2:8098/', "--noproxy '*'")), /^FAIL/);
  });

  it('contained: the guest reaches no host service (10.0.2.2, the loopback server, the daemon socket); QEMU and its egress connector are sandboxed, hold no capability but binding ports, and QEMU writes only its VM\'s files', async () => {
    const sock = resolveLayout({ env }).socketPath;
    const { pid, sshPort, id } = await show('closed');
    const probe = [
      `for p in 8098 42069 22 ${sshPort ?? 22}; do r=$(curl -s --noproxy '*' --max-time 5 http://10.0.2.2:$p/ 2>&1); echo "10.0.2.2:$p $? $r"; done`,
      "r=$(curl -s --noproxy '*' --max-time 5 http://127.0.0.1:8098/ 2>&1); echo \"127.0.0.1:8098 $? $r\"",
      `if test -e '${sock}'; then echo "socket-file 0 present"; else echo "socket-file 1 absent"; fi`,
      `r=$(curl -s --noproxy '*' --max-time 5 --unix-socket '${sock}' http://banger/v1/ping 2>&1); echo "socket $? $r"`,
    ].join('; ');
    const lines = (await exec('closed', ['sh', '-c', probe])).split('\n');
    assert.equal(lines.length, 7, lines.join('\n'));
    for (const line of lines) {
      const [what, code] = line.split(' ');
      assert.notEqual(code, '0', `the guest reached ${what}: ${line}`);
      assert.doesNotMatch(line, /host-loopback-leak|version/);
    }
    // The VM's QEMU, seen from the host.
    assert.ok(pid);
    assertContained(readFileSync(`/proc/${pid}/status`, 'utf8'), 'qemu');
    // The connector slirp starts for a guest connection to the proxy (held open by the guest for a while).
    await exec('closed', ['sh', '-c', `setsid -f bash -c 'exec 3<>/dev/tcp/10.0.2.100/3128; sleep 60' >/dev/null 2>&1 </dev/null`]);
    const vmDir = join(resolveLayout({ env }).vmsDir, id);
    let connector: number | undefined;
    for (let i = 0; i < 100 && connector === undefined; i++) {
      connector = findProcesses((argv) => /(^|\/)socat$/.test(argv[0] ?? '') && argv.some((a) => a.includes(`${vmDir}/`)))[0];
      if (connector === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(connector, 'slirp started the connector for the guest connection');
    assertContained(readFileSync(`/proc/${connector}/status`, 'utf8'), 'the connector');
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!target.startsWith('/') || target.startsWith('/dev/') || target.startsWith('/proc/')) continue;
      const flags = Number.parseInt(/^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8);
      if ((flags & 3) === 0) continue; // read-only (kernel, initrd, the image a disk is layered over)
      assert.ok(target.startsWith(`${vmDir}/`), `qemu holds ${target} open for writing, outside the VM's own directory`);
    }
  });

  it('closed.vm resolves through banger\'s DNS to the VM\'s own address, and ssh closed.vm works with banger\'s ssh_config', async () => {
    const dig = await runUnchecked(ns(NS, ['dig', '@127.0.0.1', '-p', '42069', '+short', '+time=2', '+tries=2', 'closed.vm', 'A']), { timeoutMs: 20_000 });
    assert.equal(dig.stdout.trim(), closedAddr);
    const ssh = await runUnchecked(ns(NS, ['ssh', '-F', resolveLayout({ env }).sshConfigPath, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=20', 'closed.vm', 'echo', 'reached']), { timeoutMs: 60_000 });
    assert.equal(ssh.code, 0, ssh.stderr);
    assert.equal(ssh.stdout.trim(), 'reached');
  });

  it('a published port answers on the VM address; vm forward adds one live; a taken host port is refused', async () => {
    await exec('closed', ['sh', '-c', 'setsid -f perl -e "$0" 8000 0.0.0.0 >/dev/null 2>&1 </dev/null; setsid -f perl -e "$0" 8001 127.0.0.1 >/dev/null 2>&1 </dev/null', GUEST_HTTPD]);
    // perl takes a while to start in an emulated guest; wait until the guest server listens.
    await exec('closed', ['sh', '-c', 'for i in $(seq 120); do ss -Htln | grep -q ":8000 " && ss -Htln | grep -q ":8001 " && exit 0; sleep 1; done; exit 1']);
    assert.equal((await hostGet(`http://${closedAddr}:8080/`)).trim(), 'guest-ok');
    const fwd = await banger(['vm', 'forward', 'closed', '8081:8000']);
    assert.equal(fwd.code, 0, fwd.stderr);
    assert.equal((await hostGet(`http://${closedAddr}:8081/`)).trim(), 'guest-ok');
    servers.push(spawnDetached(ns(NS, [process.execPath, '-e', SERVER, 'taken', '8082', closedAddr])));
    await new Promise((r) => setTimeout(r, 1000));
    const taken = await banger(['vm', 'forward', 'closed', '8082:8000']);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /8082 is taken/);
    const ports = JSON.parse((await banger(['--json', 'vm', 'ports', 'closed'])).stdout) as VMPorts;
    assert.deepEqual(ports.published, [{ hostPort: 8080, guestPort: 8000 }, { hostPort: 8081, guestPort: 8000 }]);
    const web = ports.sockets.find((s) => s.proto === 'tcp' && s.port === 8000);
    assert.equal(web?.process, 'perl');
    assert.match(web?.url ?? '', new RegExp(`^http://${closedAddr.replaceAll('.', '\\.')}:808[01]/$`));
    assert.match(ports.sockets.find((s) => s.port === 8001)?.warning ?? '', /loopback/);
    assert.ok(ports.sockets.some((s) => s.port === 22 && s.process === 'sshd'));
  });

  it('vm set --nat applies live: the guest reaches the upstream (plain and CONNECT), never the host\'s loopback or addresses', async () => {
    const r = await banger(['vm', 'set', 'closed', '--nat']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /next start/);
    assert.equal(await exec('closed', fetchIn(`http://${UPSTREAM}:8099/`)), 'upstream-ok');
    assert.equal(await exec('closed', fetchIn('http://up.test:8099/', '--proxytunnel')), 'upstream-ok', 'a CONNECT tunnel, as https uses');
    assert.match(await exec('closed', fetchIn('http://10.0.2.2:8098/', "--noproxy '*'")), /^FAIL/, 'slirp still maps nothing to the host');
    for (const url of ['http://127.0.0.1:8098/', 'http://localhost:8098/', 'http://10.231.7.1:8097/', 'http://vmhost.test:8097/']) {
      assert.equal(await exec('closed', fetchIn(url, `-x ${PROXY} --noproxy ''`)), 'FAIL 22', url);
    }
    const e = JSON.parse((await banger(['--json', 'vm', 'egress', 'closed'])).stdout) as EgressReport;
    assert.ok(e.allowed.some((a) => a.name === `${UPSTREAM}:8099`), JSON.stringify(e.allowed));
    assert.ok(e.denied.some((d) => d.name === '127.0.0.1:8098') && e.denied.some((d) => d.name === '10.231.7.1:8097'), JSON.stringify(e.denied));
  });

  it('vm set --no-nat closes it again at once; --allow opens only the names listed', async () => {
    assert.equal((await banger(['vm', 'set', 'closed', '--no-nat'])).code, 0);
    assert.equal(await exec('closed', fetchIn(`http://${UPSTREAM}:8099/`)), 'FAIL 22');
    const a = await banger(['vm', 'set', 'closed', '--allow', 'up.test']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(await exec('closed', fetchIn('http://up.test:8099/')), 'upstream-ok');
    assert.equal(await exec('closed', fetchIn(`http://${UPSTREAM}:8099/`)), 'FAIL 22', 'the same upstream by an address not in the allowlist');
    const e = JSON.parse((await banger(['--json', 'vm', 'egress', 'closed'])).stdout) as EgressReport;
    assert.deepEqual(e.allow, ['up.test']);
    assert.deepEqual(e.allowed.find((x) => x.name === 'up.test:8099')?.addresses, [UPSTREAM]);
    const said = await exec('closed', ['sh', '-c', `curl -s --max-time 8 http://${UPSTREAM}:8099/`]);
    assert.match(said, /10\.231\.7\.2 is not in the allowlist of vm closed.*banger vm set closed --allow 10\.231\.7\.2/, 'the refusal says why and how to open it');
  });

  it('stop removes the forwards and keeps them for the next start', async () => {
    assert.equal((await banger(['vm', 'stop', 'closed'])).code, 0);
    assert.equal((await hostGet(`http://${closedAddr}:8080/`)).trim(), '');
    assert.equal((await hostGet(`http://${closedAddr}:8081/`)).trim(), '');
    const ports = await banger(['vm', 'ports', 'closed']);
    assert.notEqual(ports.code, 0);
    assert.match(ports.stderr, /not running/);
    assert.deepEqual((await show('closed')).spec.ports, [{ hostPort: 8080, guestPort: 8000 }, { hostPort: 8081, guestPort: 8000 }], 'kept for the next start');
  });

  it('vm create --nat in user mode is accepted; delete leaves no process', async () => {
    const r = await banger(['vm', 'create', '--no-start', '--nat', '--name', 'open']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await show('open')).spec.nat, true);
    assert.equal((await banger(['vm', 'delete', 'open'])).code, 0);
    assert.equal((await banger(['vm', 'delete', 'closed'])).code, 0);
    assert.deepEqual(processesUnder(home), []);
  });
});

/** Seccomp filter on and no_new_privs; when the daemon is root, CAP_NET_BIND_SERVICE (bit 10) alone. */
function assertContained(status: string, what: string): void {
  assert.match(status, /^Seccomp:\s+2$/m, `${what}: seccomp sandbox on`);
  assert.match(status, /^NoNewPrivs:\s+1$/m, `${what}: no_new_privs`);
  if (process.geteuid?.() === 0 && which('setpriv')) {
    assert.match(status, /^CapEff:\s+0+400$/m, `${what}: CAP_NET_BIND_SERVICE alone (its published ports)`);
    assert.match(status, /^CapBnd:\s+0+400$/m, `${what}: and can regain nothing more`);
  }
}

