/**
 * The managed ssh_config: `ssh <name>.vm` with banger's key and known_hosts. (The opt-in `Include` of
 * it in the user's ~/.ssh/config is the CLI's: src/cli/ssh-include.ts.)
 */
import { readTextIfExists, rewriteFileAtomic } from '../../system/atomic-file.js';
import { KEX_ALGORITHMS } from './client.js';

export interface SSHConfigOptions {
  keyPath: string;
  knownHostsPath: string;
  /** Default `root`. */
  user?: string;
  /** Running VMs reached through a forwarded port (user-mode networking): one Host block each. */
  hosts?: readonly SSHHostEntry[];
}

export interface SSHHostEntry {
  /** e.g. `dev.vm` */
  alias: string;
  hostName: string;
  port: number;
  hostKeyAlias: string;
}

const HOST_ALIAS_RE = /^[a-z0-9-]{1,63}\.vm$/;
const HOSTNAME_RE = /^[A-Za-z0-9.:-]+$/;

function hostBlock(h: SSHHostEntry): string[] {
  if (!HOST_ALIAS_RE.test(h.alias)) throw new TypeError(`invalid ssh host alias ${JSON.stringify(h.alias)}`);
  if (!HOSTNAME_RE.test(h.hostName) || !HOSTNAME_RE.test(h.hostKeyAlias)) throw new TypeError(`invalid ssh host for ${h.alias}`);
  if (!Number.isInteger(h.port) || h.port < 1 || h.port > 65535) throw new TypeError(`invalid ssh port for ${h.alias}`);
  return [`Host ${h.alias}`, `  HostName ${h.hostName}`, `  Port ${h.port}`, `  HostKeyAlias ${h.hostKeyAlias}`, ''];
}

/** A path as an ssh_config argument: double-quoted, `%` escaped against token expansion. */
function configPath(path: string, what: string): string {
  if (!path.startsWith('/')) throw new TypeError(`${what} must be an absolute path: ${path}`);
  if (/["\n\r]|\$\{/.test(path)) throw new TypeError(`${what} cannot be used in ssh_config: ${JSON.stringify(path)}`);
  return `"${path.replace(/%/g, '%%')}"`;
}

/** The text of banger's ssh_config. Pure. */
export function renderSSHConfig(opts: SSHConfigOptions): string {
  const user = opts.user ?? 'root';
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(user)) throw new TypeError(`invalid ssh user ${JSON.stringify(user)}`);
  return [
    '# Managed by banger: changes here are overwritten.',
    '# Use it from ~/.ssh/config with `banger ssh-config --install`.',
    ...(opts.hosts ?? []).flatMap(hostBlock),
    'Host *.vm',
    `  User ${user}`,
    `  IdentityFile ${configPath(opts.keyPath, 'key path')}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${configPath(opts.knownHostsPath, 'known_hosts path')}`,
    '  GlobalKnownHostsFile /dev/null',
    '  StrictHostKeyChecking yes',
    '  UpdateHostKeys no',
    '  CheckHostIP no',
    '  PreferredAuthentications publickey',
    `  KexAlgorithms ${KEX_ALGORITHMS}`,
    '  LogLevel ERROR',
    '',
  ].join('\n');
}

export interface ChangeResult {
  /** The file that was (or would have been) changed. */
  path: string;
  changed: boolean;
}

/** Writes banger's ssh_config (0600). Returns whether its content changed. */
export async function writeSSHConfig(path: string, opts: SSHConfigOptions): Promise<ChangeResult> {
  const text = renderSSHConfig(opts);
  if ((await readTextIfExists(path)) === text) return { path, changed: false };
  await rewriteFileAtomic(path, text);
  return { path, changed: true };
}
