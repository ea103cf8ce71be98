/**
 * KVM's emulation of a guest's MMIO access (x86_emulate_instruction on the nested-page-fault path,
 * emulator_read_write, complete_emulated_mmio): decode the instruction decode assist fetched, find
 * where the access begins, do the pieces that are RAM, hand the others to userspace one
 * KVM_EXIT_MMIO each. A load writes its register and moves RIP when its answer comes back; a store
 * moves RIP before its exit (the emulator has finished the instruction); an ALU read-modify-write
 * exits to read, computes on the next KVM_RUN and exits again to write.
 */
import {
  AluFlags,
  aluAdc,
  aluAdd,
  aluAnd,
  aluCmp,
  aluOr,
  aluSbb,
  aluSub,
  aluTest,
  aluXor,
  type CodeSize,
  codeSize,
  RFLAGS_ARITH,
  readRflags,
  SAVE_ES,
  SAVE_RFLAGS,
  writeRflags,
} from '../cpu/backend.js';
import { PAGE_SIZE, pageAlignDown } from '../host/page.js';
import { KVM_EXIT_MMIO } from '../uapi/exit-reasons.js';
import {
  KVM_RUN_OFF_MMIO_IS_WRITE,
  KVM_RUN_OFF_MMIO_LEN,
  KVM_RUN_OFF_MMIO_PHYS_ADDR,
} from '../uapi/kvm-run.js';
import { kvmRegisterReadRaw, kvmRegisterWriteRaw, kvmRipRead, kvmRipWrite } from './cache-regs.js';
import {
  ALU_CMP,
  ALU_TEST,
  decodeMmioInsn,
  effectiveAddress,
  type MmioAlu,
  type MmioInsn,
} from './emulate.js';
import { emulationFailure } from './userspace-exits.js';
import type { Vcpu } from './vcpu.js';

const MASK32 = 0xffff_ffffn;

/** A u64 from little-endian bytes. */
function leValue(src: Uint8Array, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(src[i] ?? 0);
  return v;
}

/**
 * x86_emulate_instruction for an MMIO access: decode the instruction (decode assist's bytes) and
 * emulate it as x86_emulate_insn does. A store takes its data from a register or immediate; a load
 * reads, and writes its register on completion; an ALU instruction reads its memory operand, runs
 * the operation on the host ALU (the fastop) on completion, and writes the result back to memory
 * (a second access) or to its register, CMP and TEST nothing. Each access is split at a page
 * boundary as emulator_read_write does (a piece that is RAM after all goes through
 * kvm_read/write_guest), and each MMIO piece goes to userspace as one KVM_EXIT_MMIO.
 */
export function emulateMmio(vcpu: Vcpu, faultGpa: number): number {
  const vmcb = vcpu.vmcb;
  const insnLen = vmcb.insnLen;
  const mode = codeSize(vmcb.save);
  const insn = insnLen > 0 ? decodeMmioInsn(vmcb.insnBytes.subarray(0, insnLen), mode) : undefined;
  if (!insn) return emulationFailure(vcpu);
  const gpa = accessStart(vcpu, insn, mode, faultGpa);
  if (gpa < 0) return emulationFailure(vcpu);
  const alu = insn.alu;
  if (alu)
    return readAccess(vcpu, gpa, insn.size, (data) =>
      emulateAlu(vcpu, insn, alu, gpa, leValue(data, insn.size)),
    );
  if (insn.write) {
    const v = insn.imm ?? sourceRegister(vcpu, insn);
    return writeAccess(vcpu, gpa, leBytes(v, insn.size), () => retire(vcpu, insn));
  }
  return readAccess(vcpu, gpa, insn.size, (data) => {
    writeLoadResult(vcpu, insn, leValue(data, insn.size));
    retire(vcpu, insn);
    return 1;
  });
}

/** The host ALU's operation for each ALU_* (group-1 order, then TEST). */
const ALU_OPS = [aluAdd, aluOr, aluAdc, aluSbb, aluAnd, aluSub, aluXor, aluCmp, aluTest] as const;

/**
 * The rest of x86_emulate_insn for an ALU instruction once its memory operand has been read (at
 * once from RAM, or from userspace's answer as complete_emulated_mmio re-enters the emulator):
 * the fastop on the host ALU with the guest's flags, then writeback. A memory destination is
 * written as a second access (NoWrite: CMP, TEST); a register destination is assigned like a load's
 * (not for CMP). RFLAGS' arithmetic bits take the fastop's.
 */
