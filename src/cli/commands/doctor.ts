/** banger doctor */
import type { Command } from 'commander';
import { ExitStatus, type CliContext } from '../context.js';
import { printJson } from '../render.js';

export function registerDoctor(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('Check this host for everything banger needs')
    .option('--no-probe', 'do not boot test guests to decide whether KVM works (kvm-usable then says "not probed")')
    .addHelpText(
      'after',
      `
One PASS/WARN/FAIL row per check; every FAIL says the command that fixes it.
The doctor only reads: it does not start bangerd or change the state store.

Examples:
  banger doctor              check this host
  banger doctor --json       the same as {checks: [...], ok}
  banger doctor --no-probe   skip the KVM boot test (up to ~10s on hosts where KVM hangs)

Exit status: 0 when nothing FAILs, 1 otherwise.`,
    )
    .action(async (opts: { probe: boolean }) => {
      // Loaded on demand so that other commands do not pay for the store and the checks at startup.
      const [{ runDoctor, formatReport }, { hostDoctorEnv }, { loadKvmProbe }] = await Promise.all([
        import('../../doctor/run.js'),
        import('../../doctor/env.js'),
        import('../../doctor/kvm-probe.js'),
      ]);
      const kvmProbe = opts.probe
        ? await loadKvmProbe(ctx.layout().dbPath).catch((err: unknown) => () => Promise.reject(err instanceof Error ? err : new Error(String(err))))
        : undefined;
      const env = hostDoctorEnv({ env: ctx.io.env, layout: ctx.layout(), ...(kvmProbe ? { kvmProbe } : {}) });
      const report = await runDoctor(env);
      if (ctx.globals.json) printJson(ctx.io, report);
      else ctx.io.stdout.write(formatReport(report, ctx.out));
      if (!report.ok) throw new ExitStatus(1);
    });
}
