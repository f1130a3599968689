import type { Command } from 'commander';
import { agentToJson } from '../format/json.js';
import { formatAgentsTable } from '../format/table.js';
import { toJsonText, withClient, type CliContext } from './context.js';
import { flagOption } from './options.js';

/** Adds `agents` to the program. */
export function addAgentCommands(program: Command, ctx: CliContext): void {
  program
    .command('agents')
    .description('list the agent slots the coordinator knows')
    .addOption(flagOption('--json', 'print a JSON array of agents', 'TESSERA_JSON'))
    .addOption(flagOption('--include-lost', 'also list agents that went silent', 'TESSERA_INCLUDE_LOST'))
    .action((flags: { json: boolean; includeLost: boolean }, cmd: Command) =>
      withClient(cmd, async (client) => {
        const agents = await client.listAgents({ includeLost: flags.includeLost }, { signal: ctx.signal });
        ctx.out(flags.json ? toJsonText(agents.map(agentToJson)) : formatAgentsTable(agents));
      }),
    );
}
