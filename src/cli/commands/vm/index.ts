/** banger vm ...: the group, its help, and one module per verb (as limactl has one file per command). */
import type { Command } from 'commander';
import type { CliContext } from '../../context.js';
import { registerCreate } from './create.js';
import { registerDelete } from './delete.js';
import { registerEgress } from './egress.js';
import { registerExec } from './exec.js';
import { registerHealth } from './health.js';
import { registerKill } from './kill.js';
import { registerList } from './list.js';
import { registerLogs } from './logs.js';
import { registerPorts } from './ports.js';
import { registerPrune } from './prune.js';
import { registerPause } from './pause.js';
import { registerRestart } from './restart.js';
import { registerRun } from './run.js';
import { registerSession } from './session.js';
import { registerSet } from './set.js';
import { registerShow } from './show.js';
import { registerSnapshot } from './snapshot.js';
import { registerSSH } from './ssh.js';
import { registerStart } from './start.js';
import { registerStats } from './stats.js';
import { registerStop } from './stop.js';
import { registerDiff, registerWorkspace } from './workspace.js';

export function registerVM(program: Command, ctx: CliContext): void {
  const vm = program
    .command('vm')
    .description('Create, run and manage VMs')
    .addHelpText(
      'after',
      `
Examples:
  banger vm run                         boot a sandbox and open a root shell
  banger vm run --rm -- make test       run one command in a throwaway VM
  banger vm run ./repo -- make test     the same in a copy of a git checkout (/root/repo)
  banger vm create --name dev --no-start
  banger vm list
  banger vm ssh dev                     shell in a running VM
  banger vm exec dev -- uname -a        run a command, exit with its status
  banger vm diff dev                    what changed in dev's workspace
  banger vm session start dev --name web -- python3 -m http.server
  banger vm snapshot create dev --name warm && banger vm run --from warm
  banger vm fork dev -n 2               two children restored from a snapshot of dev
  banger vm stop dev && banger vm delete dev`,
    );

  registerRun(vm, ctx);
  registerCreate(vm, ctx);
  registerStart(vm, ctx);
  registerStop(vm, ctx);
  registerRestart(vm, ctx);
  registerKill(vm, ctx);
  registerDelete(vm, ctx);
  registerPrune(vm, ctx);
  registerList(vm.command('list').alias('ls'), ctx);
  registerShow(vm, ctx);
  registerLogs(vm, ctx);
  registerStats(vm, ctx);
  registerSet(vm, ctx);
  registerSSH(vm, ctx);
  registerExec(vm, ctx);
  registerHealth(vm, ctx);
  registerPorts(vm, ctx);
  registerEgress(vm, ctx);
  registerWorkspace(vm, ctx);
  registerDiff(vm, ctx);
  registerSnapshot(vm, ctx);
  registerSession(vm, ctx);
  registerPause(vm, ctx);

  registerList(program.command('ps'), ctx);
}
