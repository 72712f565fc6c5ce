/**
 * The fake guest's SSH, run inside the fake VMM: a TCP listener on the VM's forwarded SSH port that
 * hands each connection to a host `sshd -i` (inetd mode) through pipes, using the host key and
 * authorized keys of the VM's seed disk. When the VMM dies its pipes close and every sshd exits.
 *
 * Like QEMU's user-mode forwarder, the port is bound from the start; until the guest's sshd is up
 * (and while the VM is paused) connections are accepted and closed at once.
 *
 * @module
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { FakeVmmFiles } from '../../model/filenames.js';
import { spawnPiped, which, type PipedChild } from '../../system/exec.js';
import { debugfsReadBatch, debugfsRequest } from '../ext4/debugfs.js';
import { guestProxyEnvironment } from '../../model/guest-proxy.js';
import { quote } from '../ext4/guest-path.js';

/**
 * The sshd_config for an `sshd -i` that logs in with the seed's keys only. `env` stands for the
 * guest's /etc/environment (PAM gives it to every ssh command in a real guest): the seed's proxy.
 */
export function sshdConfig(files: FakeVmmFiles, env: Readonly<Record<string, string>> = {}): string {
  const extra = Object.entries(env).map(([k, v]) => ` ${k}="${v}"`).join('');
  return [
    `HostKey "${files.hostKey}"`,
    `AuthorizedKeysFile "${files.authorizedKeys}"`,
    'PidFile none',
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'LogLevel INFO',
    // The fake guest's commands run on the host as the host user: give them a HOME of their own (the
    // host user's shell start-up files are not the guest's) and a PATH whose poweroff powers down the
    // VMM, never the host.
    `SetEnv HOME="${files.guestHome}" PATH="${files.guestBin}:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"${extra}`,
    '',
  ].join('\n');
}

const SEED_HOST_KEY = '/ssh_host_ed25519_key';
const SEED_AUTHORIZED_KEYS = '/authorized_keys';
const SEED_PROXY = '/proxy';

/**
 * The guest's SSH host key and authorized keys, read from the seed disk with one `debugfs cat`: no
 * temporary copy of the private key is left anywhere when the VMM is killed in the middle.
 */
export async function readSeedSshFiles(seedDisk: string): Promise<{ hostKey: string; authorizedKeys: string }> {
  const { sections, errors } = await debugfsReadBatch(seedDisk, [`cat ${quote(SEED_HOST_KEY)}`, `cat ${quote(SEED_AUTHORIZED_KEYS)}`]);
  if (errors.length > 0) throw new Error(`cannot read the seed disk ${seedDisk}: ${errors.join('; ')}`);
  const [hostKey, authorizedKeys] = sections.map((s) => `${s.trim()}\n`);
  if (!hostKey?.startsWith('-----BEGIN OPENSSH PRIVATE KEY-----')) throw new Error(`${SEED_HOST_KEY} on ${seedDisk} is not a private key`);
  if (!authorizedKeys?.trim()) throw new Error(`${SEED_AUTHORIZED_KEYS} on ${seedDisk} is empty`);
  return { hostKey, authorizedKeys };
}

/**
 * The fake guest's power commands: `poweroff` (and `systemctl poweroff|halt`, `shutdown`, `halt`) send
 * the VMM SIGUSR1, which it takes as the power button; every other systemctl use fails.
 */
export function guestPowerShims(vmmPid: number): Record<string, string> {
  const off = `#!/bin/sh\nkill -USR1 ${vmmPid}\n`;
  const systemctl = [
    '#!/bin/sh',
    'for a in "$@"; do case "$a" in poweroff|halt) exec poweroff;; esac; done',
    'echo "systemctl: not available in the fake guest" >&2',
    'exit 1',
    '',
  ].join('\n');
  return { poweroff: off, halt: off, shutdown: off, systemctl };
}

