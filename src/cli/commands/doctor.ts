/** banger doctor */
import { Option, type Command } from 'commander';
import { ExitStatus, type CliContext } from '../context.js';
import { printJson } from '../render.js';

export function registerDoctor(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('Check this host for everything banger needs')
    // The doctor no longer boots test guests itself (kvm-usable reports bangerd's verdict); the flag
    // is still accepted so that scripts passing it keep working.
    .addOption(new Option('--no-probe').hideHelp())
    .addHelpText(
      'after',
      `
One PASS/WARN/FAIL row per check; every FAIL says the command that fixes it.
The doctor only reads: it does not start bangerd, boot test guests or change the state store.
kvm-usable shows the KVM/TCG verdict a running bangerd made at its first VM start, with the driver
(qemu or firecracker) new VMs get and why (driver = "auto" names what it passed over).

Examples:
  banger doctor              check this host
  banger doctor --json       the same as {checks: [...], ok}

Exit status: 0 when nothing FAILs, 1 otherwise.`,
    )
    .action(async () => {
      if (await ctx.delegate(['doctor'])) return;
      // Loaded on demand so that other commands do not pay for the checks at startup.
      const [{ runDoctor, formatReport }, { hostDoctorEnv }] = await Promise.all([import('../../doctor/run.js'), import('../../doctor/env.js')]);
      const env = hostDoctorEnv({ env: ctx.io.env, layout: ctx.layout() });
      const report = await runDoctor(env);
      if (ctx.globals.json) printJson(ctx.io, report);
      else ctx.io.stdout.write(formatReport(report, ctx.out));
      if (!report.ok) throw new ExitStatus(1);
    });
}
