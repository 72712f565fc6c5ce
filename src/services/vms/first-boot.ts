/**
 * The VM side of an image's first-boot installer (an image without openssh-server): until a VM's
 * first boot succeeded, its network is attached with the installer's mirror hosts added to its egress
 * (the allowlist; nothing is added when --nat already lets everything out), the installer's console
 * lines are shown as progress and a failure ends the wait at once; once SSH answers, the VM is marked
 * done and its egress goes back to what it was given.
 *
 * @module
 */
import { closeSync, existsSync, openSync, readSync, writeFileSync } from 'node:fs';
import { unavailable } from '../../api/errors.js';
import type { ImageInfo } from '../../api/types.js';
import { FIRST_BOOT_FAILED, FIRST_BOOT_TAG } from '../../guest/index.js';
import type { VMRow } from '../../store/vms.js';
import { isFirstBootPlan, type FirstBootPlan } from '../../model/first-boot.js';

/** The installer plan of the VM's image, when the image carries one. */
export function firstBootOf(image: ImageInfo): FirstBootPlan | undefined {
  const f = image.meta.firstBoot;
  return isFirstBootPlan(f) ? f : undefined;
}

/** Refuses an image that has no init system (recorded at pull): it cannot boot. */
export function refuseUnbootable(image: ImageInfo): void {
  if (image.meta.initMissing !== true) return;
  throw unavailable(
    `image ${image.name} has no init system (systemd), so banger cannot boot it (the first-boot installer that adds openssh-server runs under systemd)`,
    `add systemd to the image (Debian/Ubuntu: apt-get install -y systemd-sysv) and pull it again`,
  );
}

/** The installer's plan when the VM has not finished its first boot yet. */
export function pendingFirstBoot(image: ImageInfo, doneMarker: string): FirstBootPlan | undefined {
  const plan = firstBootOf(image);
  return plan && !existsSync(doneMarker) ? plan : undefined;
}

/** The VM as its network sees it during the install: the mirror hosts added to its egress. */
export function withInstallerEgress(row: VMRow, hosts: readonly string[]): VMRow {
  if (row.spec.nat && row.spec.allow === undefined) return row;
  const allow = [...new Set([...(row.spec.allow ?? []), ...hosts])];
  return { ...row, spec: { ...row.spec, allow } };
}

export function markFirstBootDone(doneMarker: string): void {
  writeFileSync(doneMarker, `${new Date().toISOString()}\n`, { mode: 0o644 });
}

/** Follows the console log for the installer's lines; `failure` is its FAILED line once it printed one. */
export class InstallerWatch {
  private offset = 0;
  private partial = '';
  failure: string | undefined;

  constructor(
    private readonly consoleLog: string,
    private readonly onLine: (line: string) => void,
  ) {}

  /** Reads what the console gained since the last call. */
  poll(): void {
    let fd: number;
    try {
      fd = openSync(this.consoleLog, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.take(buf.subarray(0, n).toString('utf8'));
      }
    } finally {
      closeSync(fd);
    }
  }

  private take(text: string): void {
    const lines = (this.partial + text).split(/\r?\n|\r/);
    this.partial = lines.pop() ?? '';
    for (const raw of lines) {
      const at = raw.indexOf(FIRST_BOOT_TAG);
      if (at < 0) continue;
      const line = raw.slice(at).trim();
      this.onLine(line);
      if (line.startsWith(FIRST_BOOT_FAILED) && this.failure === undefined) this.failure = line;
    }
  }
}
