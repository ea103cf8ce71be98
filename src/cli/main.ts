/**
 * The `sevbox` command line.
 */
import { Command } from 'commander';
import { demoReport } from './demo.js';

const program = new Command();
program
  .name('sevbox')
  .description(
    'A model of how Linux KVM serves AMD SEV-ES guests: GHCB, VMGEXIT, scratch areas, ENOMEM/EFAULT.',
  )
  .showHelpAfterError();

program
  .command('demo')
  .description("Tell the seed commit's story: six host situations under the prefix and seed kernels")
  .addHelpText('after', '\nExample:\n  $ sevbox demo')
  .action(() => {
    const color = process.stdout.isTTY === true && !process.env['NO_COLOR'];
    process.stdout.write(`${demoReport(color).join('\n')}\n`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`sevbox: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 2;
});
