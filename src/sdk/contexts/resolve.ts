/** Which context a command uses: --context, else BANGER_CONTEXT, else the stored current one, else the local daemon. */
import { BangerError } from '../../api/errors.js';
import { resolveLayout } from '../../config/paths.js';
import { checkContextName, DEFAULT_CONTEXT, readContexts } from './store.js';
import type { RemoteContext } from './ssh-transport.js';

export interface Selected {
  name: string;
  /** Where the choice came from. */
  source: 'flag' | 'env' | 'file' | 'default';
  /** Absent for the local daemon. */
  remote?: RemoteContext;
}

/** Where contexts.json lives and where connections keep their sockets: the user's layout, even next to a system install. */
export function contextDirs(env: NodeJS.ProcessEnv): { configDir: string; runtimeDir: string } {
  const l = resolveLayout({ env });
  return { configDir: l.configDir, runtimeDir: l.runtimeDir };
}

export function selectContext(env: NodeJS.ProcessEnv, flag?: string): Selected {
  const file = readContexts(contextDirs(env).configDir);
  const fromEnv = env.BANGER_CONTEXT?.trim();
  const [name, source]: [string, Selected['source']] = flag
    ? [flag, 'flag']
    : fromEnv
      ? [fromEnv, 'env']
      : file.current
        ? [file.current, 'file']
        : [DEFAULT_CONTEXT, 'default'];
  if (name === DEFAULT_CONTEXT) return { name, source };
  checkContextName(name);
  const stored = file.contexts[name];
  if (!stored) {
    const where = source === 'flag' ? '--context' : source === 'env' ? 'BANGER_CONTEXT' : 'the current context';
    throw new BangerError('not_found', `context ${name} (from ${where}) does not exist`, {
      hint: `banger context ls lists them; banger context create ${name} --host ssh://HOST adds it`,
    });
  }
  return { name, source, remote: { name, ...stored } };
}
