/** Fakes for the doctor's tests: a host made of a temporary bin directory and fixed facts. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLayout } from '../config/paths.js';
import { DEFAULT_BINS, toolLookup, toolRunner, type DoctorEnv } from './env.js';

const created: string[] = [];
process.once('exit', () => {
  for (const d of created) rmSync(d, { recursive: true, force: true });
});

/** A temporary directory removed when the test process exits. */
export function tempDir(prefix = 'banger-doctor-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  created.push(d);
  return d;
}

export const DEBIAN_OS_RELEASE: Record<string, string> = { ID: 'debian', VERSION_ID: '12', PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)' };

/** A temporary directory holding one shell script per tool; each prints `output` (to stdout) and exits with `code`. */
export function fakeBin(tools: Record<string, string | { stdout?: string; stderr?: string; code?: number }>): string {
  const dir = tempDir('banger-doctor-bin-');
  for (const [name, spec] of Object.entries(tools)) {
    const s = typeof spec === 'string' ? { stdout: spec } : spec;
    const q = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
    const lines = ['#!/bin/sh'];
    if (s.stdout !== undefined) lines.push(`printf '%s\\n' ${q(s.stdout)}`);
    if (s.stderr !== undefined) lines.push(`printf '%s\\n' ${q(s.stderr)} >&2`);
    lines.push(`exit ${s.code ?? 0}`);
    const p = join(dir, name);
    writeFileSync(p, lines.join('\n') + '\n');
    chmodSync(p, 0o755);
  }
  return dir;
}

/** A DoctorEnv that finds tools only in `binDir`, as root on Debian, with everything else overridable. */
export function fakeDoctorEnv(binDir: string, overrides: Partial<DoctorEnv> = {}): DoctorEnv {
  const home = overrides.env?.BANGER_HOME ?? tempDir('banger-doctor-home-');
  const env = { PATH: binDir, BANGER_HOME: home };
  return {
    env,
    uid: 0,
    layout: resolveLayout({ env }),
    machine: 'x86_64',
    release: '6.1.0-18-amd64',
    osRelease: DEBIAN_OS_RELEASE,
    bins: { ...DEFAULT_BINS },
    which: toolLookup(binDir, { systemDirs: false }),
    runTool: toolRunner(env, 10_000),
    exists: () => true,
    canAccess: () => true,
    freeSpace: (p) => ({ available: 100 * 1024 ** 3, measured: p }),
    ping: () => Promise.resolve(undefined),
    hypervisorVerdict: () => Promise.resolve(undefined),
    ...overrides,
  };
}
