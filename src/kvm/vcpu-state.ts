/**
 * The vCPU state ioctls (arch/x86/kvm/x86.c: kvm_arch_vcpu_ioctl_get/set_regs, __get/__set_sregs,
 * kvm_vcpu_ioctl_x86_get/set_vcpu_events, the FPU and XCR ioctls; svm.c: svm_get/set_segment):
 * between the uapi structs and the VMCB save area, vcpu->arch.regs and KVM's event queue, with the
 * checks and errnos of Linux, including the protected-state rules (v5.17: silent; 6.10+: EINVAL
 * for a protected-state VM type once its VMSA is encrypted).
 */
import {
  CR0_PE,
  CR0_PG,
  CR4_PAE,
  EFER_LMA,
  EFER_LME,
  resetFpu,
  SAVE_CPL,
  SAVE_CR0,
  SAVE_CR2,
  SAVE_CR3,
  SAVE_CR4,
  SAVE_CS,
  SAVE_DS,
  SAVE_EFER,
  SAVE_ES,
  SAVE_FS,
  SAVE_GDTR,
  SAVE_GS,
  SAVE_IDTR,
  SAVE_LDTR,
  SAVE_RFLAGS,
  SAVE_RIP,
  SAVE_SS,
  SAVE_TR,
  SVM_INTERRUPT_SHADOW_MASK,
  SVM_SELECTOR_AVL_MASK,
  SVM_SELECTOR_DB_MASK,
  SVM_SELECTOR_DPL_SHIFT,
  SVM_SELECTOR_G_MASK,
  SVM_SELECTOR_L_MASK,
  SVM_SELECTOR_P_MASK,
  SVM_SELECTOR_S_MASK,
  SVM_SELECTOR_TYPE_MASK,
  saveSegment,
  setSaveSegment,
  VCPU_REGS_R8,
  VCPU_REGS_RAX,
  VCPU_REGS_RBP,
  VCPU_REGS_RBX,
  VCPU_REGS_RCX,
  VCPU_REGS_RDI,
  VCPU_REGS_RDX,
  VCPU_REGS_RIP,
  VCPU_REGS_RSI,
  VCPU_REGS_RSP,
} from '../cpu/backend.js';
import { TLB_CONTROL_FLUSH_ASID } from '../cpu/vmcb.js';
import { Errno } from '../uapi/errno.js';
import type { KvmFpu } from '../uapi/fpu.js';
import { MSR_IA32_APICBASE } from '../uapi/msr-index.js';
import type { KvmRegs } from '../uapi/regs.js';
import type { KvmDtable, KvmSegment, KvmSregs } from '../uapi/sregs.js';
import { SVM_EXIT_IRET } from '../uapi/svm.js';
import {
  KVM_VCPUEVENT_VALID_NMI_PENDING,
  KVM_VCPUEVENT_VALID_PAYLOAD,
  KVM_VCPUEVENT_VALID_SHADOW,
  KVM_VCPUEVENT_VALID_SIPI_VECTOR,
  KVM_VCPUEVENT_VALID_SMM,
  KVM_VCPUEVENT_VALID_TRIPLE_FAULT,
  type KvmVcpuEvents,
} from '../uapi/vcpu-events.js';
import type { KvmXcrs } from '../uapi/xsave.js';
import { kvmGetCr8, kvmRegisterReadRaw, kvmRegisterWriteRaw } from './cache-regs.js';
import { kvmSetCr8, svmSetCr0 } from './cr.js';
import type { Vcpu } from './vcpu.js';
import { kvmSetXcr0 } from './xcr.js';

