/**
 * SSH keys: the one client key of an install, and fresh host keys for guests.
 * Keys are made by the system `ssh-keygen`; nothing here parses key material beyond the public line.
 */
import { chmod, link, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../system/exec.js';

export const KEY_COMMENT = 'banger';

export interface ClientKey {
  /** The private key file (0600). */
  path: string;
  /** `<path>.pub`. */
  publicKeyPath: string;
  /** The public key line, e.g. `ssh-ed25519 AAAA... banger`. */
  publicKey: string;
}

export interface KeyPair {
  /** OpenSSH private key, PEM-armoured, ending with a newline. */
  privateKey: string;
  /** The public key line without a trailing newline. */
  publicKey: string;
}

function isErrno(err: unknown, ...codes: string[]): boolean {
  return err instanceof Error && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

function keygenArgv(path: string, comment: string): string[] {
  return ['ssh-keygen', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path, '-q'];
}

/** Writes a file next to its final name and renames it into place. */
async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data, { mode, flag: 'wx' });
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * The install's client key at `path`, created on first use. Safe against concurrent callers: the key is
 * generated under a temporary name and hard-linked into place, so `path` is either absent or a whole key,
 * and every caller ends up with the same key.
 */
export async function ensureClientKey(path: string): Promise<ClientKey> {
  const dir = dirname(path);
  const pubPath = `${path}.pub`;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);

  if (!(await exists(path))) {
    const work = await mkdtemp(join(dir, '.keygen-'));
    try {
      const tmpKey = join(work, 'key');
      await run(keygenArgv(tmpKey, KEY_COMMENT));
      await chmod(tmpKey, 0o600);
      try {
        await link(tmpKey, path);
      } catch (err) {
        if (isErrno(err, 'EEXIST')) {
          // Another caller won the race; its key is the key.
        } else if (isErrno(err, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK')) {
          // No hard links on this filesystem: fall back to a rename unless a key appeared meanwhile.
          if (!(await exists(path))) await rename(tmpKey, path);
        } else {
          throw err;
        }
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  const st = await stat(path);
  if ((st.mode & 0o777) !== 0o600) await chmod(path, 0o600);

  // The public half is always derived from the private key that won, so the pair can never disagree.
  const publicKey = await derivePublicKey(path);
  let current: string | undefined;
  try {
    current = (await readFile(pubPath, 'utf8')).trim();
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  if (current === undefined || !sameKey(current, publicKey)) {
    await writeAtomic(pubPath, `${publicKey}\n`, 0o644);
  }
  return { path, publicKeyPath: pubPath, publicKey };
}

/** A fresh ed25519 host keypair for a guest. Generated in a private temporary directory that is removed. */
export async function generateHostKey(comment = KEY_COMMENT): Promise<KeyPair> {
  const work = await mkdtemp(join(tmpdir(), 'banger-hostkey-'));
  try {
    const keyPath = join(work, 'ssh_host_ed25519_key');
    await run(keygenArgv(keyPath, comment));
    const [privateKey, publicKey] = await Promise.all([readFile(keyPath, 'utf8'), readFile(`${keyPath}.pub`, 'utf8')]);
    return { privateKey, publicKey: publicKey.trim() };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The public key line of a key. `path` may name the private key (its `.pub` is read, or the public half
 * is derived with `ssh-keygen -y`) or the `.pub` file itself.
 */
export async function publicKeyOf(path: string): Promise<string> {
  const candidates = path.endsWith('.pub') ? [path] : [`${path}.pub`];
  for (const c of candidates) {
    try {
      const text = (await readFile(c, 'utf8')).trim();
      if (text) return text;
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
  if (path.endsWith('.pub')) throw new Error(`${path} does not exist`);
  return derivePublicKey(path);
}

async function derivePublicKey(privatePath: string): Promise<string> {
  const r = await run(['ssh-keygen', '-y', '-f', privatePath]);
  return r.stdout.trim();
}

function sameKey(a: string, b: string): boolean {
  try {
    return keyBody(a) === keyBody(b);
  } catch {
    return false;
  }
}

/** `type base64` of a public key line, without its comment. */
export function keyBody(publicKey: string): string {
  const [type, data] = publicKey.trim().split(/\s+/);
  if (!type || !data) throw new Error(`not an OpenSSH public key: ${JSON.stringify(publicKey.slice(0, 80))}`);
  return `${type} ${data}`;
}
