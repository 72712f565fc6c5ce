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
