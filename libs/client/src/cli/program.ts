import { Command } from 'commander';
import { createRequire } from 'node:module';
import { DEFAULT_SERVER } from '../options.js';
import { addAgentCommands } from './agents.js';
import type { CliContext } from './context.js';
import { addJobCommands } from './jobs.js';
import { addressArg, flagOption, intArg, valueOption } from './options.js';
import { addPlanCommand } from './plan.js';
import { addUpCommand } from './up.js';
import { addModelCommands } from './models.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/**
 * Builds the `tessera` command tree. Commander never exits the process itself (exitOverride): main.ts
 * maps its errors to exit status 2 and prints server errors as `tessera: CODE: details`.
 */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('tessera')
    .description('Submit and follow jobs on a Tessera render farm, or run a local farm (tessera up).')
    .version(version)
    .exitOverride()
    .showHelpAfterError('(run "tessera --help" for usage)')
    .configureOutput({ outputError: (text, write) => write(`tessera: ${text.replace(/^error: /, '')}`) })
    .addOption(
      valueOption('--server <host:port>', 'coordinator gRPC address', 'TESSERA_SERVER')
        .default(DEFAULT_SERVER)
        .argParser(addressArg),
    )
    .addOption(valueOption('--token <token>', 'bearer token sent with every call', 'TESSERA_TOKEN'))
    .addOption(flagOption('--tls', 'use TLS (with the system roots unless --tls-ca)', 'TESSERA_TLS'))
    .addOption(
      valueOption(
        '--tls-ca <file>',
        'PEM CA certificates to trust instead of the system roots (implies --tls)',
        'TESSERA_TLS_CA',
      ),
    )
    .addOption(
      valueOption(
        '--tls-cert <file>',
        'PEM client certificate for mutual TLS (implies --tls; with --tls-key)',
        'TESSERA_TLS_CERT',
      ),
    )
    .addOption(valueOption('--tls-key <file>', 'PEM private key of --tls-cert', 'TESSERA_TLS_KEY'))
    .addOption(
      valueOption(
        '--tls-server-name <name>',
        'host name the server certificate must carry, when not the --server host',
        'TESSERA_TLS_SERVER_NAME',
      ),
    )
    .addOption(
      valueOption('--timeout <seconds>', 'deadline of each unary call (0 = none)', 'TESSERA_TIMEOUT')
        .default(30)
        .argParser(intArg(0)),
    );
  addJobCommands(program, ctx);
  addAgentCommands(program, ctx);
  addUpCommand(program, ctx);
  addModelCommands(program, ctx); // hook(models): tessera models push | ls | rm | make-tiny
  addPlanCommand(program, ctx);
  return program;
}
