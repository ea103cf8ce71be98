/**
 * The x87 register stack as the CPU's FPU state holds it (struct kvm_fpu, FXSAVE's layout, so
 * KVM_GET_FPU, FXSAVE and XSAVE see it as they are): `fpr` holds ST(0)..ST(7) in stack order, 16
 * bytes each (10 significant), TOP is FSW bits 13:11, and `ftwx` is the abridged tag word, one bit
 * per PHYSICAL register (ST(i) is physical register (TOP + i) & 7), 1 = not empty. A push moves
 * every slot of `fpr` up by one (ST(7)'s bytes become ST(0)'s slot) and TOP goes down; a pop moves
 * them down (ST(0)'s bytes go to ST(7)'s slot, its tag cleared) and TOP goes up.
 *
 * Exceptions are recorded, never delivered: the flags are ORed into the status word, ES and B
 * follow the unmasked ones, and no #MF is raised (the waiting instructions never find one pending
 * as far as delivery goes). With an exception masked (FNINIT masks them all) the instruction
 * completes with the masked response, e.g. the indefinite QNaN; unmasked, the x87 would leave its
 * operands alone, and so do the handlers here where that matters (stack faults, invalid results).
 *
 * FIP, FDP and FOP are not updated by the instructions (as AMD CPUs save them only while an
 * exception is pending; none ever is here): they keep what FNINIT, FLDENV, FRSTOR, FXRSTOR, XRSTOR
 * or KVM_SET_FPU put there.
 */
import { CLASS_NORMAL, CLASS_ZERO, classF80, F80_BYTES, FSW_IE, writeIndefinite } from '../f80.js';
import type { Exec } from '../insn.js';
import { NM_VECTOR } from '../vectors.js';
import { CR0_EM, CR0_TS } from './sse.js';

/** The CPU (named through Exec: a direct type import of cpu.ts would read as a runtime cycle to the import scan). */
type X86Cpu = Parameters<Exec>[0];
type Fpu = X86Cpu['fpu'];

/** FSW bits besides the exception flags (f80.ts's FSW_IE..FSW_PE). */
export const FSW_SF = 0x40;
export const FSW_ES = 0x80;
export const FSW_C0 = 0x100;
export const FSW_C1 = 0x200;
export const FSW_C2 = 0x400;
export const FSW_C3 = 0x4000;
export const FSW_B = 0x8000;
export const FSW_CC = FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3;
const FSW_TOP_SHIFT = 11;
const FSW_TOP = 7 << FSW_TOP_SHIFT;
/** The exception flags and their masks (FCW bits 5:0). */
const EXCEPTIONS = 0x3f;

/** FNINIT's control word: all exceptions masked, 64-bit precision, round to nearest. */
export const FCW_INIT = 0x37f;

/**
 * FNINIT's state: FCW 037Fh, FSW 0 (TOP 0), every register empty, FOP, FIP and FDP 0. The data
 * registers keep their contents: TOP moves to 0 with the slots of `fpr` (a later FLDENV of the
 * old TOP finds them where they were).
 */
export function initX87(f: Fpu): void {
  rotate(f, -top(f));
  f.fcw = FCW_INIT;
  f.fsw = 0;
  f.ftwx = 0;
  f.lastOpcode = 0;
  f.lastIp = 0n;
  f.lastDp = 0n;
}

/** The rounding control (FCW bits 11:10, f80.ts's RC_*). */
export function roundingControl(f: Fpu): number {
  return (f.fcw >> 10) & 3;
}

/** The x87 instruction check (SDM vol. 1 table 12-8): CR0.EM or CR0.TS → #NM. */
export function x87Check(cpu: X86Cpu): void {
  if (cpu.s.cr0 & (CR0_EM | CR0_TS)) cpu.raise({ vector: NM_VECTOR });
}

/** TOP. */
export function top(f: Fpu): number {
  return (f.fsw >> FSW_TOP_SHIFT) & 7;
}

/** Set TOP (the slots of `fpr` stay: see rotate). */
function setTop(f: Fpu, t: number): void {
  f.fsw = (f.fsw & ~FSW_TOP) | ((t & 7) << FSW_TOP_SHIFT);
}

/** The byte offset of ST(i) in `fpr`. */
export function st(i: number): number {
  return 16 * i;
}

/** ST(i) is empty. */
export function isEmpty(f: Fpu, i: number): boolean {
  return !(f.ftwx & (1 << ((top(f) + i) & 7)));
}

/** Tag ST(i) valid (not empty). */
export function setValid(f: Fpu, i: number): void {
  f.ftwx |= 1 << ((top(f) + i) & 7);
}

/** Tag ST(i) empty. */
export function setEmpty(f: Fpu, i: number): void {
  f.ftwx &= ~(1 << ((top(f) + i) & 7));
}

