/** `banger mcp`: an MCP server on stdio whose tools drive banger sandboxes through the SDK, under a policy. */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { buildInfo } from '../api/build-info.js';
import type { Banger } from '../sdk/index.js';
import type { Policy } from './policy.js';
import { callTool, TOOLS } from './tools.js';

export function createServer(banger: Banger, policy: Policy): Server {
  const server = new Server(
    { name: 'banger', version: buildInfo().version },
    {
      capabilities: { tools: {} },
      instructions:
        'banger gives you disposable Linux sandboxes (microVMs, root access). Create one with sandbox_create, run commands with sandbox_exec, ' +
        'move files with file_read/file_write, and delete it with sandbox_delete when the task is done.',
    },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: TOOLS.map((t) => ({ name: t.name, description: t.description, inputSchema: t.inputSchema })),
  }));
  server.setRequestHandler(CallToolRequestSchema, (req) => callTool({ banger, policy }, req.params.name, req.params.arguments));
  return server;
}

/** Serves on this process's stdin and stdout until the client closes them. */
export async function serveStdio(banger: Banger, policy: Policy): Promise<void> {
  const server = createServer(banger, policy);
  const closed = new Promise<void>((resolve) => (server.onclose = resolve));
  await server.connect(new StdioServerTransport());
  await closed;
}
