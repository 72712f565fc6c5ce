/**
 * banger's own known_hosts file. Guest host keys are pinned here under stable aliases before the first
 * connection; ssh is pointed at them with HostKeyAlias, so a guest's address and port may change between
 * boots while its key stays pinned. The user's ~/.ssh/known_hosts is never read or written.
 */
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { keyBody } from './keys.js';

export interface KnownHost {
  /** Host names or aliases the key is valid for. */
  hosts: string[];
  keyType: string;
  /** Base64 key data. */
  key: string;
  /** `@cert-authority` or `@revoked`, when present. */
  marker?: string;
  comment?: string;
}

/** The alias ssh checks the host key against (HostKeyAlias); stable for the life of the VM. */
export function hostKeyAlias(vmId: string): string {
  return `banger-${vmId}`;
}

/** Every alias a VM's host key is pinned under: `<name>.vm` (for `ssh <name>.vm`) and the HostKeyAlias. */
export function hostAliases(vm: { name: string; id: string }): string[] {
  return [`${vm.name}.vm`, hostKeyAlias(vm.id)];
}

const ALIAS_RE = /^[A-Za-z0-9._:[\]-]+$/;
const KEY_TYPE_RE = /^(ssh-ed25519|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;
const KEY_DATA_RE = /^[A-Za-z0-9+/]+={0,2}$/;

function checkAliases(aliases: readonly string[]): void {
  if (aliases.length === 0) throw new TypeError('at least one host alias is required');
  for (const a of aliases) {
    if (!ALIAS_RE.test(a)) throw new TypeError(`invalid known_hosts alias ${JSON.stringify(a)}`);
  }
}

function checkPublicKey(publicKey: string): string {
  const body = keyBody(publicKey);
  const [type, data] = body.split(' ') as [string, string];
  if (!KEY_TYPE_RE.test(type) || !KEY_DATA_RE.test(data)) {
    throw new TypeError(`not an OpenSSH public key: ${JSON.stringify(publicKey.slice(0, 80))}`);
  }
  return body;
}

interface ParsedLine {
  raw: string;
  entry?: KnownHost;
}

function parseLine(raw: string): ParsedLine {
  const trimmed = raw.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return { raw };
  const fields = trimmed.split(/\s+/);
  let marker: string | undefined;
  if (fields[0]?.startsWith('@')) marker = fields.shift();
  const [hosts, keyType, key, ...rest] = fields;
  if (!hosts || !keyType || !key) return { raw };
  const entry: KnownHost = { hosts: hosts.split(','), keyType, key };
  if (marker) entry.marker = marker;
  if (rest.length) entry.comment = rest.join(' ');
  return { raw, entry };
}

function formatEntry(e: KnownHost): string {
  const parts = [e.hosts.join(','), e.keyType, e.key];
  if (e.marker) parts.unshift(e.marker);
  if (e.comment) parts.push(e.comment);
  return parts.join(' ');
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function joinLines(lines: string[]): string {
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Every key entry in a known_hosts text (comments, blank and malformed lines are skipped). */
export function parseKnownHosts(text: string): KnownHost[] {
  return splitLines(text).flatMap((l) => {
    const p = parseLine(l);
    return p.entry ? [p.entry] : [];
  });
}

/** Drops `aliases` from every plain entry; entries left with no host are dropped. Other lines are kept verbatim. */
export function removeText(text: string, aliases: readonly string[]): string {
  checkAliases(aliases);
  const drop = new Set(aliases);
  const out: string[] = [];
  for (const raw of splitLines(text)) {
    const { entry } = parseLine(raw);
    if (!entry || entry.marker || !entry.hosts.some((h) => drop.has(h))) {
      out.push(raw);
      continue;
    }
    const hosts = entry.hosts.filter((h) => !drop.has(h));
    if (hosts.length) out.push(formatEntry({ ...entry, hosts }));
  }
  return joinLines(out);
}

/** Pins `publicKey` for exactly `aliases`: earlier entries for any of them are replaced. */
export function pinText(text: string, aliases: readonly string[], publicKey: string): string {
  checkAliases(aliases);
  const body = checkPublicKey(publicKey);
  const kept = removeText(text, aliases);
  return `${kept}${[...new Set(aliases)].join(',')} ${body}\n`;
}

const locks = new Map<string, Promise<unknown>>();

/** Serialises read-modify-write cycles on one file within this process. */
async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(file) ?? Promise.resolve();
  const next = prev.then(fn, fn);
  const settled = next.then(
    () => undefined,
    () => undefined,
  );
  locks.set(file, settled);
  try {
    return await next;
  } finally {
    if (locks.get(file) === settled) locks.delete(file);
  }
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

async function writeText(file: string, text: string): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function update(file: string, change: (text: string) => string): Promise<boolean> {
  return withLock(file, async () => {
    const before = await readText(file);
    const after = change(before);
    if (after === before) return false;
    await writeText(file, after);
    return true;
  });
}

/** Pins a host key for `aliases` in `file` (created 0600 if missing). Written atomically. */
export async function pin(file: string, aliases: readonly string[], publicKey: string): Promise<void> {
  await update(file, (text) => pinText(text, aliases, publicKey));
}

/** Forgets `aliases` in `file`. Returns whether the file changed. */
export async function remove(file: string, aliases: readonly string[]): Promise<boolean> {
  return update(file, (text) => removeText(text, aliases));
}

/** The entries of `file`; an absent file has none. */
export async function list(file: string): Promise<KnownHost[]> {
  return parseKnownHosts(await readText(file));
}

/** The pinned `type base64` for `alias`, if any. */
export async function lookup(file: string, alias: string): Promise<string | undefined> {
  const e = (await list(file)).find((k) => !k.marker && k.hosts.includes(alias));
  return e ? `${e.keyType} ${e.key}` : undefined;
}
