/** The effective configuration as `config show` presents it: every key with its value, source and whether it is in effect. */
import type { ConfigKeyView, ConfigView } from '../api/types.js';
import type { LoadedConfig } from './load.js';
import { FIELDS, inEffect } from './schema.js';

export function configView(loaded: LoadedConfig, path: string): ConfigView {
  const { config, sources } = loaded;
  const keys: ConfigKeyView[] = [];
  const add = (key: string, value: unknown, doc?: string) =>
    keys.push({ key, value, source: sources[key] ?? 'default', inEffect: inEffect(key), ...(doc ? { doc } : {}) });
  for (const [key, spec] of Object.entries(FIELDS)) add(key, (config as unknown as Record<string, unknown>)[key], spec.doc);
  for (const [k, v] of Object.entries(config.vm_defaults)) add(`vm_defaults.${k}`, v);
  add('file_sync', config.file_sync);
  add('egress.allow', config.egress.allow ?? [], 'allowlist entries every new VM gets (both network modes)');
  return {
    file: loaded.file ?? null,
    path,
    config: config as unknown as Record<string, unknown>,
    sources,
    keys,
  };
}
