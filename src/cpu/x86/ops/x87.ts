/**
 * The x87 control instructions (edk2's SEC InitializeFloatingPointUnits: FINIT, FLDCW):
 * FNINIT/FINIT, FLDCW, FNSTCW/FSTCW, FNSTSW/FSTSW (to memory and AX), FNCLEX/FCLEX and WAIT, on
 * the x87 control, status and tag words of the CPU's FPU state (KVM's guest FPU, or an SEV-ES
 * CPU's own); and the x87 family's builder, which registers them with the register stack and
 * arithmetic of the other x87 files: x87-stack.ts (the stack, tags, exception flags), x87-data.ts
 * (loads, stores, exchanges), x87-arith.ts, x87-compare.ts and x87-env.ts (FNSTENV, FNSAVE and
 * their loads). BCD (FBLD, FBSTP) and the 8087/287 leftovers (FENI, FDISI, FSETPM) stay #UD.
 *
 * Checks (SDM vol. 1, 8.1 and table 12-8): CR0.EM or CR0.TS → #NM for the x87 instructions; WAIT
 * → #NM only when CR0.TS and CR0.MP are both set. Exceptions are recorded in the status word and
 * never delivered (x87-stack.ts): the waiting forms never raise #MF.
 */
import iced from 'iced-x86';
import { type Exec, NEXT } from '../insn.js';
import { readLinear, writeLinear } from '../mmu.js';
import { linearAddress, writeReg } from '../operands.js';
import { NM_VECTOR } from '../vectors.js';
import { byMnemonic, codeBuilder } from './builder.js';
import { CR0_TS } from './sse.js';
import { X87_ARITH_OPS } from './x87-arith.js';
import { X87_COMPARE_OPS } from './x87-compare.js';
import { X87_DATA_OPS } from './x87-data.js';
import { X87_ENV_OPS } from './x87-env.js';
import { initX87, x87Check } from './x87-stack.js';

export { FCW_INIT } from './x87-stack.js';

const { Code, Register } = iced;

const CR0_MP = 1 << 1;
/** FNCLEX clears the exception flags, ES and B (bits 0-7 and 15). */
const FSW_CLEX_KEEP = 0x7f00;

const fninit: Exec = (cpu) => {
  x87Check(cpu);
  initX87(cpu.fpu);
  return NEXT;
};

const fldcw: Exec = (cpu, i) => {
  x87Check(cpu);
  cpu.fpu.fcw = readLinear(cpu, linearAddress(cpu, i), 2) & 0xffff;
  return NEXT;
};

const fnstcw: Exec = (cpu, i) => {
  x87Check(cpu);
  writeLinear(cpu, linearAddress(cpu, i), 2, cpu.fpu.fcw, 0);
  return NEXT;
};

const fnstswMem: Exec = (cpu, i) => {
  x87Check(cpu);
  writeLinear(cpu, linearAddress(cpu, i), 2, cpu.fpu.fsw, 0);
  return NEXT;
};

/** FNSTSW AX: AX only (register 0, 2 bytes). */
const fnstswAx: Exec = (cpu) => {
  x87Check(cpu);
  writeReg(cpu, 0, 2, cpu.fpu.fsw, 0);
  return NEXT;
};

const fnclex: Exec = (cpu) => {
  x87Check(cpu);
  cpu.fpu.fsw &= FSW_CLEX_KEEP;
  return NEXT;
};

const wait: Exec = (cpu) => {
  if ((cpu.s.cr0 & (CR0_TS | CR0_MP)) === (CR0_TS | CR0_MP)) cpu.raise({ vector: NM_VECTOR });
  return NEXT;
};

/** Handlers by iced Code (the waiting forms decode as one instruction with their WAIT). */
const BY_CODE = new Map<number, Exec>([
  [Code.Fninit, fninit],
  [Code.Finit, fninit],
  [Code.Fldcw_m2byte, fldcw],
  [Code.Fnstcw_m2byte, fnstcw],
  [Code.Fstcw_m2byte, fnstcw],
  [Code.Fnstsw_m2byte, fnstswMem],
  [Code.Fstsw_m2byte, fnstswMem],
  [Code.Fnstsw_AX, fnstswAx],
  [Code.Fstsw_AX, fnstswAx],
  [Code.Fnclex, fnclex],
  [Code.Fclex, fnclex],
  [Code.Wait, wait],
  ...X87_DATA_OPS,
  ...X87_ARITH_OPS,
  ...X87_COMPARE_OPS,
  ...X87_ENV_OPS,
]);

/** The form's handler, with the ST(i) numbers of register operands in r0/r1. */
export const X87_BUILDERS = byMnemonic(BY_CODE, codeBuilder(BY_CODE, Register.ST0, 8));
