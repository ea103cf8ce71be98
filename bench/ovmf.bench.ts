/**
 * Issue 15's numbers: Debian's OVMF booted as an SEV-ES guest of the model (src/vmm/ovmf-boot.ts),
 * once per bench run (a boot is too long to sample): the time to each milestone, and the boot's
 * guest instructions/s and VMGEXITs/s against baselines measured in the same run — the interpreter's
 * integer loop (its best case: one hot compiled block) and the #VC round trip of a CPUID loop (the
 * cheapest VMGEXIT a real guest makes). A full run boots to the boot manager (bds); --quick to PEI.
 */
import { readFileSync } from 'node:fs';
import { brotliDecompressSync } from 'node:zlib';
import { isVmmError } from '../src/vmm/errors.js';
import { bootOvmf, OVMF_MILESTONES, type OvmfBootResult, type OvmfMilestone } from '../src/vmm/ovmf-boot.js';
import { type BenchRow, type MeasureOptions, measureThroughput, QUICK } from './harness.js';
import { loop, PER_VMEXIT, vcRoundTrips } from './x86.bench.js';

let cached: { quick: boolean; result: OvmfBootResult } | undefined;

/** The boot, done once per run (to PEI for --quick, else to BDS). */
function boot(opts: MeasureOptions): OvmfBootResult {
  const quick = opts === QUICK;
  if (cached?.quick === quick) return cached.result;
  const firmware = new Uint8Array(
    brotliDecompressSync(readFileSync(new URL('../test/fixtures/ovmf/OVMF.fd.br', import.meta.url))),
  );
  const result = bootOvmf({ firmware, until: quick ? 'pei' : 'bds', maxKvmRuns: quick ? 5_000 : 400_000 });
  if (isVmmError(result)) throw new Error(`OVMF boot: ${result.message}`);
  cached = { quick, result };
  return result;
}

const milestoneRow = (m: OvmfMilestone): BenchRow => ({
  name: `OVMF SEV-ES boot: time to ${m}`,
  unit: 's',
  lowerIsBetter: true,
  once: (opts) => {
    const got = boot(opts).milestones.find((x) => x.milestone === m);
    return { value: got ? got.ms / 1000 : Number.NaN };
  },
});

export const rows: readonly BenchRow[] = [
  ...OVMF_MILESTONES.map(milestoneRow),
  {
    name: 'OVMF SEV-ES boot: guest instructions/s (baseline: x86 integer loop, compiled)',
    unit: 'instructions/s',
    once: (opts) => {
      const r = boot(opts);
      const base = measureThroughput(loop({ compile: true }), opts).median * PER_VMEXIT;
      return { value: r.instructions / (r.ms / 1000), baseline: base };
    },
  },
  {
    name: 'OVMF SEV-ES boot: VMGEXITs/s (baseline: x86 #VC round trip, CPUID MSR protocol)',
    unit: 'VMGEXITs/s',
    once: (opts) => {
      const r = boot(opts);
      const base = measureThroughput(vcRoundTrips(), opts).median;
      return { value: r.vmgexits / (r.ms / 1000), baseline: base };
    },
  },
];
