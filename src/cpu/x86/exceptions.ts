/**
 * Event delivery: exceptions the interpreter raises, and the event KVM injects through event_inj,
 * through the real-mode IVT, a protected-mode IDT (32-bit interrupt and trap gates, with the TSS's
 * ring-0 stack on a privilege change) or a long-mode IDT (16-byte gates, IST stacks). A fault while
 * delivering follows the double-fault rules; a fault while delivering #DF is a triple fault, which
 * SVM reports as SVM_EXIT_SHUTDOWN.
 */
import {
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_MASK,
  SVM_EVTINJ_TYPE_SOFT,
  SVM_EVTINJ_VALID_ERR,
  SVM_EVTINJ_VEC_MASK,
} from '../../uapi/svm.js';
import { SVM_SELECTOR_P_MASK } from '../vmcb.js';
import type { X86Cpu } from './cpu.js';
import {
  RFLAGS_AC,
  RFLAGS_IF,
  RFLAGS_NT,
  RFLAGS_RF,
  RFLAGS_TF,
  RFLAGS_VM,
  readRflags,
  writeRflags,
} from './flags.js';
import { STOP_SIGNAL } from './insn.js';
import { readLinear } from './mmu.js';
import {
  getRsp,
  loadRealSegment,
  push,
  readDescriptor,
  realMode,
  setAccessed,
  setRsp,
  setSegment,
} from './segments.js';
import { hi32, SEG_CS, SEG_SS } from './state.js';
import { DF_VECTOR, GP_VECTOR, isContributory, NP_VECTOR, PF_VECTOR } from './vectors.js';

/** An event to deliver. */
export interface PendingException {
  readonly vector: number;
  /** Pushed when defined. */
  readonly errorCode?: number;
  /** INT n / INT3 / INTO: the DPL check applies and the saved RIP is the next instruction's. */
  readonly soft?: boolean;
  /** Injected by KVM through event_inj (KVM sets RF itself for the faults it injects). */
  readonly injected?: boolean;
}

/** Exceptions of the fault class (SDM Vol. 3A Table 6-1): the instruction restarts after them. */
const FAULTS: ReadonlySet<number> = new Set([0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19, 20, 21, 29]);

/**
 * The RFLAGS image a protected-mode delivery pushes: for a fault the CPU raised, with RF set, so the
 * restarted instruction does not hit its own instruction breakpoint again (SDM 17.3.1.1).
 */
function pushedFlags(flags: number, p: PendingException): number {
  return !p.soft && !p.injected && FAULTS.has(p.vector) ? flags | RFLAGS_RF : flags;
}

/** event_inj at VMRUN: an exception (with its error code), NMI, external or software interrupt. */
export function deliverEvent(cpu: X86Cpu, inj: number, err: number): void {
  const vector = inj & SVM_EVTINJ_VEC_MASK;
  const type = inj & SVM_EVTINJ_TYPE_MASK;
  const withErr = (inj & SVM_EVTINJ_VALID_ERR) !== 0;
  deliverException(cpu, {
    vector,
    ...(withErr && type === SVM_EVTINJ_TYPE_EXEPT ? { errorCode: err } : {}),
    ...(type === SVM_EVTINJ_TYPE_SOFT ? { soft: true } : {}),
    injected: true,
  });
}

/**
 * Deliver an event now (RIP: the faulting instruction, or for soft interrupts already the next).
 * A fault during delivery becomes #DF or a triple fault per the double-fault rules.
 */
export function deliverException(cpu: X86Cpu, p: PendingException): void {
  try {
    if (realMode(cpu)) deliverReal(cpu, p);
    else if (cpu.s.codeSize === 64 || cpu.s.efer & 0x400) deliverLong(cpu, p);
    else deliverProtected(cpu, p);
  } catch (e) {
    if (e !== STOP_SIGNAL || !cpu.pending) throw e;
    const second = cpu.pending.vector;
    if (p.vector === DF_VECTOR) cpu.shutdown();
    const firstPf = p.vector === PF_VECTOR;
    const firstContrib = isContributory(p.vector);
    if (
      (firstContrib && isContributory(second)) ||
      (firstPf && (isContributory(second) || second === PF_VECTOR))
    )
      cpu.pending = { vector: DF_VECTOR, errorCode: 0 };
    throw e;
  }
}

