/** Looks up local users in /etc/passwd (no process spawned). */
import { readFileSync } from 'node:fs';

export interface LocalUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function lookupUser(name: string, passwd = '/etc/passwd'): LocalUser | undefined {
  let text: string;
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 7) return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
  }
  return undefined;
}

/** The user with this uid in passwd-format text (the first line that has it). */
export function userOfUid(text: string, uid: number): LocalUser | undefined {
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length >= 7 && f[2] === String(uid)) return { name: f[0]!, uid, gid: Number(f[3]), home: f[5] ?? '/' };
  }
  return undefined;
}

/** The local user with this uid. */
export function lookupUid(uid: number, passwd = '/etc/passwd'): LocalUser | undefined {
  try {
    return userOfUid(readFileSync(passwd, 'utf8'), uid);
  } catch {
    return undefined;
  }
}
