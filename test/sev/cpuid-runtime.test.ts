/**
 * CPUID's runtime bits as an SEV-ES guest reads them through the GHCB (/work/research/kernel-rules.md
 * section 1). KVM cannot see an SEV-ES guest's XCR0 or CR4; it only knows what the GHCB (XCR0, XSS)
 * and the CR4 write traps tell it, and arch/x86/kvm/cpuid.c kvm_update_cpuid_runtime() derives
 * these bits from that knowledge:
 *
 * - leaf 0xD.0 EBX = xstate_required_size(vcpu->arch.xcr0, false) (§1.1, §1.3);
 * - leaf 0xD.1 EBX = xstate_required_size(xcr0 | ia32_xss, true) on 6.18+ (9622e116d0d2), of xcr0
 *   alone before (§1.1);
 * - leaf 1 ECX.OSXSAVE (bit 27) = CR4.OSXSAVE as KVM tracks it, EDX.APIC (bit 9) = the APIC-base
 *   MSR's enable bit (§1.1, §1.2: kvm_lapic_set_base refreshes it when the enable bit changes).
 *
 * Where XCR0 comes from (§1.4, sev_es_sync_from_ghcb):
 * - v5.17 (prefix, seed): `if (ghcb_xcr0_is_valid(ghcb)) { vcpu->arch.xcr0 = ghcb_get_xcr0(ghcb);
 *   kvm_update_cpuid_runtime(vcpu); }`, stored unchecked;
 * - 6.18+ (current; 4135a9a8ccba "KVM: SEV: Validate XCR0 provided by guest in GHCB"):
 *   `__kvm_set_xcr(vcpu, 0, kvm_ghcb_get_xcr0(svm))`, return value ignored, so an XCR0 the guest may
 *   not set (no x87, AVX without SSE, a feature outside the guest's CPUID 0xD.0) is silently not
 *   applied; and (b5fa221f7b08) `if (kvm_ghcb_xss_is_valid(svm)) __kvm_emulate_msr_write(vcpu,
 *   MSR_IA32_XSS, ...)`.
 *
 * The model's host XSAVE layout is an EPYC's (§1.3 table): x87/SSE 576, +AVX 832, AVX-512 up to
 * 2432, CET_U 16 and CET_S 24 bytes in the compacted form; the guest CPUID offers XCR0 bits 0-2.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GuestOp } from '../../src/cpu/scripted.js';
import type { GhcbClient } from '../../src/guest/ghcb-client.js';
import type { ModelVcpuFd, ModelVmFd } from '../../src/kvm/fd.js';
import { KVM_CPUID_FLAG_SIGNIFCANT_INDEX, type KvmCpuidEntry2 } from '../../src/uapi/cpuid.js';
import { Errno } from '../../src/uapi/errno.js';
import {
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_XCR0,
  GHCB_OFF_XSS,
} from '../../src/uapi/ghcb.js';
import { KVM_RUN_OFF_APIC_BASE } from '../../src/uapi/kvm-run.js';
import { SVM_EXIT_CPUID } from '../../src/uapi/svm.js';
import {
  assertGuestSaw,
  drive,
  finish,
  leakGuard,
  openSevKvm,
  PORT,
  PROFILES,
  type Profile,
  request,
  runExits,
  sevMachine,
} from './kit.js';

leakGuard();

const MSR_IA32_APICBASE = 0x1b;
/** APIC base at RESET: 0xFEE00000, BSP (bit 8), xAPIC enabled (bit 11). */
const APIC_BASE_ENABLED = 0xfee0_0900n;
/** The same with the global enable bit (11) clear. */
const APIC_BASE_DISABLED = 0xfee0_0100n;
const CPUID1_ECX_XSAVE = 1 << 26;
const CPUID1_ECX_OSXSAVE = 1 << 27;
const CPUID1_EDX_APIC = 1 << 9;
const X86_CR4_OSXSAVE = 1n << 18n;
/** XSS bits 11 (CET_U) and 12 (CET_S): supervisor state, 16 + 24 bytes compacted. */
const XSS_CET = 0x1800n;

/** KVM_GET_CPUID2's entry for (fn, index) on `vcpu`: the table with its runtime bits. */
function cpuid2(vcpu: ModelVcpuFd, fn: number, index = 0): KvmCpuidEntry2 {
  const table = vcpu.getCpuid2(256);
  if (table instanceof Errno) assert.fail(`KVM_GET_CPUID2: ${table}`);
  const e = table.find((x) => x.function === fn && x.index === index);
  assert.ok(e, `no CPUID entry 0x${fn.toString(16)}.${index}`);
  return e;
}

