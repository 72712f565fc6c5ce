/**
 * Workspaces end to end with real QEMU, on one VM booted from the shared debian-bookworm image: a
 * checkout with every kind of change goes in with identical content and modes; the guest's edits,
 * deletes, renames and a commit come back through diff, export and apply; apply refuses a
 * conflicting host edit; [[file_sync]] entries arrive at start with their modes, and a missing host
 * path is only a warning; a guest session (a systemd unit) survives the CLI exiting and a daemon
 * SIGKILL, takes input through send, keeps its output, and its status is recorded when killed; the
 * tooling bootstrap installs an `npm:` tool from the npm registry through the egress allowlist, and it
 * answers by name in vm exec, a login shell and a session; the host's git identity is the guest's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PingResult, VMInfo, WebInfo } from '../api/types.js';
import type { SessionInfo } from '../api/sessions.js';
import { freeLoopbackPort } from '../system/net.js';
import { browserSkip, launchChromium, openWebTerminal, waitForTerminal } from '../testing/browser.js';
import type { PrepareResult } from '../sdk/index.js';
import { runUnchecked } from '../system/exec.js';
import { pidAlive } from '../system/proc.js';
import { banger, BANGER_BIN, e2eSkipReason, processesUnder } from '../testing/cli-process.js';
import { sharedImage, sharedImageSkipReason } from '../testing/shared-image.js';
import { expectedTree, gitIn, makeWorkspaceRepo, TREE_STATE_SCRIPT, treeState } from '../testing/workspace-repo.js';

const skip = e2eSkipReason() ?? sharedImageSkipReason();
const VM = 'ws';
const GUEST = '/root/repo';
const HOST_CAS = '/usr/local/share/ca-certificates';

describe('workspaces end to end (QEMU)', { skip, timeout: 40 * 60_000 }, () => {
  let home = '';
  let env: NodeJS.ProcessEnv = {};
  let repo = '';
  let created = { code: null as number | null, stdout: '', stderr: '' };
  const cli = (...args: string[]) => banger(args, env);
  const guestTree = async (): Promise<string[]> => {
    const r = await cli('vm', 'exec', VM, '--', 'bash', '-c', TREE_STATE_SCRIPT, 'bash', GUEST);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l !== '');
  };
  const guestSh = async (script: string): Promise<string> => {
    const r = await cli('vm', 'exec', VM, '--', 'sh', '-c', script);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const prepare = async (...extra: string[]): Promise<PrepareResult> => {
    const r = await cli('--json', 'vm', 'workspace', 'prepare', VM, repo, ...extra);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as PrepareResult;
  };

  before(async () => {
    home = mkdtempSync('/tmp/bw-');
    env = { BANGER_HOME: home };
    const sync = join(home, 'user');
    mkdirSync(join(sync, '.tool', 'sub'), { recursive: true });
    writeFileSync(join(sync, 'token.json'), '{"token":"secret"}\n');
    writeFileSync(join(sync, 'tool.sh'), '#!/bin/sh\necho tool\n');
    writeFileSync(join(sync, '.tool', 'config'), 'a=1\n');
    chmodSync(join(sync, '.tool', 'config'), 0o640);
    writeFileSync(join(sync, '.tool', 'sub', 'run'), '#!/bin/sh\n');
    chmodSync(join(sync, '.tool', 'sub', 'run'), 0o750);
    writeFileSync(
      join(home, 'config.toml'),
      [
        // A loaded 2-core host under TCG can take minutes to boot.
        'ssh_wait_timeout = "20m"',
        // The web UI, for the browser terminal into this VM.
        `web_listen_addr = "127.0.0.1:${await freeLoopbackPort()}"`,
        'warm_pool = false',
        `[[file_sync]]\nhost = "${sync}/token.json"\nguest = "~/.config/agent/token.json"`,
        `[[file_sync]]\nhost = "${sync}/tool.sh"\nguest = "/root/bin/tool"\nmode = "0755"`,
        `[[file_sync]]\nhost = "${sync}/.tool"\nguest = "~/.tool"`,
        `[[file_sync]]\nhost = "${sync}/not-there"\nguest = "~/not-there"`,
        '',
      ].join('\n'),
    );
    const img = await sharedImage();
    const reg = await cli('image', 'register', '--name', 'ws-img', '--rootfs', img.rootfsPath, '--kernel', img.kernelPath, '--initrd', img.initrdPath);
    assert.equal(reg.code, 0, reg.stderr);
    const prom = await cli('image', 'promote', 'ws-img');
    assert.equal(prom.code, 0, prom.stderr);
    created = await banger(['vm', 'create', '--name', VM, '--image', 'ws-img'], env, 25 * 60_000);
    assert.equal(created.code, 0, created.stderr);
    repo = join(home, 'src', 'repo');
    await makeWorkspaceRepo(repo);
  });

  after(async () => {
    await banger(['vm', 'delete', VM], env, 120_000);
    await banger(['daemon', 'stop'], env, 30_000);
    for (const pid of processesUnder(home)) process.kill(pid, 'SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });

  it('the web UI terminal runs a command in the VM and shows its output', { skip: browserSkip() }, async () => {
    const web = await cli('--json', 'web');
    assert.equal(web.code, 0, web.stderr);
    const browser = await launchChromium();
    try {
      const page = await openWebTerminal(browser, (JSON.parse(web.stdout) as WebInfo).url!, VM);
      await page.keyboard.type('uname -a\n');
      await waitForTerminal(page, /^Linux ws \d+\.\d+\S* .*GNU\/Linux$/m, 60_000);
    } finally {
      await browser.close();
    }
  });

  it('file_sync: a file with the default 0600, one with its mode, a directory with its own modes; a missing path warns', async () => {
    assert.match(created.stderr, /file_sync\[3\] \(.*\/not-there -> ~\/not-there\): .* does not exist on the host; skipped/);
    const out = await guestSh(
      'cd /root && stat -c "%n %a %U" .config/agent/token.json bin/tool .tool/config .tool/sub/run && cat .config/agent/token.json && test ! -e not-there && echo absent',
    );
    assert.equal(
      out,
      ['.config/agent/token.json 600 root', 'bin/tool 755 root', '.tool/config 640 root', '.tool/sub/run 750 root', '{"token":"secret"}', 'absent', ''].join('\n'),
    );
  });

  it('the golden image has what agents reach for: python3, cc, jq, rsync, mise, and docker running a locally built image', async () => {
    const out = await guestSh(
      [
        'set -e',
        'python3 -c "import sys, venv; print(\'python\', sys.version_info[0])"',
        "printf 'int main(void) { return 42; }\\n' > /tmp/t.c && cc -o /tmp/t /tmp/t.c",
        '/tmp/t || echo "cc exit $?"',
        'echo \'{"a":[1,2,3]}\' | jq -c ".a | length"',
        'mkdir -p /tmp/rs/src && echo hi > /tmp/rs/src/f && rsync -a /tmp/rs/src/ /tmp/rs/dst/ && cat /tmp/rs/dst/f',
        'mise --version | cut -d" " -f1 | grep -qE "^20[0-9]{2}[.]" && echo mise ok',
        'for t in rg unzip gpg make pip3 git curl; do command -v $t >/dev/null || echo "missing $t"; done',
        'systemctl is-enabled docker.socket apt-daily.timer || true',
        // Nothing started dockerd at boot: docker.socket starts it (and containerd) on the first docker command.
        'systemctl is-active docker.service containerd.service || true',
        'timeout 600 sh -c "until docker info >/dev/null 2>&1; do sleep 2; done"',
        // A local image from the guest's own dash and libc: no registry involved.
        'd=$(mktemp -d) && mkdir -p $d/bin $d/lib/x86_64-linux-gnu $d/lib64',
        'cp /bin/dash $d/bin/sh && cp /lib/x86_64-linux-gnu/libc.so.6 $d/lib/x86_64-linux-gnu/ && cp /lib64/ld-linux-x86-64.so.2 $d/lib64/',
        'tar -C $d -c . | docker import - banger-e2e/tiny:1 >/dev/null',
        // The default bridge network: a veth in the container, docker0 and its iptables rules on the host side.
        "docker run --rm banger-e2e/tiny:1 /bin/sh -c 'read s < /sys/class/net/eth0/operstate; echo container eth0 $s'",
      ].join('\n'),
    );
    assert.equal(out, ['python 3', 'cc exit 42', '3', 'hi', 'mise ok', 'enabled', 'masked-runtime', 'inactive', 'inactive', 'container eth0 up', ''].join('\n'));
  });

  it('tracked files arrive with identical hashes and modes; untracked ones only with --include-untracked', async () => {
    const first = await prepare();
    assert.equal(first.incremental, false);
    assert.deepEqual(await guestTree(), await expectedTree(repo, false));
    const second = await prepare('--include-untracked');
    assert.equal(second.sentFiles, 1);
    assert.deepEqual(await guestTree(), await expectedTree(repo, true));
    const status = await guestSh(`cd ${GUEST} && git status --porcelain && git log --format=%s`);
    assert.match(status, /^ M a\.txt$/m);
    assert.match(status, /^first commit$/m);
    const show = JSON.parse((await cli('--json', 'vm', 'show', VM)).stdout) as VMInfo;
    assert.equal(show.workspace?.headCommit, (await gitIn(repo, 'rev-parse', 'HEAD')).trim());
  });

  it("the guest's edits, deletes, renames and a commit come back: diff, export, git apply --check, apply; a conflicting host edit is refused", async () => {
    await guestSh(
      [
        `cd ${GUEST}`,
        'printf "from the guest\\n" > a.txt',
        'rm "with space.txt"',
        'git mv dir/b.txt dir/renamed.txt',
        'printf "\\000\\001guest" > new.bin',
        'chmod +x dir/renamed.txt',
        'git add -A && git -c user.name=g -c user.email=g@example.org commit -q -m "guest commit"',
        'printf "after\\n" > uncommitted.txt',
      ].join(' && '),
    );
    const diff = await cli('vm', 'diff', VM);
    assert.equal(diff.code, 0, diff.stderr);
    for (const f of ['a.txt', 'with space.txt', 'new.bin', 'uncommitted.txt']) assert.ok(diff.stdout.includes(f), `${f} in ${diff.stdout}`);
    const patchFile = join(home, 'work.patch');
    const exp = await cli('vm', 'workspace', 'export', VM, '--output', patchFile);
    assert.equal(exp.code, 0, exp.stderr);
    assert.match(readFileSync(patchFile, 'utf8'), /GIT binary patch/);
    const check = await runUnchecked(['git', '-C', repo, 'apply', '--check', patchFile]);
    assert.equal(check.code, 0, check.stderr);

    const hostA = readFileSync(join(repo, 'a.txt'));
    writeFileSync(join(repo, 'a.txt'), 'host edit\n');
    const refused = await cli('vm', 'workspace', 'apply', VM);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /local changes to 1 file the guest also changed: a\.txt; nothing was applied/);
    writeFileSync(join(repo, 'a.txt'), hostA);
    const applied = await cli('vm', 'workspace', 'apply', VM);
    assert.equal(applied.code, 0, applied.stderr);
    const hostTree = (await treeState(repo)).filter((l) => !l.startsWith('debug.log\t'));
    assert.deepEqual(hostTree, await guestTree());
  });
  it('a session survives the CLI and a daemon SIGKILL; send reaches its stdin; kill records its status', async () => {
    const started = await cli('--json', 'vm', 'session', 'start', VM, '--name', 'srv', '--cwd', GUEST, '--', 'sh', '-c', 'echo "up in $(pwd)"; while read l; do echo "in: $l"; done');
    assert.equal(started.code, 0, started.stderr);
    const s = JSON.parse(started.stdout) as SessionInfo;
    assert.equal(s.state, 'running');
    assert.equal(s.unit, 'banger-session-srv');
    assert.equal((await guestSh('systemctl is-active banger-session-srv')).trim(), 'active');

    const daemon = JSON.parse((await cli('--json', 'daemon', 'status')).stdout) as PingResult;
    process.kill(daemon.pid, 'SIGKILL');
    while (pidAlive(daemon.pid)) await new Promise((r) => setTimeout(r, 20));
    const shown = await cli('--json', 'vm', 'session', 'show', VM, 'srv');
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal((JSON.parse(shown.stdout) as SessionInfo).state, 'running', 'the session outlives the daemon');

    const sent = await cli('vm', 'session', 'send', VM, 'srv', 'hello guest');
    assert.equal(sent.code, 0, sent.stderr);
    let out = '';
    for (let i = 0; i < 100 && !out.includes('in: hello guest'); i++) {
      out = (await cli('vm', 'session', 'logs', VM, 'srv')).stdout;
      if (!out.includes('in: hello guest')) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(out, `up in ${GUEST}\nin: hello guest\n`);

    const killed = await cli('--json', 'vm', 'session', 'kill', VM, 'srv');
    assert.equal(killed.code, 0, killed.stderr);
    const k = JSON.parse(killed.stdout) as SessionInfo;
    assert.deepEqual([k.state, k.exitStatus], ['exited', 137]);
    const listed = JSON.parse((await cli('--json', 'vm', 'session', 'list', VM)).stdout) as SessionInfo[];
    assert.deepEqual(listed.map((x) => [x.name, x.state, x.exitStatus]), [['srv', 'exited', 137]]);
    assert.match((await cli('vm', 'session', 'logs', VM, 'srv')).stdout, /^up in \/root\/repo\nin: hello guest\n/, 'the output stays readable');
    assert.notEqual((await guestSh('systemctl is-active banger-session-srv || true')).trim(), 'active');
  });

  it("the host's git identity is the guest's global one", async () => {
    const host = await runUnchecked(['git', 'config', '--global', '--get', 'user.name']);
    const guest = (await guestSh('git config --global --get user.name || true')).trim();
    assert.equal(guest, host.code === 0 ? host.stdout.trim() : '');
  });

  it('tooling bootstrap: an npm: tool pinned in .mise.toml comes from the npm registry through --allow, and answers by name in exec, a login shell and a session', async () => {
    const allowed = await cli('vm', 'set', VM, '--allow', 'registry.npmjs.org,deb.debian.org');
    assert.equal(allowed.code, 0, allowed.stderr);
    // The guest trusts the CAs added on the host, as the host does (a network that inspects TLS has
    // its own). The registry reachable from test hosts serves no package creation times, which mise's
    // npm installer checks by default. The tool runs on node, which the golden image leaves to the
    // checkout: here Debian's.
    const cas = existsSync(HOST_CAS) ? readdirSync(HOST_CAS).filter((f) => f.endsWith('.crt')) : [];
    for (const [i, f] of cas.entries()) {
      const put = await runUnchecked([process.execPath, BANGER_BIN, 'vm', 'exec', VM, '--', 'sh', '-c', `cat > /usr/local/share/ca-certificates/host-${i}.crt`], { env: { ...process.env, ...env }, input: readFileSync(join(HOST_CAS, f)) });
      assert.equal(put.code, 0, put.stderr);
    }
    await guestSh('update-ca-certificates >/dev/null && apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y nodejs >/dev/null && echo minimum-package-age=0 > /root/.npmrc');
    const tools = join(home, 'src', 'tools');
    mkdirSync(tools, { recursive: true });
    await runUnchecked(['git', 'init', '-q', tools]);
    writeFileSync(join(tools, '.mise.toml'), '[tools]\n"npm:cowsay" = "1.6.0"\n');
    await gitIn(tools, 'add', '-A');
    await gitIn(tools, 'commit', '-q', '-m', 'pins');
    const prep = await cli('vm', 'workspace', 'prepare', VM, tools, '--guest-path', '/root/tools');
    assert.equal(prep.code, 0, prep.stderr);
    assert.match(prep.stderr, /tooling: installed \.mise\.toml/, prep.stderr + (await guestSh('cat /root/.cache/banger/tooling.log || true')));

    const said = await cli('vm', 'exec', VM, '--', 'cowsay', 'moo');
    assert.equal(said.code, 0, said.stderr);
    assert.match(said.stdout, /< moo >/);
    const login = await runUnchecked([process.execPath, BANGER_BIN, 'vm', 'ssh', VM], { env: { ...process.env, NO_COLOR: '1', ...env }, input: 'pwd; command -v cowsay\n', timeoutMs: 120_000 });
    assert.equal(login.code, 0, login.stderr);
    assert.deepEqual(login.stdout.trim().split('\n').slice(-2), ['/root/tools', '/root/.local/share/mise/shims/cowsay']);
    const started = await cli('vm', 'session', 'start', VM, '--name', 'cow', '--cwd', '/root/tools', '--', 'sh', '-c', 'command -v cowsay && cowsay from-a-session');
    assert.equal(started.code, 0, started.stderr);
    let out = '';
    for (let i = 0; i < 150 && !out.includes('from-a-session >'); i++) {
      out = (await cli('vm', 'session', 'logs', VM, 'cow')).stdout;
      if (!out.includes('from-a-session >')) await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(out, /^\/root\/\.local\/share\/mise\/shims\/cowsay\n[\s\S]*< from-a-session >/);
  });
});
