/**
 * KVM's emulation of a guest's MMIO access (x86_emulate_instruction on the nested-page-fault path,
 * emulator_read_write, complete_emulated_mmio): decode the instruction decode assist fetched, find
 * where the access begins, do the pieces that are RAM, hand the others to userspace one
 * KVM_EXIT_MMIO each, and on completion write a load's register and move RIP past the instruction.
 */
import { type CodeSize, codeSize, SAVE_ES } from '../cpu/backend.js';
import { PAGE_SIZE, pageAlignDown } from '../host/page.js';
import { KVM_EXIT_MMIO } from '../uapi/exit-reasons.js';
import {
  KVM_RUN_OFF_MMIO_IS_WRITE,
  KVM_RUN_OFF_MMIO_LEN,
  KVM_RUN_OFF_MMIO_PHYS_ADDR,
} from '../uapi/kvm-run.js';
import { kvmRegisterReadRaw, kvmRegisterWriteRaw, kvmRipRead, kvmRipWrite } from './cache-regs.js';
import { decodeMmioInsn, effectiveAddress, type MmioInsn } from './emulate.js';
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
 * x86_emulate_instruction for an MMIO access: decode the instruction (decode assist's bytes), take
 * the data of a store from its register or immediate, split the access at a page boundary as
 * emulator_read_write does (a piece that is RAM after all goes through kvm_read/write_guest), hand
 * each MMIO piece to userspace as one KVM_EXIT_MMIO, and on completion write a load's register
 * and move RIP past the instruction.
 */
export function emulateMmio(vcpu: Vcpu, faultGpa: number): number {
  const vmcb = vcpu.vmcb;
  const insnLen = vmcb.insnLen;
  const mode = codeSize(vmcb.save);
  const insn = insnLen > 0 ? decodeMmioInsn(vmcb.insnBytes.subarray(0, insnLen), mode) : undefined;
  if (!insn) return emulationFailure(vcpu);
  const { size, write } = insn;
  const gpa = accessStart(vcpu, insn, mode, faultGpa);
  if (gpa < 0) return emulationFailure(vcpu);
  const data = new Uint8Array(size);
  if (write) {
    const v =
      insn.imm ??
      (insn.highByte ? kvmRegisterReadRaw(vcpu, insn.reg!) >> 8n : kvmRegisterReadRaw(vcpu, insn.reg!));
    for (let i = 0; i < size; i++) data[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  }
  const vm = vcpu.vm;
  const frags: { gpa: number; off: number; len: number }[] = [];
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
  vcpu.mmioIsWrite = write;
  const finish = (): number => {
    if (!write) writeLoadResult(vcpu, insn, leValue(data, size));
    kvmRipWrite(vcpu, kvmRipRead(vcpu) + insn.len);
    return 1;
  };
  if (frags.length === 0) return finish(); // every piece turned out to be RAM: done without userspace
  const run = vcpu.runArea;
  let cur = 0;
  const exitFor = (f: { gpa: number; off: number; len: number }): number => {
    run.clearExitUnion();
    run.exitReason = KVM_EXIT_MMIO;
    run.setU64n(KVM_RUN_OFF_MMIO_PHYS_ADDR, f.gpa);
    run.setU32(KVM_RUN_OFF_MMIO_LEN, f.len);
    run.setU8(KVM_RUN_OFF_MMIO_IS_WRITE, write ? 1 : 0);
    if (write) run.mmioData.set(data.subarray(f.off, f.off + f.len));
    vcpu.completeUserspaceIo = complete;
    return 0;
  };
  // complete_emulated_mmio: take this fragment's answer, exit for the next, or finish the instruction.
  const complete = (): number => {
    const f = frags[cur]!;
    if (!write) data.set(run.mmioData.subarray(0, f.len), f.off);
    cur++;
    return cur < frags.length ? exitFor(frags[cur]!) : finish();
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
