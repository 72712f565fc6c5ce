/**
 * Services over a throwaway state directory with the fake driver: a real store, real files, real
 * (cheap) VM processes that answer SSH, and a tiny registered image. For fast lifecycle tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { resolveConfig } from '../config/load.js';
import { resolveLayout, type Layout } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../system/logger.js';
import { writeTinyImageFiles } from './tiny-image.js';
import type { FakeKnobs } from '../drivers/fake/index.js';
import { fakeEntry, type DriverEntry } from '../drivers/registry.js';
import { createServices, type Services } from '../services/index.js';
import { openStore } from '../store/db.js';
import { listProcesses, signalProcess, waitForExit } from '../system/proc.js';

export interface FakeWorld {
  home: string;
  layout: Layout;
  config: Config;
  db: Database;
  services: Services;
  /** A second set of services over the same store and directories, as a restarted daemon would make. */
  restart(knobs?: FakeKnobs): Promise<Services>;
  /** Live processes whose command line mentions this world's directory. */
  processes(): number[];
  close(): Promise<void>;
}

/** `driver` replaces the fake driver's entry (a test that needs other capabilities wraps it). */
export async function fakeWorld(knobs: FakeKnobs = {}, configRaw: Record<string, unknown> = {}, driver: (k: FakeKnobs) => DriverEntry = fakeEntry): Promise<FakeWorld> {
  const home = mkdtempSync('/tmp/bfk-');
  const env = { BANGER_HOME: home };
  const layout = resolveLayout({ env });
  // The DNS server listens on a port the kernel picks, so worlds never collide with each other or a daemon.
  const config = resolveConfig({ ssh_wait_timeout: '20s', default_image_name: 'tiny', dns_listen_addr: '127.0.0.1:0', warm_pool: false, ...configRaw }, join(home, 'config.toml'), env).config;
  const logger = createLogger(join(home, 'daemon.log'), 'debug');
  const db = openStore(layout.dbPath);
  const made: Services[] = [];
  const make = (k: FakeKnobs) => {
    const s = createServices({ db, layout, config, logger, drivers: [driver(k)] });
    made.push(s);
    return s;
  };
  const services = make(knobs);
  await services.start();
  const { rootfs, kernel } = await writeTinyImageFiles(home);
  await services.images.register({ name: 'tiny', rootfs, kernel });
  const processes = () => listProcesses().filter((p) => p.argv.some((a) => a.includes(home))).map((p) => p.pid);
  return {
    home,
    layout,
    config,
    db,
    services,
    async restart(k: FakeKnobs = knobs) {
      const s = make(k);
      await s.start();
      return s;
    },
    processes,
    async close() {
      await Promise.all(made.map((s) => s.stop()));
      for (const pid of processes()) signalProcess(pid, 'SIGKILL');
      await Promise.all(processes().map((pid) => waitForExit(pid, 5000)));
      db.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