/** CPUID(0xD, index) through the GHCB with hand-set XCR0 and (optionally) XSS: EBX as the guest reads it. */
function* leafD(
  c: GhcbClient,
  index: number,
  xcr0: bigint,
  xss?: bigint,
): Generator<GuestOp, number, unknown> {
  const fields: [number, bigint][] = [
    [GHCB_OFF_RAX, 0xdn],
    [GHCB_OFF_RCX, BigInt(index)],
    [GHCB_OFF_XCR0, xcr0],
  ];
  if (xss !== undefined) fields.push([GHCB_OFF_XSS, xss]);
  const result = yield* request(c, SVM_EXIT_CPUID, 0n, 0n, fields);
  assert.equal(result.kind, 'ok', `CPUID 0xD.${index} with XCR0 0x${xcr0.toString(16)} was not answered`);
  return Number(c.getField(GHCB_OFF_RBX));
}

describe('CPUID 0xD.0 EBX follows the XCR0 the GHCB carried (sev_es_sync_from_ghcb → kvm_update_cpuid_runtime)', () => {
  /** XCR0 values in the order the guest sends them. 4: no x87; 5: AVX without SSE; 0xE7: AVX-512 (not in the guest's CPUID). */
  const SENT = [3n, 7n, 4n, 5n, 0xe7n, 3n, 4n];
  const EBX: Record<Profile, number[]> = {
    // v5.17: stored as sent, valid or not.
    prefix: [576, 832, 832, 832, 2432, 576, 832],
    seed: [576, 832, 832, 832, 2432, 576, 832],
    // 6.18+: __kvm_set_xcr refuses 4, 5 and 0xE7; EBX stays what the last valid XCR0 gave.
    current: [576, 832, 832, 832, 832, 576, 576],
  };
  for (const profile of PROFILES) {
    it(`[${profile}] XCR0 ${SENT.map((x) => `0x${x.toString(16)}`).join(', ')} → EBX ${EBX[profile].join(', ')}`, () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          const out: number[] = [];
          for (const xcr0 of SENT) {
            const r = yield* c.cpuid(0xd, 0, xcr0);
            // An XCR0 KVM did not apply is no error the guest hears of: the CPUID is answered.
            assertGuestSaw(r.result, { ok: true, info2: 0n });
            out.push(r.ebx);
          }
          return out;
        },
      });
      const r = drive(m);
      assert.equal(r.crash, undefined);
      assert.equal(r.guestReturned, true);
      assert.deepEqual(r.guest, EBX[profile]);
      finish(m);
    });
  }

  for (const [profile, xcr0] of [
    ['seed', 4n],
    ['current', 7n],
  ] as const) {
    it(`[${profile}] KVM_GET_CPUID2 reports the same EBX the guest read (XCR0 0x${xcr0.toString(16)} last stored: 832)`, () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          yield* c.cpuid(0xd, 0, 3n);
          yield* c.cpuid(0xd, 0, 7n);
          yield* c.cpuid(0xd, 0, 4n); // stored by v5.17, refused by current: 832 either way
          yield* c.ioOut(PORT, 1, 0); // an exit: the VMM asks KVM_GET_CPUID2
        },
      });
      runExits(m.vcpu, 'IoOut');
      assert.equal(cpuid2(m.vcpu, 0xd).ebx, 832);
      runExits(m.vcpu, 'Hlt');
      finish(m);
    });
  }
});

describe('CPUID 0xD.1 EBX and the GHCB XSS (current: b5fa221f7b08 loads it, 9622e116d0d2 counts it)', () => {
  /** Guest CPUID with leaf 0xD.1 offering XSAVEC (bit 1) and XSAVES (bit 3), set by the VMM before the first run. */
  function withLeafD1(vcpu: ModelVcpuFd): void {
    const table = vcpu.getCpuid2(256);
    if (table instanceof Errno) assert.fail(`KVM_GET_CPUID2: ${table}`);
    const d1: KvmCpuidEntry2 = {
      function: 0xd,
      index: 1,
      flags: KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
      eax: 0b1010,
      ebx: 0,
      ecx: 0,
      edx: 0,
    };
    assert.equal(vcpu.setCpuid2([...table, d1]), undefined);
  }

  const EBX: Record<Profile, number[]> = {
    // XCR0 only, compacted: 576 for x87/SSE, 832 with AVX.
    prefix: [576, 576, 832],
    seed: [576, 576, 832],
    // XCR0 | XSS: + CET_U 16 + CET_S 24; the XSS stays loaded when a later GHCB does not carry one.
    current: [616, 616, 872],
  };
  for (const profile of PROFILES) {
    it(`[${profile}] (XCR0 3, XSS 0x1800), (XCR0 3, no XSS), (XCR0 7, XSS 0x1800) → EBX ${EBX[profile].join(', ')}`, () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          return [yield* leafD(c, 1, 3n, XSS_CET), yield* leafD(c, 1, 3n), yield* leafD(c, 1, 7n, XSS_CET)];
        },
      });
      withLeafD1(m.vcpu);
      const r = drive(m);
      assert.equal(r.crash, undefined);
      assert.deepEqual(r.guest, EBX[profile]);
      finish(m);
    });
  }
});