function emulateAlu(vcpu: Vcpu, insn: MmioInsn, alu: MmioAlu, gpa: number, mem: bigint): number {
  const save = vcpu.vmcb.save;
  const src = insn.imm ?? sourceRegister(vcpu, insn);
  const [a, b] = alu.toReg ? [src, mem] : [mem, src];
  const f = new AluFlags();
  const old = save.getUint32(SAVE_RFLAGS, true);
  writeRflags(f, old); // the carry-in of ADC and SBB
  ALU_OPS[alu.op]!(f, insn.size, lo32(a), hi32(a), lo32(b), hi32(b));
  const result = BigInt.asUintN(8 * insn.size, (BigInt(f.resHi >>> 0) << 32n) | BigInt(f.resLo >>> 0));
  const writeback = (): void => {
    save.setUint32(SAVE_RFLAGS, (old & ~RFLAGS_ARITH) | (readRflags(f) & RFLAGS_ARITH), true);
    retire(vcpu, insn);
  };
  const noWrite = alu.op === ALU_CMP || alu.op === ALU_TEST;
  if (noWrite || alu.toReg) {
    if (!noWrite) writeLoadResult(vcpu, insn, result);
    writeback();
    return 1;
  }
  return writeAccess(vcpu, gpa, leBytes(result, insn.size), writeback);
}

/** The source register's value (bits 15:8 for AH..BH). */
function sourceRegister(vcpu: Vcpu, insn: MmioInsn): bigint {
  const v = kvmRegisterReadRaw(vcpu, insn.reg!);
  return insn.highByte ? v >> 8n : v;
}

/** `size` little-endian bytes of v. */
function leBytes(v: bigint, size: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return data;
}

const lo32 = (v: bigint): number => Number(v & MASK32) | 0;
const hi32 = (v: bigint): number => Number((v >> 32n) & MASK32) | 0;

/** Move RIP past the emulated instruction (writeback's kvm_rip_write). */
function retire(vcpu: Vcpu, insn: MmioInsn): void {
  kvmRipWrite(vcpu, kvmRipRead(vcpu) + insn.len);
}

/** One piece of an access that is MMIO: where, and which bytes of the access' data. */
interface Fragment {
  readonly gpa: number;
  readonly off: number;
  readonly len: number;
}

/**
 * emulator_read_write_onepage for each page the access touches: a piece that is RAM is read or
 * written at once (kvm_read/write_guest), one that is not becomes an MMIO fragment.
 */
function splitAccess(vcpu: Vcpu, gpa: number, data: Uint8Array, write: boolean): Fragment[] {
  const vm = vcpu.vm;
  const size = data.length;
  const frags: Fragment[] = [];
  const first = Math.min(size, PAGE_SIZE - (gpa % PAGE_SIZE));
  for (const [at, off, len] of [
    [gpa, 0, first],
    [gpa + first, first, size - first],
  ] as const) {
    if (len === 0) continue;
    const piece = data.subarray(off, off + len);
    const fault = write ? vm.writeGuest(at, piece) : vm.readGuest(at, piece);
    if (fault) frags.push({ gpa: at, off, len });
  }
  return frags;
}

/**
 * A read of `size` bytes at `gpa` (read_emulated): when every piece is RAM, `done` runs at once with
 * the data; otherwise KVM_EXIT_MMIO read for each MMIO fragment, and `done` runs when the last
 * answer comes back (complete_emulated_mmio, then complete_emulated_io re-entering the emulator,
 * which finds the data in its read cache). The instruction has not moved RIP at the exits.
 */
function readAccess(vcpu: Vcpu, gpa: number, size: number, done: (data: Uint8Array) => number): number {
  const data = new Uint8Array(size);
  const frags = splitAccess(vcpu, gpa, data, false);
  vcpu.mmioIsWrite = false;
  if (frags.length === 0) return done(data);
  return mmioExits(vcpu, frags, data, false, () => done(data));
}

/**
 * A write of `data` at `gpa` (segmented_write → emulator_write_emulated): RAM pieces written at
 * once, MMIO fragments queued; the emulator goes on to its writeback (`writeback`: RIP, RFLAGS)
 * before KVM_RUN returns, so the instruction is complete at the write exit (x86_emulate_instruction
 * writes back unless the pending MMIO is a read). Then KVM_EXIT_MMIO write per fragment, the guest
 * going on after the last.
 */
