/** The banger command tree. `runCli` never exits the process, so tests run it in-process. */
import { Command, CommanderError } from 'commander';
import { versionLine } from '../api/build-info.js';
import { CliContext, ExitStatus } from './context.js';
import { processIO, type CliIO } from './io.js';
import { reportError } from './render.js';
import { registerVM } from './commands/vm/index.js';
import { registerImage } from './commands/image.js';
import { registerKernel } from './commands/kernel.js';
import { registerDaemon } from './commands/daemon.js';
import { registerDns } from './commands/dns.js';
import { registerSystem } from './commands/system.js';
import { registerConfig } from './commands/config.js';
import { registerDoctor } from './commands/doctor.js';
import { registerSshConfig } from './commands/ssh-config.js';
import { registerMisc } from './commands/misc.js';
import { registerContext } from './commands/context.js';
import { registerMcp } from './commands/mcp.js';
import { registerWeb } from './commands/web.js';

const ROOT_HELP = `
Examples:
  banger vm run                         boot a sandbox and open a root shell
  banger vm run --rm -- cat /etc/os-release
                                        run one command in a throwaway VM
  banger vm list                        the VMs and their state
  banger image build debian-bookworm    build the default image
  banger doctor                         check this host

Environment:
  BANGER_HOME        keep all state, config and sockets under this directory
  BANGER_CONTEXT     the context to use (a daemon on another host, see banger context)
  BANGER_LOG_LEVEL   daemon log level (debug, info, warn, error)
  NO_COLOR           disable colours

Exit status: 0 ok, 1 operation failed, 2 usage or bad request, 3 not found,
4 already exists, 5 unavailable, 6 not running; vm run/exec/ssh pass the
guest command's status through.`;

export function buildProgram(io: CliIO): { program: Command; ctx: CliContext } {
  const program = new Command('banger');
  const ctx = new CliContext(io, program);
  program
    .description('One-command Linux development sandboxes on microVMs.')
    .option('--json', 'machine-readable output')
    .option('--debug', 'show stack traces and debug detail')
    .option('--socket <path>', 'daemon socket to use (on the remote host for an ssh:// context)')
    .option('--context <name>', 'the context to use (see banger context ls); default: BANGER_CONTEXT, then the current one')
    .version(versionLine(), '-V, --version', 'print the version')
    .addHelpText('after', ROOT_HELP)
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(s.replace(/^error:/, 'banger:')),
    })
    .exitOverride();
  registerVM(program, ctx);
  registerImage(program, ctx);
  registerKernel(program, ctx);
  registerDoctor(program, ctx);
  registerSshConfig(program, ctx);
  registerDaemon(program, ctx);
  registerDns(program, ctx);
  registerSystem(program, ctx);
  registerConfig(program, ctx);
  registerContext(program, ctx);
  registerMisc(program, ctx);
  registerMcp(program, ctx);
  registerWeb(program, ctx);
  applyToAll(program, (c) => {
    c.exitOverride();
    c.showSuggestionAfterError(true);
    c.configureOutput(program.configureOutput());
  });
  return { program, ctx };
}

function applyToAll(cmd: Command, fn: (c: Command) => void): void {
  for (const sub of cmd.commands) {
    fn(sub);
    applyToAll(sub, fn);
  }
}

export async function runCli(argv: string[], io: CliIO = processIO()): Promise<number> {
  const { program, ctx } = buildProgram(io);
  const dd = argv.indexOf('--');
  if (dd >= 0) ctx.passthrough = argv.slice(dd + 1);
  try {
    await program.parseAsync(dd >= 0 ? argv.slice(0, dd) : argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof ExitStatus) return err.status;
    if (err instanceof CommanderError) {
      if (['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(err.code)) return 0;
      if (err.code === 'commander.executeSubCommandAsync') return err.exitCode;
      return 2;
    }
    return reportError(io, err, ctx.globals);
  }
}