/** Load FSW from an environment image: TOP moves as rotate moves it (the registers stay where they are). */
export function loadStatusWord(f: Fpu, fsw: number): void {
  rotate(f, ((fsw >> FSW_TOP_SHIFT) & 7) - top(f));
  f.fsw = fsw;
}

/** Change TOP by `by` (+1 pops, -1 pushes), moving the slots of `fpr` with it; tags stay with their registers. */
export function rotate(f: Fpu, by: number): void {
  const r = f.fpr;
  const slots = r.slice(0, 128);
  for (let i = 0; i < 8; i++) r.set(slots.subarray(16 * i, 16 * i + 16), 16 * ((i - by) & 7));
  setTop(f, top(f) + by);
}

/** Record exception flags (and ES, B when any is unmasked). */
export function raiseFlags(f: Fpu, flags: number): void {
  f.fsw |= flags;
  if (f.fsw & ~f.fcw & EXCEPTIONS) f.fsw |= FSW_ES | FSW_B;
}

/** Whether an exception (FSW_IE..FSW_PE) is masked. */
export function masked(f: Fpu, flag: number): boolean {
  return (f.fcw & flag) !== 0;
}

/** Set C3..C0 (the bits of `cc` among FSW_CC), the others cleared. */
export function setCc(f: Fpu, cc: number): void {
  f.fsw = (f.fsw & ~FSW_CC) | cc;
}

/**
 * A stack underflow (an empty register read): IE and SF, C1 = 0. True when IE is masked, so the
 * instruction goes on with the indefinite as its result.
 */
export function underflow(f: Fpu): boolean {
  f.fsw &= ~FSW_C1;
  raiseFlags(f, FSW_IE | FSW_SF);
  return masked(f, FSW_IE);
}

/**
 * Any of ST(i) for i in `regs` empty: a stack underflow. Returns true when the instruction goes
 * on (no register empty, or IE masked: then the empty ones hold the indefinite, as the masked
 * response reads them), false when it must stop (unmasked).
 */
export function readable(f: Fpu, ...regs: number[]): boolean {
  const empty = regs.filter((i) => isEmpty(f, i));
  if (empty.length === 0) return true;
  if (!underflow(f)) return false;
  for (const i of empty) writeIndefinite(f.fpr, st(i));
  return true;
}

/**
 * Push: TOP - 1, the new ST(0) valid; its bytes are the caller's to write. The new ST(0) not
 * empty is a stack overflow (IE, SF, C1 = 1): masked, ST(0) becomes the indefinite and false is
 * returned (the caller writes nothing); unmasked, nothing changes and false is returned too.
 */
export function push(f: Fpu): boolean {
  if (!isEmpty(f, 7)) {
    f.fsw |= FSW_C1;
    raiseFlags(f, FSW_IE | FSW_SF);
    if (!masked(f, FSW_IE)) return false;
    rotate(f, -1);
    writeIndefinite(f.fpr, st(0));
    return false;
  }
  rotate(f, -1);
  setValid(f, 0);
  return true;
}

/** Push the 10 bytes at `src[off]` (copied first: they may be a register's own). */
export function pushBytes(f: Fpu, src: Uint8Array, off: number): void {
  const v = src.slice(off, off + F80_BYTES);
  if (push(f)) f.fpr.set(v, st(0));
}

/** Pop: ST(0) empty, TOP + 1. */
export function pop(f: Fpu): void {
  setEmpty(f, 0);
  rotate(f, 1);
}

/** Copy ST(src) to ST(dst) and tag it valid. */
export function copyReg(f: Fpu, dst: number, src: number): void {
  if (dst !== src) f.fpr.copyWithin(st(dst), st(src), st(src) + F80_BYTES);
  setValid(f, dst);
}

/** Tag of ST(i) in the full tag word: 00 valid, 01 zero, 10 special (NaN, infinity, denormal, unsupported), 11 empty. */
function fullTag(f: Fpu, i: number): number {
  if (isEmpty(f, i)) return 3;
  const c = classF80(f.fpr, st(i));
  return c === CLASS_NORMAL ? 0 : c === CLASS_ZERO ? 1 : 2;
}

/** The full 16-bit tag word (FNSTENV, FNSAVE), from the abridged one and the registers' classes. */
export function fullTagWord(f: Fpu): number {
  let w = 0;
  const t = top(f);
  for (let i = 0; i < 8; i++) w |= fullTag(f, i) << (2 * ((t + i) & 7));
  return w;
}

/** The abridged tag word of a full one (FLDENV, FRSTOR): a register is valid unless tagged 11. */
export function abridgedTagWord(w: number): number {
  let a = 0;
  for (let p = 0; p < 8; p++) if (((w >> (2 * p)) & 3) !== 3) a |= 1 << p;
  return a;
}
