/**
 * remote-context: `banger vm list` through an ssh:// context (a loopback sshd, another BANGER_HOME behind
 * it, the master connection reused) against the same command on the local daemon, in the same run.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NODE, fmtMs, percentile, timeRuns } from './util.mjs';

const TARGET_RATIO = 1.5;

export async function benchRemoteContext(ctx) {
  const imp = (p) => import(pathToFileURL(join(ctx.dist, p)).href);
  const fixture = await imp('drivers/ssh/sshd-fixture.js');
  const keys = await imp('drivers/ssh/keys.js');
  const { SshTransport } = await imp('sdk/contexts/ssh-transport.js');
  const unavailable = await fixture.sshdUnavailable();
  if (unavailable) throw new Error(`cannot run an sshd here: ${unavailable}`);

  ctx.startDaemon();
  const dir = join(ctx.home, 'rc');
  const remoteHome = join(dir, 'r');
  const clientHome = join(dir, 'c');
  const bin = join(dir, 'bin');
  for (const d of [dir, remoteHome, clientHome, bin]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const bangerJs = join(ctx.dist, 'bin', 'banger.js');
  writeFileSync(join(bin, 'banger'), `#!/bin/sh\nexec ${NODE} ${bangerJs} "$@"\n`);
  chmodSync(join(bin, 'banger'), 0o755);
  const key = await keys.ensureClientKey(join(dir, 'id_ed25519'));
  const hostKey = await keys.generateHostKey();
  const port = await fixture.freePort();
  const sshd = await fixture.startSshd({
    dir: join(dir, 'sshd'),
    port,
    hostKey,
    authorizedKeys: `environment="BANGER_HOME=${remoteHome}",environment="PATH=${bin}:/usr/local/bin:/usr/bin:/bin" ${key.publicKey}\n`,
    extraConfig: ['PermitUserEnvironment yes', 'PermitRootLogin yes', 'AllowStreamLocalForwarding yes'],
  });
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey.publicKey}\n`);
  const sshOptions = [`UserKnownHostsFile=${knownHosts}`, 'GlobalKnownHostsFile=/dev/null', 'StrictHostKeyChecking=yes', 'IdentitiesOnly=yes', `IdentityFile=${key.path}`];
  const clientEnv = { ...ctx.env, BANGER_HOME: clientHome };
  const remoteEnv = { ...ctx.env, BANGER_HOME: remoteHome };
  const host = `ssh://root@127.0.0.1:${port}`;
  const bangerIn = (env, args) => spawnSync(NODE, [bangerJs, ...args], { env, encoding: 'utf8', timeout: 60_000 });
  try {
    const created = bangerIn(clientEnv, ['context', 'create', 'bench', '--host', host, ...sshOptions.flatMap((o) => ['--ssh-option', o])]);
    if (created.status !== 0) throw new Error(`context create failed: ${created.stderr}`);
    // Untimed: the first command opens the master, starts the remote daemon and the forward.
    const first = bangerIn(clientEnv, ['--context', 'bench', 'vm', 'list']);
    if (first.status !== 0) throw new Error(`the first vm list through the context failed: ${first.stderr}`);

    const transport = new SshTransport({ name: 'bench', host, sshOptions }, join(clientHome, 'run'), clientEnv);
    const runs = ctx.opts.runs;
    const local = timeRuns(ctx.banger('vm', 'list'), ctx.env, runs);
    const remote = timeRuns(ctx.banger('--context', 'bench', 'vm', 'list'), clientEnv, runs);
    const rtt = timeRuns(transport.remoteCommand('true'), clientEnv, runs);
    const [l, r, s] = [local, remote, rtt].map((m) => percentile(m.samples, 50));
    const ratio = r / l;
    const budget = TARGET_RATIO * l + s;
    const ok = remote.status === 0 && r <= budget;
    return {
      title: `remote context (${runs} runs each after one warm-up; medians; target: remote <= ${TARGET_RATIO}x local + one ssh round trip)`,
      header: ['command', 'median', 'p90', 'vs local', 'target', 'result', 'note'],
      rows: [
        { cells: ['banger vm list (local)', fmtMs(l), fmtMs(percentile(local.samples, 90)), '1.00x', '', '', ''], ok: true },
        { cells: ['ssh -S ctl host true', fmtMs(s), fmtMs(percentile(rtt.samples, 90)), `${(s / l).toFixed(2)}x`, '', '', 'the reused master connection'], ok: rtt.status === 0 },
        {
          cells: ['banger --context vm list', fmtMs(r), fmtMs(percentile(remote.samples, 90)), `${ratio.toFixed(2)}x`, `<= ${fmtMs(budget)}`, ok ? 'PASS' : 'MISS', remote.status === 0 ? '' : `exit ${remote.status}: ${remote.complaint}`],
          ok,
        },
      ],
    };
  } finally {
    bangerIn(clientEnv, ['context', 'rm', 'bench']);
    bangerIn(remoteEnv, ['daemon', 'stop']);
    await sshd.stop();
  }
}
