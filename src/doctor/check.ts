/** Small constructors shared by the checks. */
import type { DoctorCheck } from '../api/types.js';
import type { DoctorEnv } from './env.js';

export type Check = (env: DoctorEnv) => DoctorCheck | Promise<DoctorCheck>;

export const pass = (name: string, ...details: string[]): DoctorCheck => ({ name, status: 'PASS', details });

export const warn = (name: string, details: string[], fix?: string): DoctorCheck => ({ name, status: 'WARN', details, ...(fix ? { fix } : {}) });

export const fail = (name: string, details: string[], fix?: string): DoctorCheck => ({ name, status: 'FAIL', details, ...(fix ? { fix } : {}) });

/** The daemon's ping, or undefined when nothing answers or what answers is not bangerd (the daemon check reports that). */
export async function daemonPing(env: DoctorEnv): Promise<Awaited<ReturnType<DoctorEnv['ping']>>> {
  try {
    return await env.ping();
  } catch {
    return undefined;
  }
}

/** The first non-empty line a tool printed (stdout first, then stderr). */
export function firstLine(out: { stdout: string; stderr: string }): string {
  for (const text of [out.stdout, out.stderr]) {
    const line = text.split('\n').find((l) => l.trim() !== '');
    if (line) return line.trim();
  }
  return '';
}
