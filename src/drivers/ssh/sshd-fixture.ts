/**
 * A real OpenSSH server on 127.0.0.1 for the tests of this driver: own config, host key, authorized_keys
 * and port, in a temporary directory; nothing of the host's sshd setup is used or changed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import { runUnchecked, which, type RunResult } from '../../system/exec.js';
import type { KeyPair } from './keys.js';
import { freeLoopbackPort } from '../../system/net.js';

export interface Sshd {
  host: string;
  port: number;
  /** What sshd printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  dir: string;
  port: number;
  hostKey: KeyPair;
  /** authorized_keys content for the login user. */
  authorizedKeys: string;
  /** More sshd_config lines (they come first, so they win over the defaults below). */
  extraConfig?: readonly string[];
}


/** The user sshd logs in (this process's user). */
export function loginUser(): string {
  return userInfo().username;
}

/** Why the real-sshd tests cannot run here, if they cannot. */
export async function sshdUnavailable(): Promise<string | undefined> {
  for (const tool of ['sshd', 'ssh', 'ssh-keygen']) {
    if (!which(tool)) return `${tool} is not installed`;
  }
  // OpenSSH's privilege separation directory; a stock sshd refuses to start without it.
  try {
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  } catch {
    return '/run/sshd is missing and cannot be created';
  }
  return undefined;
}

const live = new Set<AbortController>();
process.once('exit', () => {
  for (const ac of live) ac.abort();
});

/** Starts `sshd -D -e` and resolves once it listens. */
export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  const sshd = which('sshd');
  if (!sshd) throw new Error('sshd is not installed');
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const hostKeyPath = join(opts.dir, 'ssh_host_ed25519_key');
  const authorizedKeysPath = join(opts.dir, 'authorized_keys');
  const configPath = join(opts.dir, 'sshd_config');
  await writeFile(hostKeyPath, opts.hostKey.privateKey, { mode: 0o600 });
  await writeFile(`${hostKeyPath}.pub`, `${opts.hostKey.publicKey}\n`, { mode: 0o644 });
  await writeFile(authorizedKeysPath, opts.authorizedKeys, { mode: 0o600 });
  await writeFile(
    configPath,
    [
      ...(opts.extraConfig ?? []),
      `Port ${opts.port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyPath}`,
      'PidFile none',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AuthorizedKeysFile ${authorizedKeysPath}`,
      'LogLevel INFO',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  const ac = new AbortController();
  live.add(ac);
  let out = '';
  let onListening: (() => void) | undefined;
  const exited: Promise<RunResult> = runUnchecked([sshd, '-D', '-e', '-f', configPath], {
    signal: ac.signal,
    onLine: (line) => {
      out += `${line}\n`;
      if (line.includes('Server listening on')) onListening?.();
    },
  }).finally(() => live.delete(ac));

  const stop = async () => {
    ac.abort();
    await exited.catch(() => undefined);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not start listening:\n${out}`)), 10_000);
      onListening = () => {
        clearTimeout(timer);
        resolve();
      };
      exited.then(
        (r) => {
          clearTimeout(timer);
          reject(new Error(`sshd exited with ${r.code ?? r.signal ?? '?'}:\n${out}${r.stderr}`));
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { host: '127.0.0.1', port: opts.port, output: () => out, stop };
}

export { freeLoopbackPort as freePort };