async function writeGuestEnv(files: FakeVmmFiles, vmmPid: number): Promise<void> {
  // Not recursive: a run directory removed meanwhile (a stop or a failed start) must not come back.
  for (const dir of [files.guestHome, files.guestBin]) {
    await mkdir(dir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
  for (const [name, text] of Object.entries(guestPowerShims(vmmPid))) {
    await writeFile(join(files.guestBin, name), text, { mode: 0o700 });
    await chmod(join(files.guestBin, name), 0o700);
  }
}

/** The seed's proxy URL (a user-mode VM's), when it has a valid one. */
export async function readSeedProxy(seedDisk: string): Promise<string | undefined> {
  const r = await debugfsRequest(seedDisk, `cat ${quote(SEED_PROXY)}`);
  const url = r.stdout.trim();
  return /^http:\/\/[0-9.]+:\d{1,5}$/.test(url) ? url : undefined;
}

/** Copies the host key and authorized keys out of the seed disk and writes the sshd config beside them. */
export async function writeSshdFiles(seedDisk: string, files: FakeVmmFiles, vmmPid = process.pid): Promise<void> {
  const { hostKey, authorizedKeys } = await readSeedSshFiles(seedDisk);
  const proxy = await readSeedProxy(seedDisk);
  await writeGuestEnv(files, vmmPid);
  for (const [path, content] of [
    [files.hostKey, hostKey],
    [files.authorizedKeys, authorizedKeys],
    [files.sshdConfig, sshdConfig(files, proxy ? guestProxyEnvironment(proxy) : {})],
  ] as const) {
    await writeFile(path, content, { mode: 0o600 });
    await chmod(path, 0o600);
  }
}

export class GuestSsh {
  private sshd: string | undefined;
  private serving = false;
  private readonly children = new Set<PipedChild>();

  private constructor(
    private readonly server: Server,
    private readonly files: FakeVmmFiles,
    private readonly log: (line: string) => void,
  ) {
    server.on('connection', (sock) => this.accept(sock));
  }

  /** Binds host:port (rejecting when it is taken); nothing is served until start(). */
  static listen(host: string, port: number, files: FakeVmmFiles, log: (line: string) => void): Promise<GuestSsh> {
    const server = createServer();
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(new GuestSsh(server, files, log));
      });
    });
  }

  /** Prepares sshd from the seed disk and starts serving connections. */
  async start(seedDisk: string): Promise<void> {
    const sshd = which('sshd');
    if (!sshd) throw new Error('sshd is not installed on the host');
    // A stock sshd refuses to start without its privilege separation directory.
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 }).catch(() => undefined);
    await writeSshdFiles(seedDisk, this.files);
    this.sshd = sshd;
    this.serving = true;
  }

  /** Stops or resumes serving new connections (a paused guest does not answer). */
  setServing(on: boolean): void {
    this.serving = on && this.sshd !== undefined;
  }

  /** Stops listening and ends every sshd. */
  close(): void {
    this.server.close();
    for (const child of this.children) child.kill('SIGTERM');
  }

  private accept(sock: Socket): void {
    sock.on('error', () => sock.destroy());
    if (!this.serving || !this.sshd) {
      sock.destroy();
      return;
    }
    let child: PipedChild;
    try {
      child = spawnPiped([this.sshd, '-i', '-e', '-f', this.files.sshdConfig]);
    } catch (err) {
      this.log(`cannot start sshd: ${err instanceof Error ? err.message : String(err)}`);
      sock.destroy();
      return;
    }
    this.children.add(child);
    child.stdin.on('error', () => undefined);
    sock.pipe(child.stdin);
    child.stdout.pipe(sock);
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    sock.on('close', () => child.stdin.destroy());
    child.on('error', (err) => {
      this.log(`sshd failed: ${err.message}`);
      sock.destroy();
    });
    child.on('close', () => {
      this.children.delete(child);
      sock.end();
    });
  }
}
