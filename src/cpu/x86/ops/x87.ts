/**
 * The x87 control instructions firmware runs before any floating point (edk2's SEC
 * InitializeFloatingPointUnits: FINIT, FLDCW): FNINIT/FINIT, FLDCW, FNSTCW/FSTCW, FNSTSW/FSTSW (to
 * memory and AX), FNCLEX/FCLEX and WAIT. They work on the x87 control, status and tag words of the
 * CPU's FPU state (KVM's guest FPU, or an SEV-ES CPU's own). The arithmetic and the register stack
 * are not modelled: those instructions stay #UD, counted as unimplemented.
 *
 * Checks (SDM vol. 1, 8.1 and table 12-8): CR0.EM or CR0.TS → #NM for the x87 instructions; WAIT
 * → #NM only when CR0.TS and CR0.MP are both set. No unmasked exception is ever pending (nothing
 * computes), so the waiting forms never deliver #MF.
 */
import iced from 'iced-x86';
import { type Exec, NEXT } from '../insn.js';
import { readLinear, writeLinear } from '../mmu.js';
import { linearAddress, writeReg } from '../operands.js';
import { NM_VECTOR } from '../vectors.js';
import type { Builder } from './builder.js';
import { CR0_EM, CR0_TS } from './sse.js';

/** The CPU (named through Exec: a direct type import of cpu.ts would read as a runtime cycle to the import scan). */
type X86Cpu = Parameters<Exec>[0];

const { Code, Mnemonic } = iced;

const CR0_MP = 1 << 1;
/** FNINIT's control word: all exceptions masked, 64-bit precision, round to nearest. */
export const FCW_INIT = 0x37f;
/** FNCLEX clears the exception flags, ES and B (bits 0-7 and 15). */
const FSW_CLEX_KEEP = 0x7f00;

function x87Check(cpu: X86Cpu): void {
  if (cpu.s.cr0 & (CR0_EM | CR0_TS)) cpu.raise({ vector: NM_VECTOR });
}

const fninit: Exec = (cpu) => {
  x87Check(cpu);
  const f = cpu.fpu;
  f.fcw = FCW_INIT;
  f.fsw = 0;
  // Every register empty: the abridged tag word (FXSAVE form) has no valid bit set.
  f.ftwx = 0;
  f.lastOpcode = 0;
  f.lastIp = 0n;
  f.lastDp = 0n;
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
]);

const x87Builder: Builder = (ins) => BY_CODE.get(ins.code);

export const X87_BUILDERS: [number, Builder][] = [
  ...new Set(
    [...BY_CODE.keys()].map((c) => {
      const m = (Mnemonic as unknown as Record<string, number>)[Code[c]!.split('_')[0]!];
      if (m === undefined) throw new Error(`no mnemonic for ${Code[c]}`);
      return m;
    }),
  ),
].map((m) => [m, x87Builder]);
