import { Option, type Command } from 'commander';
import { formatPlan, planWithTable, PlanInputError } from '@tessera/coordinator';
import type { CliContext } from './context.js';
import { toJsonText } from './context.js';
import { flagOption, readInput, UsageError, valueOption } from './options.js';

/** Adds `plan` (the capacity planner; no server involved) to the program. */
export function addPlanCommand(program: Command, ctx: CliContext): void {
  program
    .command('plan')
    .description(
      'simulate a fleet running a workload on the coordinator’s farm core: makespan, lower bound, FIFO baseline, utilisation, completion per owner, one more agent (docs/plan.md)',
    )
    .addOption(valueOption('--fleet <file>', 'fleet YAML (agents: name, vram_gb, count, speed)', 'TESSERA_PLAN_FLEET'))
    .addOption(
      valueOption(
        '--workload <file>',
        'workload YAML (jobs: kind, model, count, submit_at_s, owner, priority, …)',
        'TESSERA_PLAN_WORKLOAD',
      ),
    )
    .addOption(flagOption('--json', 'print the plan as one JSON object', 'TESSERA_JSON'))
    .addOption(
      valueOption(
        '--hardware-table <file>',
        'hardware table YAML (default: the bundled one)',
        'TESSERA_HARDWARE_TABLE',
      ),
    )
    .addOption(
      new Option('--no-speculation', 'simulate without speculative backups').env('TESSERA_PLAN_NO_SPECULATION'),
    )
    .action(
      async (flags: {
        fleet?: string;
        workload?: string;
        json: boolean;
        hardwareTable?: string;
        speculation: boolean;
      }) => {
        if (!flags.fleet) throw new UsageError('plan needs --fleet FILE');
        if (!flags.workload) throw new UsageError('plan needs --workload FILE');
        const fleet = { text: (await readInput('--fleet', flags.fleet)).toString('utf8'), file: flags.fleet };
        const workload = {
          text: (await readInput('--workload', flags.workload)).toString('utf8'),
          file: flags.workload,
        };
        let report;
        try {
          report = planWithTable(fleet, workload, {
            hardwareTable: flags.hardwareTable,
            ...(flags.speculation ? {} : { speculation: false as const }),
          });
        } catch (e) {
          if (e instanceof PlanInputError) throw new UsageError(e.message);
          throw new UsageError(e instanceof Error ? e.message : String(e));
        }
        ctx.out(flags.json ? toJsonText(report) : formatPlan(report).trimEnd());
      },
    );
}
