/** bangerd: parse flags, load config, take the socket, serve until SIGTERM. */
import { createServer, type Server } from 'node:http';
import { chmodSync, chownSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { lookupUser } from '../system/users.js';
import { getRequestListener } from '@hono/node-server';
import { buildInfo, versionLine } from '../api/build-info.js';
import { BangerError } from '../api/errors.js';
import { resolveLayout, socketPathProblem, type Layout } from '../config/paths.js';
import { loadConfig } from '../config/load.js';
import { openStore } from '../store/db.js';
import { inspectSchema } from '../store/inspect.js';
import { createApp } from './app.js';
import { answerClientErrors } from './http-errors.js';
import { createLogger } from '../system/logger.js';
import { helperMain } from './helper-main.js';
import { OperationRegistry } from './operations.js';
import { acquireLock, AlreadyRunningError, socketAnswers } from './lock.js';
import { createServices } from '../services/index.js';
import { ensureWebToken } from './web/token.js';
import { startWebServer, type WebServer } from './web/server.js';
import type { DaemonContext } from './context.js';

interface Flags {
  system: boolean;
  checkMigrations: boolean;
  version: boolean;
  help: boolean;
  socket?: string;
}

/** The largest request head (request line and headers) the daemon reads; node's default. */
const MAX_HEADER_BYTES = 16 * 1024;
/** How long a client may take to send its headers, and its whole request (responses may stream longer). */
const REQUEST_HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;

const USAGE = `Usage: bangerd [--system] [--socket PATH] [--check-migrations] [--version]

The banger daemon. It owns VMs, images, kernels, networking and state, and serves
the API on a unix socket. The banger CLI starts it on demand; you rarely run it yourself.

  --helper ...         run banger's root helper instead (bangerd --helper --help)
  --system             use the system paths (/etc/banger, /var/lib/banger, /run/banger)
  --socket PATH        listen on PATH instead of the default socket
  --check-migrations   exit 0 when the state store is compatible, 1 when migrations
                       are needed, 2 when it was written by a newer banger
  --version            print the version and exit
`;

function parseFlags(argv: string[]): Flags {
  const f: Flags = { system: false, checkMigrations: false, version: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--system') f.system = true;
    else if (a === '--check-migrations') f.checkMigrations = true;
    else if (a === '--version' || a === '-v') f.version = true;
    else if (a === '--help' || a === '-h') f.help = true;
    else if (a === '--socket') f.socket = argv[++i];
    else if (a.startsWith('--socket=')) f.socket = a.slice('--socket='.length);
    else throw new BangerError('bad_request', `unknown flag ${a}`, { hint: 'run bangerd --help' });
  }
  return f;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--helper') return helperMain(argv.slice(1));
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    process.stderr.write(`bangerd: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (flags.version) {
    process.stdout.write(versionLine().replace(/^banger/, 'bangerd') + '\n');
    return 0;
  }
  const env = { ...process.env };
  if (flags.socket) env.BANGER_SOCKET = flags.socket;
  const layout = resolveLayout({ env, system: flags.system });
  if (flags.checkMigrations) {
    const s = inspectSchema(layout.dbPath);
    process.stdout.write(`${s.state} (applied ${s.applied.join(',') || 'none'}; latest ${s.latest})\n`);
    return s.state === 'incompatible' ? 2 : s.state === 'migrations_needed' ? 1 : 0;
  }
  const sockProblem = socketPathProblem(layout.socketPath);
  if (sockProblem) {
    process.stderr.write(`bangerd: ${sockProblem}\nhint: set BANGER_HOME or --socket to a shorter path\n`);
    return 2;
  }
  let loaded;
  try {
    loaded = loadConfig(layout.configFile);
  } catch (err) {
    const be = err instanceof BangerError ? err : undefined;
    process.stderr.write(`bangerd: invalid configuration: ${(err as Error).message}\n${be?.hint ? `hint: ${be.hint}\n` : ''}`);
    return 2;
  }
  try {
    return await serve(layout, loaded);
  } catch (err) {
    if (err instanceof AlreadyRunningError) {
      process.stderr.write(`bangerd: ${err.message}\nhint: stop it with banger daemon stop\n`);
      return 1;
    }
    process.stderr.write(`bangerd: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

function ensureDirs(layout: Layout): void {
  for (const d of [layout.runtimeDir, layout.stateDir, layout.sshDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
  for (const d of [layout.vmsDir, layout.imagesDir, layout.kernelsDir, layout.stagingDir, layout.cacheDir]) mkdirSync(d, { recursive: true, mode: 0o755 });
}

async function serve(layout: Layout, loaded: ReturnType<typeof loadConfig>): Promise<number> {
  ensureDirs(layout);
  const lockPath = `${layout.socketPath}.lock`;
  if (await socketAnswers(layout.socketPath)) throw new AlreadyRunningError(layout.socketPath);
  const release = acquireLock(lockPath, layout.socketPath);
  const logger = createLogger(layout.daemonLog, loaded.config.log_level, { pid: process.pid });
  let server: Server | undefined;
  try {
    rmSync(layout.socketPath, { force: true });
    const db = openStore(layout.dbPath);
    const ops = new OperationRegistry(logger);
    let resolveStop!: () => void;
    const stopped = new Promise<void>((r) => (resolveStop = r));
    const helperSocket = process.env.BANGER_HELPER_SOCKET;
    const services = createServices({ db, layout, config: loaded.config, logger, env: process.env, ...(helperSocket ? { helperSocket } : {}) });
    if (helperSocket) logger.info('bridge mode goes through the root helper', { socket: helperSocket });
    const ctx: DaemonContext = {
      layout,
      loaded,
      db,
      logger,
      ops,
      build: buildInfo(),
      startedAt: new Date(),
      services,
      requestShutdown: () => setImmediate(resolveStop),
    };
    await services.start();
    const app = createApp(ctx);
    const listener = getRequestListener(app.fetch);
    server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
      void listener(req, res);
    });
    server.keepAliveTimeout = 5000;
    // A client that stalls in the middle of its headers or body is cut off; others are never held up
    // by it (bodies are bounded by the body limit in app.ts, answered 413 from Content-Length alone).
    server.headersTimeout = REQUEST_HEADERS_TIMEOUT_MS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    answerClientErrors(server, MAX_HEADER_BYTES);
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      const old = process.umask(0o177);
      server!.listen(layout.socketPath, () => {
        process.umask(old);
        resolve();
      });
    });
    chmodSync(layout.socketPath, 0o600);
    const ownerName = process.env.BANGER_OWNER;
    if (ownerName) {
      // System mode: the owner and the members of its group reach the socket.
      const owner = lookupUser(ownerName);
      if (!owner) throw new BangerError('bad_request', `BANGER_OWNER names unknown user ${ownerName}`);
      chownSync(layout.runtimeDir, owner.uid, owner.gid);
      if ((statSync(layout.runtimeDir).mode & 0o011) !== 0o011) chmodSync(layout.runtimeDir, 0o711);
      chownSync(layout.socketPath, owner.uid, owner.gid);
      chmodSync(layout.socketPath, 0o660);
      logger.info('socket handed to owner', { owner: ownerName, uid: owner.uid, gid: owner.gid, mode: '0660' });
    }
    const web = await startWeb(ctx, app);
    writeFileSync(layout.pidFile, `${process.pid}\n`, { mode: 0o600 });
    logger.info('bangerd listening', { socket: layout.socketPath, version: ctx.build.version, commit: ctx.build.commit });
    let step = 'stopping';
    let stopping = false;
    const exitNow = () => {
      rmSync(layout.socketPath, { force: true });
      rmSync(layout.pidFile, { force: true });
      release();
      process.exit(1);
    };
    const onSignal = (sig: string) => {
      if (stopping) {
        // A second signal: whoever sent it will not wait any longer.
        logger.warn('second signal while stopping; exiting now', { signal: sig, step });
        exitNow();
      }
      logger.info('signal received', { signal: sig });
      resolveStop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    await stopped;
    stopping = true;
    logger.info('bangerd stopping');
    // Work that does not end when cancelled must not keep the daemon (and its socket) alive for ever.
    setTimeout(() => {
      logger.error('bangerd did not stop in time; exiting', { step, graceMs: SHUTDOWN_GRACE_MS });
      exitNow();
    }, SHUTDOWN_GRACE_MS).unref();
    step = 'closing the API socket';
    await closeServer(server);
    step = 'closing the web UI';
    await web?.close();
    step = 'cancelling running operations';
    await ops.cancelAll();
    step = 'stopping services';
    await ctx.services.stop();
    db.close();
    logger.info('bangerd stopped');
    return 0;
  } finally {
    rmSync(layout.socketPath, { force: true });
    rmSync(layout.pidFile, { force: true });
    release();
  }
}

/** The web UI on web_listen_addr, when set. A failure to listen is logged and shown by `banger web`; the daemon serves on. */
async function startWeb(ctx: DaemonContext, api: ReturnType<typeof createApp>): Promise<WebServer | undefined> {
  const addr = ctx.loaded.config.web_listen_addr;
  if (!addr) return undefined;
  try {
    const token = ensureWebToken(ctx.layout.webTokenPath);
    const web = await startWebServer(ctx, api, addr, token);
    ctx.web = { listenAddr: addr, token };
    ctx.logger.info('web UI listening', { addr });
    return web;
  } catch (err) {
    ctx.webError = (err as Error).message;
    ctx.logger.error('web UI could not start', { addr, error: err });
    return undefined;
  }
}

/** How long a stop may take once signalled before the daemon exits anyway. */
const SHUTDOWN_GRACE_MS = 30_000;

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, 2000).unref();
  });
}