/** Real mode: the IVT entry (IP, CS), FLAGS/CS/IP pushed on the 16-bit stack. */
function deliverReal(cpu: X86Cpu, p: PendingException): void {
  const s = cpu.s;
  const at = p.vector * 4;
  if (at + 3 > s.idtrLimit) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
  const entry = readLinear(cpu, s.idtrBase + at, 4);
  const flags = readRflags(cpu.f);
  push(cpu, 2, flags & 0xffff, 0);
  push(cpu, 2, s.segSel[SEG_CS]!, 0);
  push(cpu, 2, s.rip & 0xffff, 0);
  writeRflags(cpu.f, flags & ~(RFLAGS_IF | RFLAGS_TF | RFLAGS_AC | RFLAGS_RF));
  loadRealSegment(cpu, SEG_CS, entry >>> 16);
  s.rip = entry & 0xffff;
}

/** The gate of a vector in a protected-mode IDT (8-byte entries): #GP(vector*8+2) beyond the limit. */
function gate(cpu: X86Cpu, p: PendingException, size: 8 | 16): { lo: number; hi: number; hi2: number } {
  const s = cpu.s;
  const at = p.vector * size;
  const ext = p.soft ? 0 : 1;
  if (at + size - 1 > s.idtrLimit) cpu.raise({ vector: GP_VECTOR, errorCode: at + 2 + ext });
  const saved = s.cpl;
  s.cpl = 0;
  try {
    const lo = readLinear(cpu, s.idtrBase + at, 4);
    const hi = readLinear(cpu, s.idtrBase + at + 4, 4);
    const hi2 = size === 16 ? readLinear(cpu, s.idtrBase + at + 8, 4) : 0;
    const type = (hi >>> 8) & 0x1f;
    const dpl = (hi >>> 13) & 3;
    const ok =
      size === 16 ? type === 0xe || type === 0xf : type === 0xe || type === 0xf || type === 6 || type === 7;
    if (!ok) cpu.raise({ vector: GP_VECTOR, errorCode: at + 2 + ext });
    if (p.soft && dpl < saved) cpu.raise({ vector: GP_VECTOR, errorCode: at + 2 });
    if (!(hi & 0x8000)) cpu.raise({ vector: NP_VECTOR, errorCode: at + 2 + ext });
    return { lo, hi, hi2 };
  } finally {
    s.cpl = saved;
  }
}

/** The target code segment of a gate: a present code segment with DPL ≤ CPL. */
function gateTarget(cpu: X86Cpu, sel: number): { dpl: number; d: ReturnType<typeof readDescriptor> } {
  if ((sel & 0xfffc) === 0) cpu.raise({ vector: GP_VECTOR, errorCode: 0 });
  const d = readDescriptor(cpu, sel);
  const dpl = (d.attr >>> 5) & 3;
  if (!(d.attr & 8) || dpl > cpu.s.cpl) cpu.raise({ vector: GP_VECTOR, errorCode: sel & 0xfffc });
  if (!(d.attr & SVM_SELECTOR_P_MASK)) cpu.raise({ vector: NP_VECTOR, errorCode: sel & 0xfffc });
  return { dpl, d };
}

