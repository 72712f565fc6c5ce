/** Registry credentials from the Docker config file (`auths` entries: `auth` user:password, `identitytoken`). */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HUB } from './reference.js';

export interface Credential {
  username?: string;
  password?: string;
  /** An OAuth refresh token (`docker login` against registries that hand them out). */
  identityToken?: string;
}

/** Where the Docker config file is: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
}

/** The registry a config key names: "https://index.docker.io/v1/" -> docker.io, "https://host:5000" -> host:5000. */
export function normalizeAuthKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '');
  k = k.split('/')[0]!;
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') return DOCKER_HUB;
  return k;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

/** Reads the credentials for one registry; undefined when the file or the entry is missing. */
export async function credentialFor(registry: string, configPath = dockerConfigPath()): Promise<Credential | undefined> {
  let raw: string;
  try {
    raw = await readFile(configPath, 'utf8');
  } catch {
    return undefined;
  }
  let doc: { auths?: Record<string, AuthEntry> } | null;
  try {
    doc = JSON.parse(raw) as typeof doc;
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || typeof doc.auths !== 'object' || doc.auths === null) return undefined;
  for (const [key, entry] of Object.entries(doc.auths)) {
    if (normalizeAuthKey(key) !== registry || !entry || typeof entry !== 'object') continue;
    const out: Credential = {};
    if (typeof entry.auth === 'string' && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) {
        out.username = decoded.slice(0, i);
        out.password = decoded.slice(i + 1);
      }
    } else if (typeof entry.username === 'string' && typeof entry.password === 'string') {
      out.username = entry.username;
      out.password = entry.password;
    }
    if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') out.identityToken = entry.identitytoken;
    if (out.username !== undefined || out.identityToken !== undefined) return out;
  }
  return undefined;
}