/** struct kvm_regs member → VCPU_REGS_* index. */
const GPR_FIELDS: readonly (readonly [keyof KvmRegs, number])[] = [
  ['rax', VCPU_REGS_RAX],
  ['rbx', VCPU_REGS_RBX],
  ['rcx', VCPU_REGS_RCX],
  ['rdx', VCPU_REGS_RDX],
  ['rsi', VCPU_REGS_RSI],
  ['rdi', VCPU_REGS_RDI],
  ['rsp', VCPU_REGS_RSP],
  ['rbp', VCPU_REGS_RBP],
  ...Array.from({ length: 8 }, (_, i) => [`r${8 + i}` as keyof KvmRegs, VCPU_REGS_R8 + i] as const),
];

/**
 * The protected-state rule of 6.10+: the vCPU of a protected-state VM type whose VMSA is encrypted
 * keeps its state from the state ioctls (EINVAL) and its MSRs from KVM_GET/SET_MSRS.
 */
export function vcpuStateProtected(vcpu: Vcpu): boolean {
  return (
    vcpu.guestStateProtected && vcpu.vm.typeOps.protectedState && vcpu.vm.core.protectedStateIoctlsEinval
  );
}

/** EINVAL for a state ioctl on a vCPU whose state is protected (vcpuStateProtected). */
function protectedEinval(vcpu: Vcpu, what: string): Errno | undefined {
  if (vcpuStateProtected(vcpu)) return new Errno('EINVAL', `${what}: the vCPU's state is protected`);
  return undefined;
}

/** KVM_GET_REGS: vcpu->arch.regs with RIP and RFLAGS (for an SEV-ES vCPU on v5.17: KVM's stale copies). */
export function getRegs(vcpu: Vcpu): KvmRegs | Errno {
  const bad = protectedEinval(vcpu, 'KVM_GET_REGS');
  if (bad) return bad;
  const save = vcpu.vmcb.save;
  const out = {
    // kvm_rip_read: the save area's, or for protected state KVM's cached copy (0 after a VMGEXIT).
    rip: vcpu.guestStateProtected
      ? kvmRegisterReadRaw(vcpu, VCPU_REGS_RIP)
      : save.getBigUint64(SAVE_RIP, true),
    rflags: save.getBigUint64(SAVE_RFLAGS, true),
  } as KvmRegs;
  for (const [f, r] of GPR_FIELDS) out[f] = kvmRegisterReadRaw(vcpu, r);
  return out;
}

/** KVM_SET_REGS: no validation; RFLAGS bit 1 is forced on and a pending exception is dropped. */
export function setRegs(vcpu: Vcpu, regs: KvmRegs): Errno | undefined {
  const bad = protectedEinval(vcpu, 'KVM_SET_REGS');
  if (bad) return bad;
  for (const [f, r] of GPR_FIELDS) kvmRegisterWriteRaw(vcpu, r, regs[f]);
  const save = vcpu.vmcb.save;
  if (vcpu.guestStateProtected) kvmRegisterWriteRaw(vcpu, VCPU_REGS_RIP, regs.rip);
  save.setBigUint64(SAVE_RIP, BigInt.asUintN(64, regs.rip), true);
  save.setBigUint64(SAVE_RFLAGS, BigInt.asUintN(64, regs.rflags) | 2n, true);
  vcpu.exception = undefined;
  return undefined;
}

/** kvm_segment order in struct kvm_sregs → save-area offset. */
const SEGMENTS: readonly (readonly ['cs' | 'ds' | 'es' | 'fs' | 'gs' | 'ss' | 'tr' | 'ldt', number])[] = [
  ['cs', SAVE_CS],
  ['ds', SAVE_DS],
  ['es', SAVE_ES],
  ['fs', SAVE_FS],
  ['gs', SAVE_GS],
  ['ss', SAVE_SS],
  ['tr', SAVE_TR],
  ['ldt', SAVE_LDTR],
];

