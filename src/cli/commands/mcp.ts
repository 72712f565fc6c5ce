/** banger mcp: serve banger's sandboxes to an MCP client (Claude Code, Cursor...) over stdio. */
import type { Command } from 'commander';
import { badRequest } from '../../api/errors.js';
import { DEFAULT_PREFIX, type Policy } from '../../mcp/policy.js';
import type { CliContext } from '../context.js';

interface McpOpts {
  allowImages?: string;
  maxVms?: string;
  delete: boolean;
  namePrefix: string;
}

export function registerMcp(program: Command, ctx: CliContext): void {
  program
    .command('mcp')
    .description('Serve sandboxes to an AI agent: an MCP server on stdin/stdout')
    .option('--allow-images <list>', 'comma-separated images sandbox_create may use (default: any)')
    .option('--max-vms <n>', 'at most this many of the server\'s sandboxes at once')
    .option('--no-delete', 'refuse sandbox_delete')
    .option('--name-prefix <prefix>', 'name every sandbox the server creates with this prefix; its tools touch only those', DEFAULT_PREFIX)
    .addHelpText('after', '\nExamples:\n  claude mcp add banger -- banger mcp\n  banger mcp --allow-images debian-bookworm --max-vms 2 --no-delete')
    .action(async (o: McpOpts) => {
      const policy: Policy = { allowDelete: o.delete, namePrefix: o.namePrefix };
      if (!/^[a-z0-9][a-z0-9-]{0,29}$/.test(o.namePrefix)) throw badRequest(`--name-prefix ${JSON.stringify(o.namePrefix)} must be lowercase a-z, 0-9 and '-', at most 30 characters`);
      if (o.allowImages !== undefined) {
        const images = o.allowImages.split(',').map((s) => s.trim()).filter(Boolean);
        if (images.length === 0) throw badRequest('--allow-images needs at least one image name');
        policy.allowImages = images;
      }
      if (o.maxVms !== undefined) {
        const n = Number(o.maxVms);
        if (!Number.isInteger(n) || n < 1) throw badRequest(`--max-vms must be a whole number of at least 1, got ${o.maxVms}`);
        policy.maxVms = n;
      }
      // The MCP SDK takes a good share of a second to load: only this command pays for it.
      const { serveStdio } = await import('../../mcp/server.js');
      await serveStdio(ctx.sdk(), policy);
    });
}
