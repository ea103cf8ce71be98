/**
 * The x87 environment and state images: FNSTENV/FSTENV, FLDENV, FNSAVE/FSAVE and FRSTOR, in the
 * protected-mode layouts (SDM vol. 1, figures 8-9 and 8-10): 28 bytes for a 32-bit operand size
 * (the default, in 64-bit mode too), 14 with 66h (iced's m14byte/m94byte forms). FNSAVE's image is
 * the environment followed by ST(0)..ST(7), 10 bytes each (94 or 108 bytes). The real-mode
 * layouts (the instruction pointer as a 20-bit linear address) are not modelled.
 *
 * 28-byte environment: FCW @0, FSW @4, FTW @8 (the full tag word: 00 valid, 01 zero, 10 special,
 * 11 empty, computed from the abridged one and the registers' classes), FIP @12, FCS @16 with FOP
 * in bits 26:16, FDP @20, FDS @24; the reserved upper halves of the FCW, FSW, FTW and FDS dwords
 * are stored as FFFFh, as Intel CPUs do, the selectors as 0 (this CPU keeps none). 14-byte: FCW,
 * FSW, FTW, FIP[15:0], FCS, FDP[15:0], FDS as words.
 *
 * FNSTENV then masks every exception (FCW bits 5:0); FNSAVE then does FNINIT. FLDENV and FRSTOR
 * load the words back (a register is valid unless its tag is 11; a new TOP renumbers the
 * registers, whose contents stay, as FNINIT's does). Every page is checked before the
 * first store.
 */
import iced from 'iced-x86';
import { F80_BYTES } from '../f80.js';
import { type Exec, NEXT } from '../insn.js';
import { linearAddress } from '../operands.js';
import { loadBytes, storeBytes } from './x87-memory.js';
import { abridgedTagWord, fullTagWord, initX87, loadStatusWord, st, x87Check } from './x87-stack.js';

type X86Cpu = Parameters<Exec>[0];

const { Code } = iced;

/** FCW's exception masks. */
const FCW_MASKS = 0x3f;
const REGISTERS_BYTES = 8 * F80_BYTES;

/** The environment image (14 or 28 bytes). */
function storeEnv(cpu: X86Cpu, v: DataView, wide: boolean): void {
  const f = cpu.fpu;
  const tags = fullTagWord(f);
  if (!wide) {
    const words = [f.fcw, f.fsw, tags, Number(f.lastIp & 0xffffn), 0, Number(f.lastDp & 0xffffn), 0];
    for (const [k, w] of words.entries()) v.setUint16(2 * k, w, true);
    return;
  }
  const hi = 0xffff_0000;
  v.setUint32(0, (hi | f.fcw) >>> 0, true);
  v.setUint32(4, (hi | f.fsw) >>> 0, true);
  v.setUint32(8, (hi | tags) >>> 0, true);
  v.setUint32(12, Number(f.lastIp & 0xffff_ffffn), true);
  v.setUint32(16, (f.lastOpcode & 0x7ff) << 16, true);
  v.setUint32(20, Number(f.lastDp & 0xffff_ffffn), true);
  v.setUint32(24, hi, true);
}

/** Load the environment image. */
function loadEnv(cpu: X86Cpu, v: DataView, wide: boolean): void {
  const f = cpu.fpu;
  const s = wide ? 4 : 2;
  const word = (k: number) => v.getUint16(k * s, true);
  f.fcw = word(0);
  loadStatusWord(f, word(1));
  f.ftwx = abridgedTagWord(word(2));
  f.lastIp = BigInt(wide ? v.getUint32(12, true) : word(3));
  f.lastDp = BigInt(wide ? v.getUint32(20, true) : word(5));
  if (wide) f.lastOpcode = (v.getUint32(16, true) >>> 16) & 0x7ff;
}

/** FNSTENV/FSTENV: the environment, then every exception masked. */
function fnstenv(wide: boolean): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const img = new Uint8Array(wide ? 28 : 14);
    storeEnv(cpu, new DataView(img.buffer), wide);
    storeBytes(cpu, linearAddress(cpu, i), img);
    cpu.fpu.fcw |= FCW_MASKS;
    return NEXT;
  };
}

function fldenv(wide: boolean): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const img = loadBytes(cpu, linearAddress(cpu, i), wide ? 28 : 14);
    loadEnv(cpu, new DataView(img.buffer), wide);
    return NEXT;
  };
}

/** FNSAVE/FSAVE: the environment and ST(0)..ST(7), then FNINIT. */
function fnsave(wide: boolean): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const envBytes = wide ? 28 : 14;
    const img = new Uint8Array(envBytes + REGISTERS_BYTES);
    storeEnv(cpu, new DataView(img.buffer), wide);
    for (let k = 0; k < 8; k++)
      img.set(cpu.fpu.fpr.subarray(st(k), st(k) + F80_BYTES), envBytes + k * F80_BYTES);
    storeBytes(cpu, linearAddress(cpu, i), img);
    initX87(cpu.fpu);
    return NEXT;
  };
}

function frstor(wide: boolean): Exec {
  return (cpu, i) => {
    x87Check(cpu);
    const envBytes = wide ? 28 : 14;
    const img = loadBytes(cpu, linearAddress(cpu, i), envBytes + REGISTERS_BYTES);
    loadEnv(cpu, new DataView(img.buffer), wide);
    for (let k = 0; k < 8; k++) {
      const from = envBytes + k * F80_BYTES;
      cpu.fpu.fpr.set(img.subarray(from, from + F80_BYTES), st(k));
    }
    return NEXT;
  };
}

/** Handlers by iced Code. */
export const X87_ENV_OPS = new Map<number, Exec>([
  [Code.Fnstenv_m14byte, fnstenv(false)],
  [Code.Fstenv_m14byte, fnstenv(false)],
  [Code.Fnstenv_m28byte, fnstenv(true)],
  [Code.Fstenv_m28byte, fnstenv(true)],
  [Code.Fldenv_m14byte, fldenv(false)],
  [Code.Fldenv_m28byte, fldenv(true)],
  [Code.Fnsave_m94byte, fnsave(false)],
  [Code.Fsave_m94byte, fnsave(false)],
  [Code.Fnsave_m108byte, fnsave(true)],
  [Code.Fsave_m108byte, fnsave(true)],
  [Code.Frstor_m94byte, frstor(false)],
  [Code.Frstor_m108byte, frstor(true)],
]);