/** svm_get_segment: the packed attributes spread out; `unusable` is `!present`. */
function getSegment(save: DataView, off: number, which: string, cpl: number): KvmSegment {
  const s = saveSegment(save, off);
  const a = s.attrib;
  const seg: KvmSegment = {
    base: s.base,
    limit: s.limit,
    selector: s.selector,
    type: a & SVM_SELECTOR_TYPE_MASK,
    s: a & SVM_SELECTOR_S_MASK ? 1 : 0,
    dpl: (a >> SVM_SELECTOR_DPL_SHIFT) & 3,
    present: a & SVM_SELECTOR_P_MASK ? 1 : 0,
    avl: a & SVM_SELECTOR_AVL_MASK ? 1 : 0,
    l: a & SVM_SELECTOR_L_MASK ? 1 : 0,
    db: a & SVM_SELECTOR_DB_MASK ? 1 : 0,
    g: a & SVM_SELECTOR_G_MASK ? 1 : 0,
    unusable: a & SVM_SELECTOR_P_MASK ? 0 : 1,
  };
  if (which === 'tr') seg.type |= 2; // the busy bit, which SVM does not keep
  if (which === 'ss') {
    if (seg.unusable) seg.db = 0;
    seg.dpl = cpl; // symmetric with svm_set_segment
  }
  return seg;
}

/** svm_set_segment: packed attributes (0 for an unusable segment); SS's DPL is the CPL. */
function setSegment(save: DataView, off: number, seg: KvmSegment): void {
  const attrib = seg.unusable
    ? 0
    : (seg.type & SVM_SELECTOR_TYPE_MASK) |
      (seg.s ? SVM_SELECTOR_S_MASK : 0) |
      ((seg.dpl & 3) << SVM_SELECTOR_DPL_SHIFT) |
      (seg.present ? SVM_SELECTOR_P_MASK : 0) |
      (seg.avl ? SVM_SELECTOR_AVL_MASK : 0) |
      (seg.l ? SVM_SELECTOR_L_MASK : 0) |
      (seg.db ? SVM_SELECTOR_DB_MASK : 0) |
      (seg.g ? SVM_SELECTOR_G_MASK : 0);
  setSaveSegment(save, off, { selector: seg.selector, attrib, limit: seg.limit, base: seg.base });
}

function getDtable(save: DataView, off: number): KvmDtable {
  const s = saveSegment(save, off);
  return { base: s.base, limit: s.limit & 0xffff };
}

const zeroSegment = (): KvmSegment => ({
  base: 0n,
  limit: 0,
  selector: 0,
  type: 0,
  present: 0,
  dpl: 0,
  db: 0,
  s: 0,
  l: 0,
  g: 0,
  avl: 0,
  unusable: 0,
});

/**
 * KVM_GET_SREGS. A protected vCPU (v5.17) reports no segments, descriptor tables, CR2 or CR3 (zero)
 * and CR0/CR4/CR8/EFER as the write traps left them.
 */
export function getSregs(vcpu: Vcpu): KvmSregs | Errno {
  const bad = protectedEinval(vcpu, 'KVM_GET_SREGS');
  if (bad) return bad;
  const save = vcpu.vmcb.save;
  const hidden = vcpu.guestStateProtected;
  const cpl = save.getUint8(SAVE_CPL);
  const out = {} as KvmSregs;
  for (const [f, off] of SEGMENTS) out[f] = hidden ? zeroSegment() : getSegment(save, off, f, cpl);
  out.gdt = hidden ? { base: 0n, limit: 0 } : getDtable(save, SAVE_GDTR);
  out.idt = hidden ? { base: 0n, limit: 0 } : getDtable(save, SAVE_IDTR);
  out.cr0 = save.getBigUint64(SAVE_CR0, true);
  out.cr2 = hidden ? 0n : save.getBigUint64(SAVE_CR2, true);
  out.cr3 = hidden ? 0n : save.getBigUint64(SAVE_CR3, true);
  out.cr4 = hidden ? BigInt(vcpu.cr4) : save.getBigUint64(SAVE_CR4, true);
  out.cr8 = BigInt(kvmGetCr8(vcpu));
  out.efer = save.getBigUint64(SAVE_EFER, true);
  out.apicBase = vcpu.msrs.get(MSR_IA32_APICBASE) ?? 0n;
  const bitmap = [0n, 0n, 0n, 0n];
  // A userspace-irqchip interrupt not yet injected shows in interrupt_bitmap (not for protected state).
  if (!hidden && vcpu.interrupt !== undefined)
    bitmap[vcpu.interrupt >> 6]! |= 1n << BigInt(vcpu.interrupt & 63);
  out.interruptBitmap = bitmap;
  return out;
}