describe('CPUID leaf 1 runtime bits of an SEV-ES vCPU (kvm_update_cpuid_runtime)', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] ECX.OSXSAVE is 0: KVM's CR4 for an SEV-ES vCPU is 0 (no CR4 write trap yet), XSAVE itself is offered`, () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          const r = yield* c.cpuid(1);
          yield* c.ioOut(PORT, 1, 0); // an exit: the VMM asks KVM_GET_CPUID2
          return { ecx: r.ecx };
        },
      });
      runExits(m.vcpu, 'IoOut');
      const viaKvm = cpuid2(m.vcpu, 1);
      runExits(m.vcpu, 'Hlt');
      const ecx = m.guestResult!.ecx;
      assert.equal(ecx & CPUID1_ECX_XSAVE, CPUID1_ECX_XSAVE);
      assert.equal(ecx & CPUID1_ECX_OSXSAVE, 0);
      assert.equal(viaKvm.ecx & CPUID1_ECX_OSXSAVE, 0, 'KVM_GET_CPUID2 agrees');
      finish(m);
    });

    it(`[${profile}] ...while an unprotected vCPU's OSXSAVE follows the CR4 KVM_SET_SREGS gave it`, () => {
      const w = openSevKvm(profile);
      const plain = w.kvm.createVm() as ModelVmFd;
      const vcpu = plain.createVcpu(0) as ModelVcpuFd;
      assert.equal(cpuid2(vcpu, 1).ecx & CPUID1_ECX_OSXSAVE, 0);
      const sregs = vcpu.getSregs();
      if (sregs instanceof Errno) assert.fail(`KVM_GET_SREGS: ${sregs}`);
      assert.equal(vcpu.setSregs({ ...sregs, cr4: sregs.cr4 | X86_CR4_OSXSAVE }), undefined);
      assert.equal(cpuid2(vcpu, 1).ecx & CPUID1_ECX_OSXSAVE, CPUID1_ECX_OSXSAVE);
      vcpu.close();
      plain.close();
    });

    it(`[${profile}] EDX.APIC follows the APIC-base MSR's enable bit, written through a GHCB WRMSR (kvm_lapic_set_base)`, () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          const apic = function* () {
            return ((yield* c.cpuid(1)).edx & CPUID1_EDX_APIC) !== 0;
          };
          const atReset = yield* apic();
          assertGuestSaw(yield* c.wrmsr(MSR_IA32_APICBASE, APIC_BASE_DISABLED), { ok: true });
          const disabled = yield* apic();
          const readBack = (yield* c.rdmsr(MSR_IA32_APICBASE)).value;
          yield* c.ioOut(PORT, 1, 0); // an exit: the VMM reads kvm_run.apic_base
          assertGuestSaw(yield* c.wrmsr(MSR_IA32_APICBASE, APIC_BASE_ENABLED), { ok: true });
          const enabled = yield* apic();
          return { atReset, disabled, readBack, enabled };
        },
      });
      runExits(m.vcpu, 'IoOut');
      // post_kvm_run_save: kvm_run.apic_base is KVM's APIC-base MSR.
      assert.equal(m.vcpu.runArea.u64(KVM_RUN_OFF_APIC_BASE), APIC_BASE_DISABLED);
      assert.equal(cpuid2(m.vcpu, 1).edx & CPUID1_EDX_APIC, 0, 'KVM_GET_CPUID2 agrees');
      runExits(m.vcpu, 'Hlt');
      assert.equal(m.vcpu.runArea.u64(KVM_RUN_OFF_APIC_BASE), APIC_BASE_ENABLED);
      assert.deepEqual(m.guestResult, {
        atReset: true,
        disabled: false,
        readBack: APIC_BASE_DISABLED,
        enabled: true,
      });
      finish(m);
    });
  }
});
