/** CLI contexts (which daemon a command talks to): names, ssh:// URLs and contexts.json in the config directory. */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BangerError, badRequest } from '../../api/errors.js';
import { writeFileAtomic } from '../../system/atomic-file.js';

/** The local daemon: always there, never stored. */
export const DEFAULT_CONTEXT = 'default';

export interface StoredContext {
  /** `ssh://[user@]host[:port]` */
  host: string;
  /** The daemon socket on the remote host; absent: what `banger daemon start` there reports. */
  socket?: string;
  /** Extra `ssh -o` options (KEY=VALUE), for hosts the user's ssh config does not describe. */
  sshOptions?: string[];
}

export interface ContextsFile {
  current?: string;
  contexts: Record<string, StoredContext>;
}

export interface SshDestination {
  user?: string;
  host: string;
  port?: number;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)$/;
const USER = /^[A-Za-z0-9._][A-Za-z0-9._-]*$/;
const SSH_OPTION = /^[A-Za-z][A-Za-z0-9]*=[^\n\0]*$/;

export function contextsPath(configDir: string): string {
  return join(configDir, 'contexts.json');
}

/** Checks a context name: a DNS label of at most 32 characters (lower case, digits, inner dashes). */
export function checkContextName(name: string): void {
  if (!NAME.test(name)) {
    throw badRequest(`invalid context name ${JSON.stringify(name)}`, 'use 1-32 lower-case letters, digits and inner dashes, e.g. build-box');
  }
}

/** Parses `ssh://[user@]host[:port]`; anything else is a bad request naming what is wrong. */
export function parseSshUrl(url: string): SshDestination {
  const hint = 'give the host as ssh://[user@]host[:port], e.g. ssh://me@build.example.com or ssh://build:2222';
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/.exec(url);
  if (!m) throw badRequest(`invalid host ${JSON.stringify(url)}: not a URL`, hint);
  if (m[1]!.toLowerCase() !== 'ssh') throw badRequest(`unsupported scheme ${m[1]}:// in ${url}: only ssh:// is supported`, hint);
  let rest = m[2]!.replace(/\/$/, '');
  if (rest.includes('/') || rest.includes('?') || rest.includes('#')) throw badRequest(`invalid host ${url}: a path is not allowed`, hint);
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    user = decodeURIComponent(rest.slice(0, at));
    rest = rest.slice(at + 1);
    if (!USER.test(user)) throw badRequest(`invalid user ${JSON.stringify(user)} in ${url}`, hint);
  }
  let port: number | undefined;
  const pm = /^(.*?):(\d+)$/.exec(rest);
  if (pm && !(rest.startsWith('[') && !rest.includes(']:'))) {
    rest = pm[1]!;
    port = Number(pm[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw badRequest(`invalid port ${pm[2]} in ${url}`, hint);
  }
  if (!rest || !HOST.test(rest)) throw badRequest(`invalid host name ${JSON.stringify(rest)} in ${url}`, hint);
  return { ...(user ? { user } : {}), host: rest.replace(/^\[(.*)\]$/, '$1'), ...(port ? { port } : {}) };
}

/** The destination as a short label for messages: user@host:port. */
export function hostLabel(d: SshDestination): string {
  return `${d.user ? `${d.user}@` : ''}${d.host}${d.port ? `:${d.port}` : ''}`;
}

/** Checks one `--ssh-option KEY=VALUE`. */
export function checkSshOption(opt: string): void {
  if (!SSH_OPTION.test(opt)) throw badRequest(`invalid ssh option ${JSON.stringify(opt)}`, 'use KEY=VALUE as in ssh_config(5), e.g. --ssh-option IdentityFile=~/.ssh/id_build');
}

export function readContexts(configDir: string): ContextsFile {
  const path = contextsPath(configDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: {} };
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ContextsFile>;
    const contexts = parsed.contexts && typeof parsed.contexts === 'object' ? parsed.contexts : {};
    return { ...(typeof parsed.current === 'string' ? { current: parsed.current } : {}), contexts };
  } catch (err) {
    throw new BangerError('bad_request', `${path} is not valid JSON: ${(err as Error).message}`, { hint: `fix or remove ${path}` });
  }
}

export function writeContexts(configDir: string, file: ContextsFile): void {
  mkdirSync(configDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(contextsPath(configDir), JSON.stringify(file, null, 2) + '\n', 0o600);
}