/** kvm_is_valid_sregs: long mode needs paging with PAE and EFER.LMA; outside it neither LMA nor CS.L. */
function validSregs(vcpu: Vcpu, s: KvmSregs): boolean {
  const lme = (s.efer & BigInt(EFER_LME)) !== 0n;
  const lma = (s.efer & BigInt(EFER_LMA)) !== 0n;
  const pg = (s.cr0 & BigInt(CR0_PG)) !== 0n;
  if (lme && pg) {
    if (!(s.cr4 & BigInt(CR4_PAE)) || !lma) return false;
    // CR3 bits at or above the guest's MAXPHYADDR.
    if (s.cr3 >> BigInt(vcpu.vm.maxPhysBits) !== 0n) return false;
  } else if (lma || s.cs.l) {
    return false;
  }
  if (vcpu.vm.core.protectedStateIoctlsEinval) {
    // 6.x: CR0 bits 63:32, NW without CD, PG without PE.
    if (s.cr0 >> 32n || (s.cr0 & (1n << 29n) && !(s.cr0 & (1n << 30n))) || (pg && !(s.cr0 & BigInt(CR0_PE))))
      return false;
  }
  return true;
}

/** KVM_SET_SREGS: checked, then (unless the state is protected) applied; CPL becomes SS.DPL. */
export function setSregs(vcpu: Vcpu, s: KvmSregs): Errno | undefined {
  const bad = protectedEinval(vcpu, 'KVM_SET_SREGS');
  if (bad) return bad;
  if (!validSregs(vcpu, s)) return new Errno('EINVAL', 'KVM_SET_SREGS: inconsistent CR0/CR4/EFER/CS.L');
  // kvm_set_apic_base (host-initiated): reserved bits 0-7, 9 and above MAXPHYADDR.
  if (s.apicBase & 0x2ffn || s.apicBase >> BigInt(vcpu.vm.maxPhysBits) !== 0n)
    return new Errno('EINVAL', 'KVM_SET_SREGS: apic_base');
  if (vcpu.guestStateProtected) return undefined;
  const save = vcpu.vmcb.save;
  for (const [f, off] of SEGMENTS) setSegment(save, off, s[f]);
  setSaveSegment(save, SAVE_GDTR, { selector: 0, attrib: 0, limit: s.gdt.limit, base: s.gdt.base });
  setSaveSegment(save, SAVE_IDTR, { selector: 0, attrib: 0, limit: s.idt.limit, base: s.idt.base });
  save.setBigUint64(SAVE_CR2, s.cr2, true);
  save.setBigUint64(SAVE_CR3, s.cr3, true);
  save.setBigUint64(SAVE_EFER, s.efer, true);
  // svm_set_cr0 after svm_set_efer, as __set_sregs_common: it also decides the CR0 intercepts.
  svmSetCr0(vcpu, s.cr0);
  save.setBigUint64(SAVE_CR4, s.cr4, true);
  save.setUint8(SAVE_CPL, s.ss.dpl & 3);
  // kvm_mmu_reset_context: the next entry loads a new root and flushes the guest's TLB
  // (kvm_mmu_load → svm_flush_tlb_current).
  vcpu.vmcb.tlbCtl = TLB_CONTROL_FLUSH_ASID;
  // kvm_set_cr8, whose refusal of bits above 3:0 KVM_SET_SREGS ignores (nothing changes then).
  kvmSetCr8(vcpu, s.cr8);
  vcpu.msrs.set(MSR_IA32_APICBASE, s.apicBase);
  // The first bit set in interrupt_bitmap is queued as the pending interrupt.
  for (let v = 0; v < 256; v++) {
    if ((s.interruptBitmap[v >> 6] ?? 0n) & (1n << BigInt(v & 63))) {
      vcpu.interrupt = v;
      break;
    }
  }
  return undefined;
}

