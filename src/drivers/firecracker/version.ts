/** Which firecracker releases banger drives (1.5 to 1.16), read from `firecracker --version`. */
import { runUnchecked } from '../../system/exec.js';

export const FC_MIN: readonly [number, number] = [1, 5];
export const FC_MAX: readonly [number, number] = [1, 16];
export const FC_RELEASES = 'https://github.com/firecracker-microvm/firecracker/releases';
export const FC_FIX_HINT = `put a firecracker release binary (v1.5 to v1.16) on PATH or set firecracker_bin in config.toml: ${FC_RELEASES}`;

/** "Firecracker v1.16.1" -> [1, 16, 1]. */
export function parseFirecrackerVersion(text: string): [number, number, number] | undefined {
  const m = /firecracker\s+v?(\d+)\.(\d+)(?:\.(\d+))?/i.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

/** Undefined when banger supports the version; otherwise why not. */
export function versionProblem(v: readonly [number, number, number]): string | undefined {
  const [maj, min] = v;
  const s = v.join('.');
  if (maj < FC_MIN[0] || (maj === FC_MIN[0] && min < FC_MIN[1])) return `firecracker ${s} is older than ${FC_MIN.join('.')}, which banger needs`;
  if (maj > FC_MAX[0] || (maj === FC_MAX[0] && min > FC_MAX[1])) return `firecracker ${s} is newer than ${FC_MAX.join('.')}.x, the last release banger speaks`;
  return undefined;
}

export async function firecrackerVersion(bin: string): Promise<{ version?: [number, number, number]; said: string }> {
  const r = await runUnchecked([bin, '--version'], { timeoutMs: 10_000 });
  const said = (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
  return { ...(r.code === 0 ? { version: parseFirecrackerVersion(r.stdout) } : {}), said: said || `exit ${r.code ?? r.signal ?? '?'}` };
}
