/** Version, commit and build time stamped by the build. */
import { readFileSync } from 'node:fs';
import type { BuildInfo } from './types.js';

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  try {
    cached = JSON.parse(readFileSync(new URL('../build-info.json', import.meta.url), 'utf8')) as BuildInfo;
  } catch {
    cached = { version: '0.0.0-dev', commit: 'unknown', builtAt: 'unknown' };
  }
  return cached;
}

export function sameBuild(a: BuildInfo, b: BuildInfo): boolean {
  return a.version === b.version && a.commit === b.commit && a.builtAt === b.builtAt;
}

export function versionLine(b: BuildInfo = buildInfo()): string {
  return `banger v${b.version} (commit ${b.commit.slice(0, 12)}, built ${b.builtAt})`;
}