/** Whether KVM treats this vCPU's FPU as confidential (v5.17: every SEV-ES vCPU from creation). */
function fpuConfidential(vcpu: Vcpu): boolean {
  return vcpu.guestStateProtected;
}

/** KVM_GET_FPU: a confidential FPU reads as zeros (v5.17) or fails EINVAL (6.10+). */
export function getFpu(vcpu: Vcpu): KvmFpu | Errno {
  if (fpuConfidential(vcpu)) {
    const bad = protectedEinval(vcpu, 'KVM_GET_FPU');
    if (bad) return bad;
    return { ...resetFpu(), fcw: 0, mxcsr: 0 };
  }
  const f = vcpu.fpu;
  return { ...f, fpr: f.fpr.slice(), xmm: f.xmm.slice() };
}

/** KVM_SET_FPU: ignored for a confidential FPU (v5.17), EINVAL (6.10+). */
export function setFpu(vcpu: Vcpu, fpu: KvmFpu): Errno | undefined {
  if (fpuConfidential(vcpu)) return protectedEinval(vcpu, 'KVM_SET_FPU');
  // In place: the CPU works on this object and its arrays (CpuAttachment.fpu).
  const f = vcpu.fpu;
  f.fpr.set(fpu.fpr.subarray(0, f.fpr.length));
  f.xmm.set(fpu.xmm.subarray(0, f.xmm.length));
  f.fcw = fpu.fcw;
  f.fsw = fpu.fsw;
  f.ftwx = fpu.ftwx;
  f.lastOpcode = fpu.lastOpcode;
  f.lastIp = fpu.lastIp;
  f.lastDp = fpu.lastDp;
  f.mxcsr = fpu.mxcsr;
  return undefined;
}

/** KVM_GET_XCRS: XCR0. */
export function getXcrs(vcpu: Vcpu): KvmXcrs | Errno {
  const bad = protectedEinval(vcpu, 'KVM_GET_XCRS');
  if (bad) return bad;
  return { nrXcrs: 1, flags: 0, xcrs: [{ xcr: 0, value: vcpu.xcr0 }] };
}

/** KVM_SET_XCRS: at most 16, no flags; XCR0 through __kvm_set_xcr's checks (EINVAL). */
export function setXcrs(vcpu: Vcpu, x: KvmXcrs): Errno | undefined {
  const bad = protectedEinval(vcpu, 'KVM_SET_XCRS');
  if (bad) return bad;
  if (x.nrXcrs > 16 || x.flags) return new Errno('EINVAL', 'KVM_SET_XCRS');
  for (const e of x.xcrs.slice(0, x.nrXcrs)) {
    if (e.xcr === 0 && !kvmSetXcr0(vcpu, e.value)) return new Errno('EINVAL', 'KVM_SET_XCRS: XCR0');
  }
  return undefined;
}

