/**
 * The managed ssh_config (`ssh <name>.vm` with banger's key and known_hosts), and the opt-in `Include` of
 * it in the user's ~/.ssh/config. Only the marker-fenced block is ever added or removed; every other byte
 * of the user's file is kept.
 */
import { chmod, chown, mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export const BLOCK_BEGIN = '# >>> banger >>>';
export const BLOCK_END = '# <<< banger <<<';

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
    '  LogLevel ERROR',
    '',
  ].join('\n');
}

/** The line ~/.ssh/config needs to use banger's ssh_config. */
export function includeLine(sshConfigPath: string): string {
  if (/[*?[]/.test(sshConfigPath)) throw new TypeError(`ssh_config path must not contain glob characters: ${sshConfigPath}`);
  return `Include ${configPath(sshConfigPath, 'ssh_config path')}`;
}

/** The fenced block, ending with a newline. */
export function includeBlock(sshConfigPath: string, eol = '\n'): string {
  return [BLOCK_BEGIN, includeLine(sshConfigPath), BLOCK_END, ''].join(eol);
}

interface Span {
  start: number;
  end: number;
}

/** Byte ranges (start of BEGIN line to end of END line, newline included) of every managed block. */
function findBlocks(text: string): Span[] {
  const spans: Span[] = [];
  let pos = 0;
  let open: number | undefined;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const lineEnd = nl === -1 ? text.length : nl + 1;
    const line = text.slice(pos, lineEnd).trim();
    if (line === BLOCK_BEGIN) {
      if (open !== undefined) throw new Error(`unbalanced banger block in ssh config: "${BLOCK_BEGIN}" appears twice`);
      open = pos;
    } else if (line === BLOCK_END) {
      if (open === undefined) throw new Error(`unbalanced banger block in ssh config: "${BLOCK_END}" without a start`);
      spans.push({ start: open, end: lineEnd });
      open = undefined;
    }
    pos = lineEnd;
  }
  if (open !== undefined) throw new Error(`unbalanced banger block in ssh config: "${BLOCK_BEGIN}" without an end`);
  return spans;
}

function eolOf(text: string): string {
  return /\r\n/.test(text) ? '\r\n' : '\n';
}

/**
 * `text` with the managed Include block present. A new block goes first in the file, because an Include
 * after a `Host` or `Match` line would only apply inside that section. An existing block is rewritten in
 * place; a file already up to date is returned unchanged. Pure.
 */
export function installIncludeText(text: string, sshConfigPath: string): string {
  const eol = eolOf(text);
  const block = includeBlock(sshConfigPath, eol);
  const spans = findBlocks(text);
  if (spans.length === 0) return block + text;
  let out = '';
  let pos = 0;
  spans.forEach((s, i) => {
    out += text.slice(pos, s.start);
    if (i === 0) out += block;
    pos = s.end;
  });
  out += text.slice(pos);
  return out;
}

/** `text` without any managed block. Pure. */
export function uninstallIncludeText(text: string): string {
  const spans = findBlocks(text);
  let out = '';
  let pos = 0;
  for (const s of spans) {
    out += text.slice(pos, s.start);
    pos = s.end;
  }
  return out + text.slice(pos);
}

export interface ChangeResult {
  /** The file that was (or would have been) changed. */
  path: string;
  changed: boolean;
}

/** The user's ssh client config under `home`. */
export function userSSHConfigPath(home: string): string {
  return join(home, '.ssh', 'config');
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Follows a symlinked file (dotfile managers) so the link itself is kept. */
async function resolveTarget(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return path;
    throw err;
  }
}

/**
 * Writes `text` to `path` atomically (temporary file + rename). An existing file keeps its mode and owner;
 * a new one is 0600 in a 0700 directory.
 */
export async function writeFileAtomic(path: string, text: string, defaultMode = 0o600): Promise<void> {
  const target = await resolveTarget(path);
  const dir = dirname(target);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let mode = defaultMode;
  let owner: { uid: number; gid: number } | undefined;
  try {
    const st = await stat(target);
    mode = st.mode & 0o777;
    owner = { uid: st.uid, gid: st.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, { mode, flag: 'wx' });
    await chmod(tmp, mode);
    if (owner && process.getuid?.() === 0 && (owner.uid !== 0 || owner.gid !== 0)) {
      await chown(tmp, owner.uid, owner.gid);
    }
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Writes banger's ssh_config (0600). Returns whether its content changed. */
export async function writeSSHConfig(path: string, opts: SSHConfigOptions): Promise<ChangeResult> {
  const text = renderSSHConfig(opts);
  if ((await readOptional(path)) === text) return { path, changed: false };
  await writeFileAtomic(path, text);
  return { path, changed: true };
}

/** Adds the Include of `sshConfigPath` to `<home>/.ssh/config`. Idempotent. */
export async function installInclude(home: string, sshConfigPath: string): Promise<ChangeResult> {
  const path = userSSHConfigPath(home);
  const before = await readOptional(path);
  const after = installIncludeText(before ?? '', sshConfigPath);
  if (after === before) return { path, changed: false };
  await writeFileAtomic(path, after);
  return { path, changed: true };
}

/** Removes the Include block from `<home>/.ssh/config`, if present. A missing file is left missing. */
export async function uninstallInclude(home: string): Promise<ChangeResult> {
  const path = userSSHConfigPath(home);
  const before = await readOptional(path);
  if (before === undefined) return { path, changed: false };
  const after = uninstallIncludeText(before);
  if (after === before) return { path, changed: false };
  await writeFileAtomic(path, after);
  return { path, changed: true };
}

/** Whether `<home>/.ssh/config` has the managed block. */
export async function isIncludeInstalled(home: string): Promise<boolean> {
  const text = await readOptional(userSSHConfigPath(home));
  return text !== undefined && findBlocks(text).length > 0;
}
