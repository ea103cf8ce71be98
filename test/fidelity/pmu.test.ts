/**
 * RDPMC with KVM's AMD vPMU (arch/x86/kvm/pmu.c kvm_pmu_rdpmc, svm/pmu.c amd_pmu_refresh /
 * amd_rdpmc_ecx_to_pmc): four general-purpose counters, six when the guest's CPUID 0x80000001 ECX
 * has PERFCTR_CORE; a counter nobody programmed reads 0. #GP for an index past them, and from CPL > 0
 * in protected mode without CR4.PCE. v5.17's amd_rdpmc_ecx_to_pmc masks the index with ~(3u << 30)
 * (bit 31 was "fast mode": a 32-bit read); since 6.10 those bits are part of the index, which then
 * has no counter. An SEV-ES guest asks through the GHCB (SVM_EXIT_RDPMC, RCX valid) and learns of
 * the #GP by event injection, as kvm_emulate_rdpmc does for everyone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestException } from '../../src/cpu/scripted.js';
import { GhcbClient } from '../../src/guest/ghcb-client.js';
import type { KvmCpuidEntry2 } from '../../src/uapi/cpuid.js';
import { modelPlatform } from '../../src/vmm/platform.js';
import { GHCB_GPA, machine, ok, plain, runToEnd, sevEs } from './kit.js';

const X86_FEATURE_PERFCTR_CORE = 1 << 23;
const X86_CR4_PCE = 1n << 8n;

/** Each counter's RDPMC result: the value, or `#GP`. */
function rdpmcAll(
  counters: readonly number[],
  opts: { profile?: 'seed' | 'current'; perfctrCore?: boolean; cpl3?: boolean; pce?: boolean } = {},
): (bigint | string)[] {
  const m = machine(
    plain('long-mode'),
    function* (cpu) {
      const out: (bigint | string)[] = [];
      for (const c of counters) {
        try {
          out.push(yield* cpu.rdpmc(c));
        } catch (e) {
          if (!(e instanceof GuestException)) throw e;
          out.push(`#${e.vector}`);
        }
      }
      cpu.notes.out = out;
    },
    { platform: modelPlatform({ profile: opts.profile ?? 'current' }) },
  );
  if (opts.perfctrCore) {
    const entries: KvmCpuidEntry2[] = ok(m.vmm.kvm.getSupportedCpuid(256));
    const withCore = entries.map((e) =>
      e.function === 0x8000_0001 ? { ...e, ecx: (e.ecx | X86_FEATURE_PERFCTR_CORE) >>> 0 } : e,
    );
    assert.equal(m.vcpu.setCpuid2(withCore), undefined);
  }
  if (opts.cpl3 || opts.pce) {
    const s = ok(m.vcpu.getSregs());
    const dpl = opts.cpl3 ? 3 : 0;
    assert.equal(
      m.vcpu.setSregs({
        ...s,
        cs: { ...s.cs, dpl },
        ss: { ...s.ss, dpl },
        cr4: opts.pce ? s.cr4 | X86_CR4_PCE : s.cr4,
      }),
      undefined,
    );
  }
  runToEnd(m);
  return m.cpu.notes.out as (bigint | string)[];
}

describe('RDPMC (AMD vPMU)', () => {
  it('four counters read 0; counter 4 is #GP', () => {
    assert.deepEqual(rdpmcAll([0, 1, 2, 3, 4]), [0n, 0n, 0n, 0n, '#13']);
  });

  it('with PERFCTR_CORE in the guest CPUID, six counters (AMD64_NUM_COUNTERS_CORE); counter 6 is #GP', () => {
    assert.deepEqual(rdpmcAll([4, 5, 6], { perfctrCore: true }), [0n, 0n, '#13']);
  });

  it('from CPL 3 in protected mode: #GP without CR4.PCE, allowed with it', () => {
    assert.deepEqual(rdpmcAll([0], { cpl3: true }), ['#13']);
    assert.deepEqual(rdpmcAll([0], { cpl3: true, pce: true }), [0n]);
  });

  it('index bits 31:30: v5.17 masks them off (bit 31 = a 32-bit read of counter 0); 6.10+ has no such counter (#GP)', () => {
    const high = [0x8000_0000, 0x4000_0001];
    assert.deepEqual(rdpmcAll(high, { profile: 'seed' }), [0n, 0n]);
    assert.deepEqual(rdpmcAll(high, { profile: 'current' }), ['#13', '#13']);
  });

  for (const profile of ['seed', 'current'] as const) {
    it(`[${profile}] an SEV-ES guest through the GHCB: counter 0 is handled (0 in RDX:RAX), counter 4 is #GP by event injection`, () => {
      const m = machine(sevEs(profile), function* (cpu) {
        const g = new GhcbClient(cpu, GHCB_GPA);
        g.register();
        const r = yield* g.rdpmc(0);
        cpu.notes.kind = r.result.kind;
        cpu.notes.value = r.value;
        try {
          yield* g.rdpmc(4);
        } catch (e) {
          cpu.notes.vector = (e as GuestException).vector;
        }
      });
      runToEnd(m);
      assert.equal(m.cpu.notes.kind, 'ok');
      assert.equal(m.cpu.notes.value, 0n);
      assert.equal(m.cpu.notes.vector, 13);
    });
  }
});
