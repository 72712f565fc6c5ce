/**
 * `bangerd --helper`: banger's root helper. It runs as root next to a daemon that runs as its owner
 * (system mode) and performs only bridge mode's privileged host operations (bridge, taps, banger's
 * nftables tables, ip_forward, the bridge's resolver link), for the owner and root only.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { BangerError } from '../api/errors.js';
import { loadConfig } from '../config/load.js';
import { resolveLayout } from '../config/paths.js';
import { lookupUser } from '../system/users.js';
import { startHelperServer } from '../system/root-helper/server.js';
import { HELPER_SOCKET } from '../system/root-helper/paths.js';

const USAGE = `Usage: bangerd --helper [--owner USER] [--socket PATH] [--bridge NAME]

banger's root helper: creates banger's bridge and taps and manages banger's nftables
tables for a daemon that runs as USER (default: BANGER_OWNER). Only USER and root may
connect. It runs as root; banger system install sets it up.

  --owner USER    the daemon's user (the only non-root user it serves; taps are made for it)
  --socket PATH   listen on PATH (default ${HELPER_SOCKET})
  --bridge NAME   the bridge it may make (default: bridge_name of /etc/banger/config.toml)
`;

interface HelperFlags {
  owner?: string;
  socket: string;
  bridges: string[];
  help: boolean;
}

function parse(argv: string[]): HelperFlags {
  const f: HelperFlags = { socket: HELPER_SOCKET, bridges: [], help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new BangerError('bad_request', `${a} needs a value`);
      return v;
    };
    if (a === '--help' || a === '-h') f.help = true;
    else if (a === '--owner') f.owner = value();
    else if (a === '--socket') f.socket = value();
    else if (a === '--bridge') f.bridges.push(value());
    else throw new BangerError('bad_request', `unknown flag ${a}`);
  }
  return f;
}

export async function helperMain(argv: string[]): Promise<number> {
  let flags: HelperFlags;
  try {
    flags = parse(argv);
  } catch (err) {
    process.stderr.write(`bangerd --helper: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const ownerName = flags.owner ?? process.env.BANGER_OWNER;
  const owner = ownerName ? lookupUser(ownerName) : undefined;
  if (!owner) {
    process.stderr.write(`bangerd --helper: ${ownerName ? `unknown user ${ownerName}` : 'no owner: pass --owner USER or set BANGER_OWNER'}\n`);
    return 2;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bangerd --helper: the root helper must run as root\n');
    return 2;
  }
  let bridges = flags.bridges;
  if (bridges.length === 0) {
    try {
      bridges = [loadConfig(resolveLayout({ env: {}, system: true }).configFile).config.bridge_name];
    } catch (err) {
      process.stderr.write(`bangerd --helper: invalid configuration: ${(err as Error).message}\n`);
      return 2;
    }
  }
  mkdirSync(dirname(flags.socket), { recursive: true, mode: 0o711 });
  const log = (event: string, fields: Record<string, unknown>) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), msg: event, ...fields })}\n`);
  const server = await startHelperServer({ socketPath: flags.socket, ownerUid: owner.uid, bridges, log });
  log('root helper listening', { socket: flags.socket, owner: owner.name, uid: owner.uid, bridges });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await server.close();
  log('root helper stopped', {});
  return 0;
}