/** 32-bit protected mode (16-bit gates push words). */
function deliverProtected(cpu: X86Cpu, p: PendingException): void {
  const s = cpu.s;
  const g = gate(cpu, p, 8);
  const sel = g.lo >>> 16;
  const offset = ((g.hi & 0xffff_0000) | (g.lo & 0xffff)) >>> 0;
  const type = (g.hi >>> 8) & 0x1f;
  const width = type & 8 ? 4 : 2;
  const { dpl, d } = gateTarget(cpu, sel);
  const flags = readRflags(cpu.f);
  const oldSs = s.segSel[SEG_SS]!;
  const oldEsp = getRsp(cpu) >>> 0;
  const oldCs = s.segSel[SEG_CS]!;
  const oldEip = s.rip >>> 0;
  if (dpl < s.cpl) {
    // Inner privilege: SS:ESP from the 32-bit TSS (ESP0 at +4, SS0 at +8, 8 bytes a level).
    const at = s.trBase + 4 + 8 * dpl;
    s.cpl = 0;
    const esp = readLinear(cpu, at, 4);
    const ss = readLinear(cpu, at + 4, 2);
    const sd = readDescriptor(cpu, ss);
    s.cpl = dpl;
    setSegment(cpu, SEG_SS, ss, sd);
    setRsp(cpu, esp, 4);
    push(cpu, width, oldSs, 0);
    push(cpu, width, oldEsp, 0);
  }
  push(cpu, width, pushedFlags(flags, p), 0);
  push(cpu, width, oldCs, 0);
  push(cpu, width, oldEip, 0);
  if (p.errorCode !== undefined && !p.soft) push(cpu, width, p.errorCode, 0);
  setAccessed(cpu, sel);
  setSegment(cpu, SEG_CS, (sel & 0xfffc) | dpl, d);
  s.cpl = dpl;
  const clear = RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM | ((type & 7) === 6 ? RFLAGS_IF : 0);
  writeRflags(cpu.f, flags & ~clear);
  s.rip = offset;
}

/** Long mode: 16-byte gates, IST, SS:RSP always pushed, the stack aligned to 16. */
function deliverLong(cpu: X86Cpu, p: PendingException): void {
  const s = cpu.s;
  const g = gate(cpu, p, 16);
  const sel = g.lo >>> 16;
  const offLo = ((g.hi & 0xffff_0000) | (g.lo & 0xffff)) >>> 0;
  const offset = (g.hi2 | 0) * 0x1_0000_0000 + offLo;
  const ist = (g.hi >>> 0) & 7;
  const type = (g.hi >>> 8) & 0x1f;
  const { dpl, d } = gateTarget(cpu, sel);
  const flags = readRflags(cpu.f);
  const oldSs = s.segSel[SEG_SS]!;
  const oldRsp = getRsp(cpu);
  const oldCs = s.segSel[SEG_CS]!;
  const oldRip = s.rip;
  let rsp = oldRsp;
  const saved = s.cpl;
  if (ist !== 0 || dpl < s.cpl) {
    // The 64-bit TSS: RSP0-2 at +4, IST1-7 at +0x24.
    const at = s.trBase + (ist !== 0 ? 0x24 + 8 * (ist - 1) : 4 + 8 * dpl);
    s.cpl = 0;
    const lo = readLinear(cpu, at, 8);
    rsp = (cpu.hi | 0) * 0x1_0000_0000 + lo;
    s.cpl = saved;
  }
  if (dpl < saved) {
    // A privilege change loads SS with a null selector of the new CPL.
    setSegment(cpu, SEG_SS, dpl, { base: 0, limit: 0, attr: 0 });
  }
  rsp -= ((rsp % 16) + 16) % 16;
  s.cpl = dpl;
  setRsp(cpu, rsp, 8);
  // The new CS is a 64-bit code segment: pushes are 8 bytes on the flat stack.
  setSegment(cpu, SEG_CS, (sel & 0xfffc) | dpl, d);
  push(cpu, 8, oldSs, 0);
  push(cpu, 8, oldRsp >>> 0, hi32(oldRsp));
  push(cpu, 8, pushedFlags(flags, p), 0);
  push(cpu, 8, oldCs, 0);
  push(cpu, 8, oldRip >>> 0, hi32(oldRip));
  if (p.errorCode !== undefined && !p.soft) push(cpu, 8, p.errorCode, 0);
  setAccessed(cpu, sel);
  const clear = RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM | ((type & 1) === 0 ? RFLAGS_IF : 0);
  writeRflags(cpu.f, flags & ~clear);
  s.rip = offset;
}
