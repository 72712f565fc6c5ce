/** What the host has: CPUs, load, memory (MemAvailable from /proc/meminfo) and a filesystem's space. */
import { cpus, freemem, hostname, loadavg, totalmem } from 'node:os';
import { readFileSync, statfsSync } from 'node:fs';

export interface HostFacts {
  hostname: string;
  cpus: number;
  loadAvg: [number, number, number];
  memoryTotalBytes: number;
  memoryAvailableBytes: number;
  disk: { path: string; totalBytes: number; freeBytes: number };
}

function memAvailable(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux: the free pages are the best we have */
  }
  return freemem();
}

/** `diskPath` names the filesystem whose space is reported (banger's state directory). */
export function hostFacts(diskPath: string): HostFacts {
  const fs = statfsSync(diskPath);
  const [a = 0, b = 0, c = 0] = loadavg();
  return {
    hostname: hostname(),
    cpus: cpus().length,
    loadAvg: [a, b, c],
    memoryTotalBytes: totalmem(),
    memoryAvailableBytes: memAvailable(),
    disk: { path: diskPath, totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize },
  };
}
