/** Reads config.toml, applies environment overrides and defaults, and records where each value came from. */
import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { BangerError } from '../api/errors.js';
import { formatAllowEntry, parseAllowList } from '../model/egress.js';
import { FIELDS, FILE_SYNC_FIELDS, VM_DEFAULT_FIELDS, type Config, type EgressDefaults, type FileSyncEntry, type VMDefaults } from './schema.js';

export type ValueSource = 'default' | 'file' | 'env';

export interface LoadedConfig {
  config: Config;
  /** Where each top-level key (and vm_defaults.<key>) came from. */
  sources: Record<string, ValueSource>;
  /** The file read, or undefined when there was none. */
  file?: string;
}

export class ConfigError extends BangerError {
  constructor(
    readonly file: string,
    readonly key: string,
    problem: string,
    hint: string,
  ) {
    super('bad_request', `${file}: ${key}: ${problem}`, { hint });
    this.name = 'ConfigError';
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'an array';
  if (v && typeof v === 'object') return 'a table';
  return String(v);
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let raw: Record<string, unknown> = {};
  let found = false;
  try {
    const text = readFileSync(file, 'utf8');
    found = true;
    try {
      raw = parseToml(text);
    } catch (err) {
      const msg = err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err);
      throw new ConfigError(file, '(syntax)', `not valid TOML: ${msg}`, 'fix the TOML syntax, or move the file aside to use defaults');
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return resolveConfig(raw, file, env, found);
}

export function resolveConfig(raw: Record<string, unknown>, file: string, env: NodeJS.ProcessEnv, found = true): LoadedConfig {
  const config: Record<string, unknown> = {};
  const sources: Record<string, ValueSource> = {};
  const known = new Set([...Object.keys(FIELDS), 'vm_defaults', 'file_sync', 'egress']);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) {
      throw new ConfigError(file, key, 'unknown key', `remove it; known keys: ${[...known].sort().join(', ')}`);
    }
  }
  for (const [key, spec] of Object.entries(FIELDS)) {
    const envVal = spec.env ? env[spec.env] : undefined;
    if (envVal !== undefined && envVal !== '') {
      const problem = spec.rule(envVal);
      if (problem) throw new ConfigError(`$${spec.env}`, key, `${problem}, got ${describe(envVal)}`, `set ${spec.env} to a valid value or unset it`);
      config[key] = envVal;
      sources[key] = 'env';
    } else if (key in raw) {
      const v = raw[key];
      const problem = spec.rule(v);
      if (problem) throw new ConfigError(file, key, `${problem}, got ${describe(v)}`, `fix ${key} in ${file} or remove it to use the default (${describe(spec.default)})`);
      config[key] = v;
      sources[key] = 'file';
    } else {
      config[key] = spec.default;
      sources[key] = 'default';
    }
  }
  config.vm_defaults = readVMDefaults(raw.vm_defaults, file, sources);
  config.file_sync = readFileSync_(raw.file_sync, file);
  sources.file_sync = raw.file_sync === undefined ? 'default' : 'file';
  config.egress = readEgress(raw.egress, file, sources);
  return { config: config as unknown as Config, sources, ...(found ? { file } : {}) };
}

function readVMDefaults(v: unknown, file: string, sources: Record<string, ValueSource>): VMDefaults {
  const out: VMDefaults = {};
  if (v === undefined) return out;
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new ConfigError(file, 'vm_defaults', `expected a table, got ${describe(v)}`, 'write it as [vm_defaults] with vcpu, memory_mib, disk_size, system_overlay_size');
  }
  for (const [k, val] of Object.entries(v)) {
    const rule = VM_DEFAULT_FIELDS[k as keyof VMDefaults];
    if (!rule) throw new ConfigError(file, `vm_defaults.${k}`, 'unknown key', `known keys: ${Object.keys(VM_DEFAULT_FIELDS).join(', ')}`);
    const problem = rule(val);
    if (problem) throw new ConfigError(file, `vm_defaults.${k}`, `${problem}, got ${describe(val)}`, `fix vm_defaults.${k} in ${file}`);
    (out as Record<string, unknown>)[k] = typeof val === 'number' && (k === 'disk_size' || k === 'system_overlay_size') ? String(val) : val;
    sources[`vm_defaults.${k}`] = 'file';
  }
  return out;
}

function readFileSync_(v: unknown, file: string): FileSyncEntry[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ConfigError(file, 'file_sync', `expected an array of tables, got ${describe(v)}`, 'write each entry as [[file_sync]] with host and guest');
  return v.map((entry: unknown, i) => {
    const key = `file_sync[${i}]`;
    if (!entry || typeof entry !== 'object') throw new ConfigError(file, key, 'expected a table', 'write it as [[file_sync]] with host and guest');
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) {
      if (!(k in FILE_SYNC_FIELDS)) throw new ConfigError(file, `${key}.${k}`, 'unknown key', 'known keys: host, guest, mode');
    }
    for (const k of ['host', 'guest'] as const) {
      if (e[k] === undefined) throw new ConfigError(file, `${key}.${k}`, 'missing', `every [[file_sync]] entry needs host and guest`);
    }
    for (const [k, rule] of Object.entries(FILE_SYNC_FIELDS)) {
      if (e[k] === undefined) continue;
      const problem = rule(e[k]);
      if (problem) throw new ConfigError(file, `${key}.${k}`, `${problem}, got ${describe(e[k])}`, `fix entry ${i} of [[file_sync]] in ${file}`);
    }
    return { host: e.host as string, guest: e.guest as string, ...(e.mode !== undefined ? { mode: e.mode as string } : {}) };
  });
}

function readEgress(v: unknown, file: string, sources: Record<string, ValueSource>): EgressDefaults {
  if (v === undefined) return {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(file, 'egress', `expected a table, got ${describe(v)}`, 'write it as [egress] with allow = ["example.com", "*.npmjs.org"]');
  const out: EgressDefaults = {};
  for (const [k, val] of Object.entries(v)) {
    if (k !== 'allow') throw new ConfigError(file, `egress.${k}`, 'unknown key', 'known keys: allow');
    if (!Array.isArray(val) || !val.every((x) => typeof x === 'string')) {
      throw new ConfigError(file, 'egress.allow', `expected an array of strings, got ${describe(val)}`, 'write it as allow = ["example.com", "*.npmjs.org", "10.1.2.0/24"]');
    }
    try {
      out.allow = parseAllowList(val).map(formatAllowEntry);
    } catch (err) {
      throw new ConfigError(file, 'egress.allow', (err as Error).message, 'fix the entry in [egress] allow');
    }
    sources['egress.allow'] = 'file';
  }
  return out;
}