function writeAccess(vcpu: Vcpu, gpa: number, data: Uint8Array, writeback: () => void): number {
  const frags = splitAccess(vcpu, gpa, data, true);
  vcpu.mmioIsWrite = true;
  writeback();
  if (frags.length === 0) return 1;
  return mmioExits(vcpu, frags, data, true, () => 1);
}

/**
 * KVM_EXIT_MMIO for each fragment in turn, completing each on the next KVM_RUN
 * (complete_emulated_mmio: a read's answer copied in); `last` runs when the last one completes.
 */
function mmioExits(
  vcpu: Vcpu,
  frags: readonly Fragment[],
  data: Uint8Array,
  write: boolean,
  last: () => number,
): number {
  const run = vcpu.runArea;
  let cur = 0;
  const exitFor = (f: Fragment): number => {
    // emulator_read_write sets phys_addr, len and is_write and (write_exit_mmio) copies a write's
    // data; the rest of the union, a read's data included, stays as the last exit left it.
    run.exitReason = KVM_EXIT_MMIO;
    run.setU64n(KVM_RUN_OFF_MMIO_PHYS_ADDR, f.gpa);
    run.setU32(KVM_RUN_OFF_MMIO_LEN, f.len);
    run.setU8(KVM_RUN_OFF_MMIO_IS_WRITE, write ? 1 : 0);
    if (write) run.mmioData.set(data.subarray(f.off, f.off + f.len));
    vcpu.completeUserspaceIo = complete;
    return 0;
  };
  const complete = (): number => {
    const f = frags[cur]!;
    if (!write) data.set(run.mmioData.subarray(0, f.len), f.off);
    cur++;
    return cur < frags.length ? exitFor(frags[cur]!) : last();
  };
  return exitFor(frags[0]!);
}

/**
 * Where the access begins. The fault's GPA is the operand's when their page offsets agree (KVM's
 * gpa_available shortcut); otherwise the fault hit the second page of a page-crossing access, which
 * began the operand's page offset before that page's end (the emulator's linear address, mapped
 * contiguously, as it is with paging off). -1 when neither fits.
 */
function accessStart(vcpu: Vcpu, insn: MmioInsn, mode: CodeSize, faultGpa: number): number {
  const save = vcpu.vmcb.save;
  const next = BigInt(kvmRipRead(vcpu) + insn.len);
  const ea = effectiveAddress(insn.addr, (r) => kvmRegisterReadRaw(vcpu, r), next);
  // Segment bases apply outside long mode, and FS/GS in it.
  const seg = insn.addr.seg;
  const base = mode !== 64 || seg >= 4 ? save.getBigUint64(SAVE_ES + 16 * seg + 8, true) : 0n;
  const linear = BigInt.asUintN(mode === 64 ? 64 : 32, base + ea);
  const off = Number(linear & 0xfffn);
  if (faultGpa % PAGE_SIZE === off) return faultGpa;
  const start = pageAlignDown(faultGpa) - (PAGE_SIZE - off);
  return start >= 0 && start + insn.size > faultGpa ? start : -1;
}

/** The emulator's writeback of a load: merge 8/16-bit results, zero-extend 32-bit ones, MOVZX/MOVSX widen. */
function writeLoadResult(
  vcpu: Vcpu,
  insn: { reg: number | undefined; highByte: boolean; size: number; destSize: number; signExtend: boolean },
  raw: bigint,
): void {
  const r = insn.reg!;
  let v = raw;
  if (insn.signExtend) v = BigInt.asUintN(insn.destSize * 8, BigInt.asIntN(insn.size * 8, v));
  const old = kvmRegisterReadRaw(vcpu, r);
  if (insn.highByte) {
    kvmRegisterWriteRaw(vcpu, r, (old & ~0xff00n) | ((v & 0xffn) << 8n));
    return;
  }
  switch (insn.destSize) {
    case 1:
      kvmRegisterWriteRaw(vcpu, r, (old & ~0xffn) | (v & 0xffn));
      break;
    case 2:
      kvmRegisterWriteRaw(vcpu, r, (old & ~0xffffn) | (v & 0xffffn));
      break;
    case 4:
      kvmRegisterWriteRaw(vcpu, r, v & MASK32); // assign_register: a 32-bit result zero-extends
      break;
    default:
      kvmRegisterWriteRaw(vcpu, r, v);
  }
}
