/**
 * kvm_emulate_hypercall (arch/x86/kvm/x86.c): the KVM hypercalls a guest makes with VMMCALL (for an
 * SEV-ES guest, SVM_EXIT_VMMCALL through the GHCB). RAX = number, RBX/RCX/RDX/RSI = arguments,
 * the result in RAX: 0 or a negative KVM_E* value. Outside 64-bit code (is_64_bit_hypercall: never
 * for protected state) the number, arguments and result are 32 bits.
 *
 * - VAPIC_POLL_IRQ: 0.
 * - KICK_CPU, SEND_IPI, SCHED_YIELD: gated by the guest's PV CPUID features only once userspace
 *   enabled KVM_CAP_ENFORCE_PV_FEATURE_CPUID (guest_pv_has); SEND_IPI needs an in-kernel APIC.
 * - CLOCK_PAIRING: -KVM_EOPNOTSUPP for a clock type other than wall clock, and (the model's host has
 *   no TSC clocksource to pair with) for that one too, as kvm_pv_clock_pairing does on such a host.
 * - MAP_GPA_RANGE: -KVM_ENOSYS unless KVM_CAP_EXIT_HYPERCALL enabled it; an unaligned GPA, no pages
 *   or a range that wraps is -KVM_EINVAL before any exit; otherwise KVM_EXIT_HYPERCALL to userspace,
 *   whose `ret` becomes RAX on the next KVM_RUN (complete_hypercall_exit).
 */
import {
  codeSize,
  VCPU_REGS_RAX,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
} from '../cpu/backend.js';
import { KVM_EXIT_HYPERCALL } from '../uapi/exit-reasons.js';
import {
  KVM_RUN_OFF_HYPERCALL_ARGS,
  KVM_RUN_OFF_HYPERCALL_FLAGS,
  KVM_RUN_OFF_HYPERCALL_NR,
  KVM_RUN_OFF_HYPERCALL_RET,
} from '../uapi/kvm-run.js';
import { kvmCpl, kvmRegisterReadRaw, kvmRegisterWriteRaw, kvmSkipEmulatedInstruction } from './cache-regs.js';
import { cpuidEntry } from './cpuid.js';
import type { Vcpu } from './vcpu.js';

/** include/uapi/linux/kvm_para.h hypercall numbers. */
export const KVM_HC_VAPIC_POLL_IRQ = 1;
export const KVM_HC_KICK_CPU = 5;
export const KVM_HC_CLOCK_PAIRING = 9;
export const KVM_HC_SEND_IPI = 10;
export const KVM_HC_SCHED_YIELD = 11;
export const KVM_HC_MAP_GPA_RANGE = 12;

/** KVM_E* (kvm_para.h); RAX gets the negated value. */
const KVM_ENOSYS = 1000n;
const KVM_EINVAL = 22n;
const KVM_EPERM = 1n;
const KVM_EOPNOTSUPP = 95n;

/** PV features (CPUID 0x40000001 EAX) the gated hypercalls need. */
const KVM_FEATURE_PV_UNHALT = 7;
const KVM_FEATURE_PV_SEND_IPI = 11;
const KVM_FEATURE_PV_SCHED_YIELD = 13;
/** kvm_run.hypercall.flags bit 0 (v5.17: the u32 `longmode` at the same place). */
const KVM_EXIT_HYPERCALL_LONG_MODE = 1n;
/** ICR bits kvm_pv_send_ipi refuses: a destination mode and a shorthand. */
const APIC_DEST_MASK = 0x800;
const APIC_SHORT_MASK = 0xc_0000;

/** guest_pv_has: every PV hypercall is allowed unless KVM_CAP_ENFORCE_PV_FEATURE_CPUID is on. */
function guestPvHas(vcpu: Vcpu, feature: number): boolean {
  if (!vcpu.enforcePvFeatureCpuid) return true;
  // The KVM leaf: "KVMKVMKVM\0\0\0" at 0x40000000; its features at base + 1.
  const sig = cpuidEntry(vcpu.cpuid, 0x4000_0000, 0);
  if (sig?.ebx !== 0x4b4d_564b || sig.ecx !== 0x564b_4d56 || sig.edx !== 0x4d) return false;
  const leaf = cpuidEntry(vcpu.cpuid, 0x4000_0001, 0);
  return leaf !== undefined && (leaf.eax & (1 << feature)) !== 0;
}

/** is_64_bit_hypercall: protected state, or 64-bit code. */
function is64BitHypercall(vcpu: Vcpu): boolean {
  return vcpu.guestStateProtected || codeSize(vcpu.vmcb.save) === 64;
}