/** KVM_GET_VCPU_EVENTS: the queued exception, the userspace interrupt, NMI state and the shadow. */
export function getVcpuEvents(vcpu: Vcpu): KvmVcpuEvents {
  const e = vcpu.exception;
  return {
    exception: {
      injected: e ? 1 : 0,
      nr: e?.vector ?? 0,
      hasErrorCode: e?.errorCode !== undefined ? 1 : 0,
      pending: 0,
      errorCode: e?.errorCode ?? 0,
    },
    interrupt: {
      injected: vcpu.interrupt !== undefined ? 1 : 0,
      nr: vcpu.interrupt ?? 0,
      soft: 0,
      shadow: vcpu.vmcb.intState & SVM_INTERRUPT_SHADOW_MASK ? 1 : 0,
    },
    nmi: { injected: 0, pending: vcpu.nmiPending, masked: vcpu.nmiMasked ? 1 : 0 },
    sipiVector: 0,
    flags: KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM,
    smi: { smm: 0, pending: 0, smmInsideNmi: 0, latchedInit: 0 },
    tripleFault: { pending: 0 },
    exceptionHasPayload: 0,
    exceptionPayload: 0n,
  };
}

const EVENT_FLAGS =
  KVM_VCPUEVENT_VALID_NMI_PENDING |
  KVM_VCPUEVENT_VALID_SIPI_VECTOR |
  KVM_VCPUEVENT_VALID_SHADOW |
  KVM_VCPUEVENT_VALID_SMM |
  KVM_VCPUEVENT_VALID_PAYLOAD |
  KVM_VCPUEVENT_VALID_TRIPLE_FAULT;

/**
 * KVM_SET_VCPU_EVENTS (kvm_vcpu_ioctl_x86_set_vcpu_events): unknown flags, a payload without
 * KVM_CAP_EXCEPTION_PAYLOAD, an exception vector above 31 or NMI's are EINVAL; then the state is applied.
 */
export function setVcpuEvents(vcpu: Vcpu, ev: KvmVcpuEvents): Errno | undefined {
  if (ev.flags & ~EVENT_FLAGS) return new Errno('EINVAL', 'KVM_SET_VCPU_EVENTS: flags');
  if (ev.flags & KVM_VCPUEVENT_VALID_PAYLOAD)
    return new Errno('EINVAL', 'KVM_SET_VCPU_EVENTS: exception payload');
  const ex = ev.exception;
  // Without KVM_VCPUEVENT_VALID_PAYLOAD the kernel zeroes exception.pending before any check.
  if (ex.injected && (ex.nr > 31 || ex.nr === 2))
    return new Errno('EINVAL', 'KVM_SET_VCPU_EVENTS: exception vector');
  vcpu.exception = ex.injected
    ? { vector: ex.nr, errorCode: ex.hasErrorCode ? ex.errorCode : undefined }
    : undefined;
  vcpu.interrupt = ev.interrupt.injected ? ev.interrupt.nr : undefined;
  if (ev.flags & KVM_VCPUEVENT_VALID_SHADOW) {
    const shadow = ev.interrupt.shadow ? SVM_INTERRUPT_SHADOW_MASK : 0;
    vcpu.vmcb.intState = (vcpu.vmcb.intState & ~SVM_INTERRUPT_SHADOW_MASK) | shadow;
  }
  if (ev.flags & KVM_VCPUEVENT_VALID_NMI_PENDING) vcpu.nmiPending = Math.min(ev.nmi.pending, 2);
  // svm_set_nmi_mask: a masked NMI waits for the handler's IRET, which KVM intercepts (not for SEV-ES).
  vcpu.nmiMasked = ev.nmi.masked !== 0;
  if (!vcpu.guestStateProtected) vcpu.vmcb.setIntercept(SVM_EXIT_IRET, vcpu.nmiMasked);
  const lapic = vcpu.vm.irqchip?.lapic(vcpu);
  if (lapic && ev.flags & KVM_VCPUEVENT_VALID_SIPI_VECTOR) lapic.sipiVector = ev.sipiVector;
  // Checked last, after the rest is applied, as the kernel does: KVM_CAP_X86_TRIPLE_FAULT_EVENT is not modelled.
  if (ev.flags & KVM_VCPUEVENT_VALID_TRIPLE_FAULT)
    return new Errno('EINVAL', 'KVM_SET_VCPU_EVENTS: triple fault event not enabled');
  return undefined;
}
