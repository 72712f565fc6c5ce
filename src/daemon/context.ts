/** Everything route handlers need, built once at daemon start. */
import type { Database } from 'better-sqlite3';
import type { BuildInfo } from '../api/types.js';
import type { Layout } from '../config/paths.js';
import type { LoadedConfig } from '../config/load.js';
import type { Logger } from '../system/logger.js';
import type { OperationRegistry } from './operations.js';
import type { Services } from '../services/index.js';

export interface DaemonContext {
  layout: Layout;
  loaded: LoadedConfig;
  db: Database;
  logger: Logger;
  ops: OperationRegistry;
  build: BuildInfo;
  startedAt: Date;
  services: Services;
  /** The web UI, when web_listen_addr is set and its server is listening. */
  web?: { listenAddr: string; token: string };
  /** Why the web UI is not listening although web_listen_addr is set. */
  webError?: string;
  /** Asks the daemon to stop after the current response. */
  requestShutdown(): void;
}