/** kvm_pv_send_ipi: fixed IPIs to the APIC ids of a 128-bit bitmap from `min`; how many were sent. */
function pvSendIpi(vcpu: Vcpu, lo: bigint, hi: bigint, min: bigint, icr: bigint, op64: boolean): bigint {
  if (icr & BigInt(APIC_DEST_MASK | APIC_SHORT_MASK)) return -KVM_EINVAL;
  const chip = vcpu.vm.irqchip;
  if (!chip) return -KVM_EOPNOTSUPP;
  const cluster = op64 ? 64n : 32n;
  let count = 0n;
  for (const [half, base] of [
    [lo, min],
    [hi, min + cluster],
  ] as const) {
    for (let i = 0n; i < cluster; i++) {
      if (!((half >> i) & 1n)) continue;
      const target = chip.lapics.get(Number(base + i));
      if (!target) continue;
      target.setIrr(Number(icr & 0xffn));
      count++;
    }
  }
  return count;
}

/** kvm_emulate_hypercall. Returns what the exit handler returns. */
export function kvmEmulateHypercall(vcpu: Vcpu): number {
  const op64 = is64BitHypercall(vcpu);
  const trunc = (v: bigint): bigint => (op64 ? v : v & 0xffff_ffffn);
  const nr = trunc(kvmRegisterReadRaw(vcpu, VCPU_REGS_RAX));
  const a0 = trunc(kvmRegisterReadRaw(vcpu, VCPU_REGS_RBX));
  const a1 = trunc(kvmRegisterReadRaw(vcpu, VCPU_REGS_RCX));
  const a2 = trunc(kvmRegisterReadRaw(vcpu, VCPU_REGS_RDX));
  const a3 = trunc(kvmRegisterReadRaw(vcpu, VCPU_REGS_RSI));
  let ret: bigint;
  if (kvmCpl(vcpu) !== 0) ret = -KVM_EPERM;
  else {
    switch (Number(nr)) {
      case KVM_HC_VAPIC_POLL_IRQ:
        ret = 0n;
        break;
      case KVM_HC_KICK_CPU: {
        if (!guestPvHas(vcpu, KVM_FEATURE_PV_UNHALT)) {
          ret = -KVM_ENOSYS;
          break;
        }
        // kvm_pv_kick_cpu_op: wake the vCPU with APIC id a1 from its halt.
        const target = vcpu.vm.vcpus.get(Number(a1));
        if (target) target.pvUnhalted = true;
        ret = 0n;
        break;
      }
      case KVM_HC_CLOCK_PAIRING:
        ret = -KVM_EOPNOTSUPP;
        break;
      case KVM_HC_SEND_IPI:
        ret = guestPvHas(vcpu, KVM_FEATURE_PV_SEND_IPI) ? pvSendIpi(vcpu, a0, a1, a2, a3, op64) : -KVM_ENOSYS;
        break;
      case KVM_HC_SCHED_YIELD:
        ret = guestPvHas(vcpu, KVM_FEATURE_PV_SCHED_YIELD) ? 0n : -KVM_ENOSYS;
        break;
      case KVM_HC_MAP_GPA_RANGE: {
        if (!(vcpu.vm.exitHypercalls & (1 << KVM_HC_MAP_GPA_RANGE))) {
          ret = -KVM_ENOSYS;
          break;
        }
        const gfn = a0 >> 12n;
        if (a0 & 0xfffn || a1 === 0n || BigInt.asUintN(64, gfn + a1) <= gfn) {
          ret = -KVM_EINVAL;
          break;
        }
        return mapGpaRangeExit(vcpu, nr, [a0, a1, a2], op64);
      }
      default:
        ret = -KVM_ENOSYS;
    }
  }
  kvmRegisterWriteRaw(vcpu, VCPU_REGS_RAX, trunc(BigInt.asUintN(64, ret)));
  return kvmSkipEmulatedInstruction(vcpu);
}

/** KVM_EXIT_HYPERCALL for MAP_GPA_RANGE; complete_hypercall_exit puts userspace's `ret` in RAX. */
function mapGpaRangeExit(vcpu: Vcpu, nr: bigint, args: readonly bigint[], op64: boolean): number {
  const run = vcpu.runArea;
  run.clearExitUnion();
  run.exitReason = KVM_EXIT_HYPERCALL;
  run.setU64(KVM_RUN_OFF_HYPERCALL_NR, nr);
  args.forEach((a, i) => {
    run.setU64(KVM_RUN_OFF_HYPERCALL_ARGS + 8 * i, a);
  });
  run.setU64(KVM_RUN_OFF_HYPERCALL_FLAGS, op64 ? KVM_EXIT_HYPERCALL_LONG_MODE : 0n);
  vcpu.completeUserspaceIo = () => {
    let ret = run.u64(KVM_RUN_OFF_HYPERCALL_RET);
    // v5.17 truncates by is_64_bit_mode, which for protected state reads the stale VMCB (CS.L 0):
    // an SEV-ES guest gets 32 bits (fixed in 6.13, "Play nice with protected guests").
    const wide = vcpu.vm.core.hypercallRetByProtectedState
      ? is64BitHypercall(vcpu)
      : codeSize(vcpu.vmcb.save) === 64;
    if (!wide) ret &= 0xffff_ffffn;
    kvmRegisterWriteRaw(vcpu, VCPU_REGS_RAX, ret);
    return kvmSkipEmulatedInstruction(vcpu);
  };
  return 0;
}
