/** banger vm workspace prepare|export (not built yet) */
import type { Command } from 'commander';
import { NOT_YET_AVAILABLE, notBuiltYet, type CliContext } from '../../context.js';

export function registerWorkspace(vm: Command, _ctx: CliContext): void {
  const ws = vm.command('workspace').description(`Copy a git checkout in, and get changes back as a patch ${NOT_YET_AVAILABLE}`);
  notBuiltYet(ws.command('prepare').argument('<name>').argument('<path>'), 'Copy a checkout into the VM', 'vm workspace prepare');
  notBuiltYet(ws.command('export').argument('<name>'), 'Write the guest changes as a patch', 'vm workspace export');
}
