/**
 * The `sevbox` command line. Exit status: 0 success, 1 an expectation did not hold, 2 bad input
 * (arguments, a malformed or unreadable scenario or GHCB file, a directory without scenarios).
 * Results go to stdout (with --json, one JSON document per result, bigints as "0x…" strings),
 * errors to stderr, each naming the file and, in a scenario, the line and the path in the document.
 */
import { extname } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { addCoverage, emptyCoverage, formatCoverage } from '../cpu/x86/coverage.js';
import { fuzzCommand } from '../fuzz/cli.js';
// koffi, the oracle's optional native dependency, is only loaded when `sevbox hostkvm` asks for it.
import { describeHostKvm } from '../hostkvm/detect.js';
import { openKvm } from '../kvm/fd.js';
import { formatScenarioError, isScenarioError, type ScenarioError } from '../scenario/errors.js';
import {
  formatInputFileError,
  IMAGE_FILE_LIMIT,
  isInputFileError,
  readInputFile,
} from '../scenario/input-file.js';
import { type LoadedScenario, loadScenario, SCENARIO_EXTENSIONS } from '../scenario/load.js';
import { formatReport, runScenario, type ScenarioReport } from '../scenario/run.js';
import { PROFILE_NAMES, type ProfileName } from '../scenario/schema.js';
import { sevKvmOptions } from '../sev/index.js';
import type { TraceEvent } from '../trace/events.js';
import { formatTraceLine, traceEventToJson } from '../trace/format.js';
import { formatImageFormatError, isElfFile, isImageFormatError, parseElfImage } from '../vmm/index.js';
import { OVMF_MILESTONES, type OvmfMilestone } from '../vmm/ovmf-boot.js';
import { bootCommand } from './boot.js';
import { demoJson, demoReport } from './demo.js';
import { ExploreInputError, exploreCommand } from './explore.js';
import { expandScenarioArgs, formatScenarioArgsError } from './inputs.js';
import { formatInspect, inspectGhcb } from './inspect.js';
import { formatPageViews, inspectScenarioMemory } from './inspect-page.js';
import { paint } from './paint.js';
import { defaultSocketPath, serveCommand } from './serve.js';

/** Bytes as lowercase hex. */
const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Raised for bad input: the message is printed and the exit status is 2. */
class UsageError extends Error {}

const out = (lines: readonly string[]): void => {
  if (lines.length) process.stdout.write(`${lines.join('\n')}\n`);
};

/** The scenario files that files and directories name (inputs.ts); bad input when a directory has none. */
function scenarioPaths(args: readonly string[]): string[] {
  const files = expandScenarioArgs(args);
  if (!Array.isArray(files)) throw new UsageError(formatScenarioArgsError(files));
  return files;
}

/** Every file loaded, or each one that is not a scenario. */
async function loadEach(files: readonly string[]): Promise<(LoadedScenario | ScenarioError)[]> {
  const out: (LoadedScenario | ScenarioError)[] = [];
  for (const f of files) out.push(await loadScenario(f));
  return out;
}

/** Every file loaded; bad input naming each file that is not a scenario (file:line:col: path: what). */
async function loadAll(files: readonly string[]): Promise<LoadedScenario[]> {
  const loaded = await loadEach(files);
  const errors = loaded.filter(isScenarioError);
  if (errors.length) throw new UsageError(errors.map(formatScenarioError).join('\n'));
  return loaded as LoadedScenario[];
}

function reportJson(r: ScenarioReport, file: string): unknown {
  return {
    file,
    name: r.name,
    profile: r.profile,
    ok: r.ok,
    vmgexits: r.vmgexits.map((l) => ({
      index: l.index,
      vcpu: l.vcpu,
      step: l.step,
      event: l.event,
      outcome: l.text,
    })),
    checks: r.checks.map((c) => ({ ok: c.ok, path: c.path, message: c.message })),
    stop: r.stop,
    serial: r.serial,
    retried: r.retried,
    leakedBytes: r.leakedBytes,
  };
}

