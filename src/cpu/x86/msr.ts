/**
 * RDMSR/WRMSR of the MSRs KVM does not intercept (the MSR permission map passes them through): the
 * CPU reads and writes them itself, in the state VMRUN loaded — the save area's (or VMSA's) fields,
 * the segment bases, and for SEV-ES the GHCB MSR, which is the VMCB's ghcb_gpa field. An MSR the
 * model's CPU does not have is #GP, as an unimplemented MSR is on hardware.
 */
import {
  MSR_AMD64_SEV_ES_GHCB,
  MSR_CSTAR,
  MSR_EFER,
  MSR_FS_BASE,
  MSR_GS_BASE,
  MSR_IA32_CR_PAT,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_KERNEL_GS_BASE,
  MSR_LSTAR,
  MSR_STAR,
  MSR_SYSCALL_MASK,
} from '../../uapi/msr-index.js';
import { EFER_LMA } from '../reset.js';
import {
  SAVE_CSTAR,
  SAVE_G_PAT,
  SAVE_KERNEL_GS_BASE,
  SAVE_LSTAR,
  SAVE_SFMASK,
  SAVE_STAR,
  SAVE_SYSENTER_CS,
  SAVE_SYSENTER_EIP,
  SAVE_SYSENTER_ESP,
} from '../vmcb.js';
import type { X86Cpu } from './cpu.js';
import { hi32, SEG_FS, SEG_GS } from './state.js';
import { GP_VECTOR } from './vectors.js';

const TWO32 = 0x1_0000_0000;

/** The save-area field of a pass-through MSR kept there, or -1. */
function saveField(index: number): number {
  switch (index) {
    case MSR_STAR:
      return SAVE_STAR;
    case MSR_LSTAR:
      return SAVE_LSTAR;
    case MSR_CSTAR:
      return SAVE_CSTAR;
    case MSR_SYSCALL_MASK:
      return SAVE_SFMASK;
    case MSR_KERNEL_GS_BASE:
      return SAVE_KERNEL_GS_BASE;
    case MSR_IA32_SYSENTER_CS:
      return SAVE_SYSENTER_CS;
    case MSR_IA32_SYSENTER_ESP:
      return SAVE_SYSENTER_ESP;
    case MSR_IA32_SYSENTER_EIP:
      return SAVE_SYSENTER_EIP;
    case MSR_IA32_CR_PAT:
      return SAVE_G_PAT;
    default:
      return -1;
  }
}

/** RDMSR in the CPU: EDX:EAX of the MSR (as halves: bits 31:0 returned, 63:32 in cpu.hi). */
export function nativeRdmsr(cpu: X86Cpu, index: number): number {
  const s = cpu.s;
  const field = saveField(index);
  if (field >= 0) {
    cpu.hi = cpu.save.getUint32(field + 4, true);
    return cpu.save.getUint32(field, true);
  }
  switch (index) {
    case MSR_FS_BASE:
    case MSR_GS_BASE: {
      const v = s.segBase[index === MSR_FS_BASE ? SEG_FS : SEG_GS]!;
      const lo = v >>> 0;
      cpu.hi = hi32(v);
      return lo;
    }
    case MSR_EFER:
      cpu.hi = 0;
      return s.efer >>> 0;
    case MSR_AMD64_SEV_ES_GHCB:
      cpu.hi = cpu.vmcb.ghcbGpaHi;
      return cpu.vmcb.ghcbGpaLo;
    default:
      cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
  }
}

/** Whether hi:lo is a canonical address (48 bits of virtual address). */
function canonical(lo: number, hi: number): boolean {
  const v = (hi | 0) * TWO32 + (lo >>> 0);
  return v < 2 ** 47 && v >= -(2 ** 47);
}

/** WRMSR in the CPU. */
export function nativeWrmsr(cpu: X86Cpu, index: number, lo: number, hi: number): void {
  const s = cpu.s;
  const field = saveField(index);
  if (field >= 0) {
    // An address MSR (LSTAR, CSTAR, KERNEL_GS_BASE) takes a canonical address only: else #GP.
    if ((index === MSR_LSTAR || index === MSR_CSTAR || index === MSR_KERNEL_GS_BASE) && !canonical(lo, hi))
      cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
    cpu.save.setUint32(field, lo >>> 0, true);
    cpu.save.setUint32(field + 4, hi >>> 0, true);
    return;
  }
  switch (index) {
    case MSR_FS_BASE:
    case MSR_GS_BASE: {
      // A non-canonical base is #GP.
      if (!canonical(lo, hi)) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
      s.segBase[index === MSR_FS_BASE ? SEG_FS : SEG_GS] = (hi | 0) * TWO32 + lo;
      return;
    }
    case MSR_EFER:
      if (hi !== 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
      // LMA is the CPU's: it follows CR0.PG with LME, not the written value.
      s.efer = ((lo & ~EFER_LMA) | (s.efer & EFER_LMA)) >>> 0;
      cpu.tlb.flush();
      return;
    case MSR_AMD64_SEV_ES_GHCB:
      cpu.vmcb.ghcbGpa = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
      return;
    default:
      cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
  }
}
