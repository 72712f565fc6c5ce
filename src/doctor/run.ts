/** Runs every check and renders the report. Read-only: never starts the daemon, never migrates the store. */
import type { DoctorCheck } from '../api/types.js';
import { CHECKS, type NamedCheck } from './checks/index.js';
import type { DoctorEnv } from './env.js';

export interface DoctorReport {
  checks: DoctorCheck[];
  ok: boolean;
}

/** Runs the checks concurrently and returns their rows in order; a check that throws becomes a FAIL row. */
export async function runDoctor(env: DoctorEnv, checks: readonly NamedCheck[] = CHECKS): Promise<DoctorReport> {
  const rows = await Promise.all(
    checks.map(async (c): Promise<DoctorCheck> => {
      try {
        return await c.run(env);
      } catch (err) {
        return { name: c.name, status: 'FAIL', details: [`the check itself failed: ${err instanceof Error ? err.message : String(err)}`] };
      }
    }),
  );
  return { checks: rows, ok: rows.every((r) => r.status !== 'FAIL') };
}

/** The colours the report uses; the CLI's Style has them (or leaves the text plain). */
export type ReportStyle = Record<'red' | 'green' | 'yellow' | 'cyan', (s: string) => string>;

const PLAIN: ReportStyle = { red: (s) => s, green: (s) => s, yellow: (s) => s, cyan: (s) => s };

/**
 * One aligned row per check (status, name, first detail), further details and the fix as indented
 * `- ` lines under the first detail.
 */
export function formatReport(report: DoctorReport, style: ReportStyle = PLAIN): string {
  const width = Math.max(0, ...report.checks.map((c) => c.name.length));
  const indent = ' '.repeat(4 + 2 + width + 2);
  const colour = { PASS: (s: string) => style.green(s), WARN: (s: string) => style.yellow(s), FAIL: (s: string) => style.red(s) };
  const lines: string[] = [];
  for (const c of report.checks) {
    const [first = '', ...rest] = c.details;
    lines.push(`${colour[c.status](c.status)}  ${c.name.padEnd(width)}  ${first}`.trimEnd());
    for (const d of rest) lines.push(`${indent}- ${d}`);
    if (c.fix) lines.push(`${indent}- ${style.cyan(`fix: ${c.fix}`)}`);
  }
  const count = (s: DoctorCheck['status']) => report.checks.filter((c) => c.status === s).length;
  const fails = count('FAIL');
  const warns = count('WARN');
  lines.push('');
  lines.push(
    `${report.checks.length} checks: ${count('PASS')} passed, ${warns} ${warns === 1 ? 'warning' : 'warnings'}, ${fails} failed` +
      (fails ? ' (run the fix lines above, then banger doctor again)' : ''),
  );
  return lines.join('\n') + '\n';
}