/** JSON.stringify's replacer: a bigint as a "0x…" string. */
const bigintJson = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v);

/** One JSON document on a line of stdout. */
const printJson = (v: unknown): void => {
  process.stdout.write(`${JSON.stringify(v, bigintJson)}\n`);
};

export function buildProgram(): Command {
  const program = new Command();
  const color = process.stdout.isTTY === true && !process.env['NO_COLOR'];
  const p = paint(color);
  const profileOption = () =>
    new Option('--profile <name>', "run under this kernel profile instead of the scenario's own").choices(
      PROFILE_NAMES,
    );

  program
    .name('sevbox')
    .description(
      'A model of how Linux KVM serves AMD SEV-ES guests: GHCB, VMGEXIT, scratch areas, ENOMEM/EFAULT.',
    )
    .showHelpAfterError()
    .exitOverride();

  program
    .command('run')
    .description(
      'Run scenario files, and every scenario file under a directory (sorted by path); one line per VMGEXIT; exit 0 only if every expectation holds',
    )
    .argument('<paths...>', `scenario files (${SCENARIO_EXTENSIONS.join(', ')}) or directories of them`)
    .addOption(profileOption())
    .option('--json', 'one JSON object per scenario instead of text')
    .addHelpText(
      'after',
      '\nExample:\n  $ sevbox run examples/demo/4-bounce-buffer-enomem.yaml --profile prefix\n  $ sevbox run test/scenarios examples/demo --json',
    )
    .action(async (paths: string[], opts: { profile?: ProfileName; json?: boolean }) => {
      const scenarios = await loadAll(scenarioPaths(paths));
      const several = scenarios.length > 1;
      let passed = 0;
      for (const s of scenarios) {
        const r = runScenario(s.scenario, { profile: opts.profile });
        if (r.ok) passed++;
        if (opts.json) printJson(reportJson(r, s.file));
        else {
          if (several) out([p.dim(s.file)]);
          out(
            formatReport(r).map((line) =>
              line === 'PASS'
                ? p.green(line)
                : line === 'FAIL'
                  ? p.red(line)
                  : line.includes('✗')
                    ? p.red(line)
                    : line,
            ),
          );
        }
      }
      const failed = scenarios.length - passed;
      if (several && !opts.json)
        out([
          `${scenarios.length} scenarios: ${passed} passed${failed ? `, ${p.red(`${failed} failed`)}` : ''}`,
        ]);
      if (failed) process.exitCode = 1;
    });

  program
    .command('trace')
    .description('Print the full event trace of one scenario (ftrace-like text, or JSON lines)')
    .argument('<file>', 'scenario file')
    .addOption(profileOption())
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'jsonl']).default('text'))
    .addOption(
      new Option('--json', 'one JSON object per event (the same as --format jsonl)').conflicts('format'),
    )
    .addHelpText(
      'after',
      '\nExample:\n  $ sevbox trace examples/demo/4-bounce-buffer-enomem.yaml --format jsonl',
    )
    .action(
      async (file: string, opts: { profile?: ProfileName; format: 'text' | 'jsonl'; json?: boolean }) => {
        const [s] = await loadAll([file]);
        const events: TraceEvent[] = [];
        runScenario(s!.scenario, { profile: opts.profile, trace: (e) => events.push(e) });
        const jsonl = opts.json || opts.format === 'jsonl';
        out(events.map((e, i) => (jsonl ? traceEventToJson(e) : formatTraceLine(e, i))));
      },
    );

  program
    .command('validate')
    .description(
      'Check scenario files, and every scenario file under a directory, (schema and semantics) without running them',
    )
    .argument('<paths...>', 'scenario files or directories of them')
    .option('--json', 'one JSON object per file, its issues included, instead of text')
    .addHelpText('after', '\nExample:\n  $ sevbox validate examples/*.yaml test/scenarios')
    .action(async (paths: string[], opts: { json?: boolean }) => {
      const files = scenarioPaths(paths);
      if (!opts.json) {
        const scenarios = await loadAll(files);
        out(scenarios.map((s) => `${p.green('ok')} ${s.file}: ${s.scenario.name}`));
        return;
      }
      // Every file's verdict on stdout: here the issues are the result.
      const loaded = await loadEach(files);
      for (const l of loaded)
        printJson(
          isScenarioError(l)
            ? { file: l.file, ok: false, issues: l.issues }
            : { file: l.file, ok: true, name: l.scenario.name },
        );
      if (loaded.some(isScenarioError)) process.exitCode = 2;
    });

  program
    .command('inspect')
    .description(
      'Decode a 4 KiB GHCB page and say what KVM would do with it under each profile; or run a scenario and show guest memory at --gpa as the host and (debug view) the SEV-ES guest read it',
    )
    .argument('<file>', 'a 4096-byte GHCB page, or a scenario file (with --gpa)')
    .option('--ghcb-gpa <gpa>', 'guest physical address the page sits at', '0x1000')
    .option('--gpa <gpa>', 'scenario: the guest physical address to show at the end of the run')
    .option('--len <bytes>', 'scenario: how many bytes to show', '64')
    .addOption(profileOption())
    .option('--json', 'JSON instead of text')
    .addHelpText(
      'after',
      '\nExample:\n  $ sevbox inspect ghcb.bin --ghcb-gpa 0x7000\n  $ sevbox inspect examples/machine-code/ghcb-left-private.yaml --gpa 0x3390 --len 32',
    )
    .action(
      async (
        file: string,
        opts: { ghcbGpa: string; gpa?: string; len: string; profile?: ProfileName; json?: boolean },
      ) => {
        if (SCENARIO_EXTENSIONS.includes(extname(file).toLowerCase())) {
          if (opts.gpa === undefined) throw new UsageError('inspect of a scenario needs --gpa');
          const gpa = Number(opts.gpa);
          const len = Number(opts.len);
          if (!Number.isSafeInteger(gpa) || gpa < 0)
            throw new UsageError(`--gpa ${opts.gpa}: expected an address`);
          if (!Number.isSafeInteger(len) || len < 1 || len > 0x10000)
            throw new UsageError(`--len ${opts.len}: expected 1 to 65536 bytes`);
          const [s] = await loadAll([file]);
          const views = inspectScenarioMemory(s!.scenario, gpa, len, opts.profile ?? s!.scenario.profile);
          if (opts.json)
            printJson({ ...views, host: hexOf(views.host), private: views.private && hexOf(views.private) });
          else out(formatPageViews(views));
          return;
        }
        const gpa = Number(opts.ghcbGpa);
        if (!Number.isSafeInteger(gpa) || gpa < 0 || gpa % 4096 !== 0) {
          throw new UsageError(`--ghcb-gpa ${opts.ghcbGpa}: expected a page-aligned address`);
        }
        const bytes = readInputFile(file, { limit: 4096, what: 'GHCB page' });
        if (isInputFileError(bytes) && bytes.reason !== 'too-large')
          throw new UsageError(formatInputFileError(bytes));
        if (isInputFileError(bytes) || bytes.length !== 4096) {
          const has = isInputFileError(bytes) ? bytes.size : bytes.length;
          throw new UsageError(
            `${file}: a GHCB page is 4096 bytes, this file has ${has === undefined ? 'more' : has}`,
          );
        }
        const report = inspectGhcb(bytes, gpa);
        if (opts.json) printJson(report);
        else out(formatInspect(report));
      },
    );

  program
    .command('hostkvm')
    .description(
      "Describe this machine's /dev/kvm: backend, capabilities (host vs model), limits, a test run",
    )
    .option('--json', 'JSON instead of text')
    .option('--device <path>', 'the KVM device', '/dev/kvm')
    .addHelpText('after', '\nExample:\n  $ sevbox hostkvm')
    .action(async (opts: { json?: boolean; device: string }) => {
      // Beside each host answer, the model's (of today's kernel).
      const model = openKvm(sevKvmOptions('current'));
      const d = describeHostKvm(opts.device, (cap) => model.checkExtension(cap));
      if (opts.json) printJson(d.data);
      else process.stdout.write(`${d.text.trimEnd()}\n`);
    });

  program
    .command('fuzz')
    .description('Fuzz the guest ↔ KVM ↔ VMM contract: hostile GHCBs, host faults, VMM policies, per profile')
    .addOption(new Option('--seconds <n>', 'campaign length in seconds (default 60)').conflicts('runs'))
    .option('--runs <n>', 'number of cases instead of a time budget')
    .option('--seed <s>', 'campaign seed (default: from the clock)')
    .addOption(
      new Option('--profile <name...>', 'generate cases for these kernel profiles (default all)').choices(
        PROFILE_NAMES,
      ),
    )
    .option('--out <dir>', 'where shrunk reproducers go (default a temp directory)')
    .option('--workers <n>', 'worker threads (default min(2, CPUs))')
    .option('--json', 'the summary as one JSON object instead of text')
    .addHelpText('after', '\nExample:\n  $ sevbox fuzz --seconds 10 --seed 1 --profile seed current')
    .action(
      async (opts: {
        seconds?: string;
        runs?: string;
        seed?: string;
        profile?: ProfileName[];
        out?: string;
        workers?: string;
        json?: boolean;
      }) => {
        const num = (v: string | undefined, what: string): number | undefined => {
          if (v === undefined) return undefined;
          const n = Number(v);
          if (!Number.isSafeInteger(n) || n < 0)
            throw new UsageError(`${what} ${v}: expected a non-negative integer`);
          return n;
        };
        const seconds = num(opts.seconds, '--seconds');
        const runs = num(opts.runs, '--runs');
        const seed = num(opts.seed, '--seed');
        const workers = num(opts.workers, '--workers');
        process.exitCode = await fuzzCommand({
          ...(seconds !== undefined ? { seconds } : {}),
          ...(runs !== undefined ? { runs } : {}),
          ...(seed !== undefined ? { seed } : {}),
          ...(opts.profile ? { profiles: opts.profile } : {}),
          ...(opts.out ? { out: opts.out } : {}),
          ...(workers ? { workers } : {}),
          ...(opts.json ? { json: true } : {}),
        });
      },
    );

  program
    .command('x86-coverage')
    .description(
      'Decode machine code (ELF executable segments, or flat binaries) and count the instructions the x86 interpreter runs and those it would raise #UD on',
    )
    .argument('<files...>', 'ELF images or flat binaries')
    .addOption(
      new Option(
        '--bits <n>',
        'decode as 16-, 32- or 64-bit code (default: the ELF class; 64 for flat files)',
      ).choices(['16', '32', '64']),
    )
    .option('--top <n>', 'list this many missing mnemonics', '20')
    .option('--json', 'JSON instead of text')
    .addHelpText('after', '\nExample:\n  $ sevbox x86-coverage examples/guests/build/long-mode.elf')
    .action(async (files: string[], opts: { bits?: string; top: string; json?: boolean }) => {
      const counts = emptyCoverage();
      for (const f of files) {
        const bytes = readInputFile(f, { limit: IMAGE_FILE_LIMIT, what: 'machine-code image' });
        if (isInputFileError(bytes)) throw new UsageError(formatInputFileError(bytes));
        if (!isElfFile(bytes)) {
          addCoverage(counts, bytes, Number(opts.bits ?? '64') as 16 | 32 | 64);
          continue;
        }
        const image = parseElfImage(bytes);
        if (isImageFormatError(image)) throw new UsageError(formatImageFormatError(image, f));
        // e_ident[EI_CLASS]: ELFCLASS64 (2) or ELFCLASS32.
        const bits = Number(opts.bits ?? (bytes[4] === 2 ? '64' : '32')) as 16 | 32 | 64;
        for (const seg of image.segments) if (seg.executable !== false) addCoverage(counts, seg.bytes, bits);
      }
      if (opts.json)
        printJson({
          total: counts.total,
          implemented: counts.implemented,
          invalid: counts.invalid,
          missing: Object.fromEntries(counts.missing),
          covered: Object.fromEntries(counts.covered),
        });
      else out(formatCoverage(counts, Number(opts.top)));
    });

  program
    .command('boot')
    .description(
      'Boot real firmware as an SEV-ES guest: Debian’s OVMF (shipped) through #VC → GHCB → VMGEXIT → KVM → the VMM’s devices',
    )
    .argument('<what>', 'what to boot: ovmf')
    .option('--firmware <file>', 'an OVMF.fd (raw, or .br Brotli) instead of the shipped Debian one')
    .option('--max-runs <n>', 'KVM_RUN budget (default 200000)')
    .addOption(
      new Option('--until <milestone>', 'stop at this milestone (default bds)').choices(OVMF_MILESTONES),
    )
    .option('--ram <MiB>', 'guest RAM below 4 GiB in MiB (default 128)')
    .option('--json', 'print the result as JSON instead of the console and summary')
    .addOption(profileOption())
    .option('--restart', "enable sevbox's VMGEXIT fault-info and restart capabilities")
    .option(
      '--unmap-ghcb-at <n>',
      "the VMM unmaps the host page under the firmware's GHCB at this exit to userspace",
    )
    .addOption(
      new Option(
        '--efault <policy>',
        'what the VMM does when KVM_RUN fails with EFAULT (default stop)',
      ).choices(['stop', 'rerun', 'resolve']),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sevbox boot ovmf --until dxe\n  $ sevbox boot ovmf --profile seed --unmap-ghcb-at 20000 --efault rerun',
    )
    .action(
      async (
        what: string,
        opts: {
          firmware?: string;
          maxRuns?: string;
          until?: OvmfMilestone;
          ram?: string;
          json?: boolean;
          profile?: ProfileName;
          restart?: boolean;
          unmapGhcbAt?: string;
          efault?: 'stop' | 'rerun' | 'resolve';
        },
      ) => {
        if (what !== 'ovmf') throw new UsageError(`boot ${what}: only "ovmf" can be booted`);
        const num = (v: string | undefined, name: string): number | undefined => {
          if (v === undefined) return undefined;
          const n = Number(v);
          if (!Number.isSafeInteger(n) || n <= 0)
            throw new UsageError(`${name} ${v}: expected a positive integer`);
          return n;
        };
        const maxRuns = num(opts.maxRuns, '--max-runs');
        const ramMib = num(opts.ram, '--ram');
        const unmapGhcbAt = num(opts.unmapGhcbAt, '--unmap-ghcb-at');
        process.exitCode = await bootCommand({
          ...(opts.profile ? { profile: opts.profile } : {}),
          ...(opts.restart ? { restart: true } : {}),
          ...(unmapGhcbAt ? { unmapGhcbAt } : {}),
          ...(opts.efault ? { efault: opts.efault } : {}),
          ...(opts.firmware ? { firmware: opts.firmware } : {}),
          ...(maxRuns ? { maxRuns } : {}),
          ...(ramMib ? { ramMib } : {}),
          ...(opts.until ? { until: opts.until } : {}),
          ...(opts.json ? { json: true } : {}),
        });
      },
    );

  program
    .command('explore')
    .description(
      'Show runs in a browser: guest, KVM and VMM lanes, each VMGEXIT’s GHCB page as KVM read it (served on 127.0.0.1)',
    )
    .argument('<file...>', 'scenario files, traces in JSON lines (sevbox trace --format jsonl), or "ovmf"')
    .addOption(profileOption())
    .option('--export <file>', 'write one self-contained HTML file instead of serving')
    .option('--port <n>', 'the port to serve on (default: any free one)')
    .addOption(
      new Option(
        '--compare-profile <profile>',
        'side by side: the scenario again under this kernel profile',
      ).choices(PROFILE_NAMES),
    )
    .option('--compare-restart', "side by side: the scenario again with sevbox's restart capability toggled")
    .option('--json', 'what was recorded, and the file written or the URL served, as one JSON object')
    .addOption(
      new Option('--until <milestone>', 'for ovmf: where the boot stops (default pei)').choices(
        OVMF_MILESTONES,
      ),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ sevbox explore examples/hostile-ghcb.yaml\n  $ sevbox explore examples/mmio.yaml --export mmio.html\n  $ sevbox explore examples/demo/5-efault-no-memslot.yaml --profile prefix --compare-profile seed',
    )
    .action(
      async (
        files: string[],
        opts: {
          profile?: ProfileName;
          export?: string;
          port?: string;
          until?: OvmfMilestone;
          compareProfile?: ProfileName;
          compareRestart?: boolean;
          json?: boolean;
        },
      ) => {
        const port = opts.port === undefined ? undefined : Number(opts.port);
        if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535))
          throw new UsageError(`--port ${opts.port}: expected 0..65535`);
        try {
          process.exitCode = await exploreCommand({
            files,
            ...(opts.profile ? { profile: opts.profile } : {}),
            ...(opts.export ? { export: opts.export } : {}),
            ...(port !== undefined ? { port } : {}),
            ...(opts.until ? { until: opts.until } : {}),
            ...(opts.compareProfile ? { compareProfile: opts.compareProfile } : {}),
            ...(opts.compareRestart ? { compareRestart: true } : {}),
            ...(opts.json ? { json: true } : {}),
          });
        } catch (e) {
          if (e instanceof ExploreInputError) throw new UsageError(e.message);
          throw e;
        }
      },
    );

  program
    .command('serve')
    .description(
      "Serve the model's KVM to unmodified clients through the /dev/kvm shim (LD_PRELOAD=libsevbox-kvm.so; npm run shim)",
    )
    .option('--socket <path>', 'the unix socket (default $SEVBOX_SOCKET, $XDG_RUNTIME_DIR/sevbox.sock)')
    .addOption(profileOption())
    .option('--until-idle', 'exit when the last client has gone')
    .option('--log-ioctls', 'log every ioctl and its result on stderr')
    .option(
      '--fault <spec>',
      'inject a host failure (repeatable): budget=BYTES, alloc-fail-nth=N[,N], alloc-fail-over=BYTES, unmap-gpa=GPA@vmgexit=N, unmap-gpa=GPA@exit=N',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--quiet', 'print nothing')
    .addHelpText(
      'after',
      '\nExample:\n  $ sevbox serve --socket /tmp/kvm.sock &\n  $ SEVBOX_SOCKET=/tmp/kvm.sock LD_PRELOAD=.cache/shim/libsevbox-kvm.so ./sev_smoke_test',
    )
    .action(
      (opts: {
        socket?: string;
        profile?: ProfileName;
        untilIdle?: boolean;
        quiet?: boolean;
        fault?: string[];
        logIoctls?: boolean;
      }) => {
        process.exitCode = serveCommand({
          ...(opts.fault ? { faults: opts.fault } : {}),
          ...(opts.logIoctls ? { logIoctls: true } : {}),
          socket: opts.socket ?? defaultSocketPath(),
          ...(opts.profile ? { profile: opts.profile } : {}),
          ...(opts.untilIdle ? { untilIdle: true } : {}),
          ...(opts.quiet ? { quiet: true } : {}),
        });
      },
    );

  program
    .command('demo')
    .description("Tell the seed commit's story: six host situations under the prefix and seed kernels")
    .option('--json', 'both tables as one JSON object instead of text')
    .addHelpText('after', '\nExample:\n  $ sevbox demo')
    .action((opts: { json?: boolean }) => {
      if (opts.json) printJson(demoJson());
      else out(demoReport(color));
    });

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`sevbox: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv);
