/**
 * A "remote host" for context tests: an OpenSSH server on 127.0.0.1 (own host key, own client keys) whose
 * sessions see another BANGER_HOME and a `banger` on the PATH that runs the built CLI. A second key logs
 * in to a PATH without banger, as a host where it is not installed.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureClientKey, generateHostKey } from '../drivers/ssh/keys.js';
import { freePort, startSshd } from '../drivers/ssh/sshd-fixture.js';

export const BANGER_JS = fileURLToPath(new URL('../bin/banger.js', import.meta.url));

export interface ContextHost {
  /** ssh://root@127.0.0.1:PORT */
  url: string;
  /** `--ssh-option` flags for `context create` that log in with banger on the PATH. */
  sshOpts: string[];
  /** The same, logging in where banger is not installed. */
  noBangerOpts: string[];
  stop(): Promise<void>;
}

export async function startContextHost(dir: string, remoteHome: string): Promise<ContextHost> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'banger'), `#!/bin/sh\nexec ${process.execPath} ${BANGER_JS} "$@"\n`);
  chmodSync(join(bin, 'banger'), 0o755);
  const key = await ensureClientKey(join(dir, 'id_ed25519'));
  const bare = await ensureClientKey(join(dir, 'id_bare'));
  const hostKey = await generateHostKey();
  const port = await freePort();
  const sysPath = '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';
  const sshd = await startSshd({
    dir: join(dir, 'sshd'),
    port,
    hostKey,
    authorizedKeys: [
      `environment="BANGER_HOME=${remoteHome}",environment="PATH=${bin}:${sysPath}" ${key.publicKey}`,
      `environment="PATH=${sysPath}" ${bare.publicKey}`,
      '',
    ].join('\n'),
    extraConfig: ['PermitUserEnvironment yes', 'PermitRootLogin yes', 'AllowStreamLocalForwarding yes', 'AllowTcpForwarding yes'],
  });
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKey.publicKey}\n`);
  const common = [`UserKnownHostsFile=${knownHosts}`, 'GlobalKnownHostsFile=/dev/null', 'StrictHostKeyChecking=yes', 'IdentitiesOnly=yes'];
  return {
    url: `ssh://root@127.0.0.1:${port}`,
    sshOpts: [...common, `IdentityFile=${key.path}`].flatMap((o) => ['--ssh-option', o]),
    noBangerOpts: [...common, `IdentityFile=${bare.path}`].flatMap((o) => ['--ssh-option', o]),
    stop: () => sshd.stop(),
  };
}
