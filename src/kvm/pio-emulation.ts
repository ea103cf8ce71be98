/**
 * KVM's emulation of an unprotected guest's string port I/O. SVM intercepts INS/OUTS with the STR
 * bit in exit_info_1, and io_interception (arch/x86/kvm/svm/svm.c) hands it to the instruction
 * emulator, kvm_emulate_instruction(vcpu, 0): x86_emulate_instruction fetches and decodes the
 * instruction at CS:RIP through the guest's page tables, and x86_emulate_insn (arch/x86/kvm/
 * emulate.c) runs em_out or em_in on it:
 *
 * - OUTS reads one element from DS:RSI (or the override segment; segmented_read → linearize →
 *   the guest page walk, #PF or #GP on failure), and emulator_pio_out hands it to userspace: one
 *   KVM_EXIT_IO with count 1 per element. The emulator has finished that iteration (RSI and RCX
 *   moved), so x86_emulate_instruction writes the registers back and sets no completion; under REP
 *   RIP stays on the instruction, which the guest runs again (another #VMEXIT) for the next one.
 * - INS reads ahead (pio_in_emulated): when its read cache (struct read_cache io_read, 1024 bytes)
 *   is empty it asks for n = min(in_page, 1024 / size, count) elements in one KVM_EXIT_IO, where
 *   count is RCX (masked to the address size) under REP, else 1, and in_page is, as emulate.c
 *   computes it, a byte count: PAGE_SIZE - offset_in_page(RDI), or offset_in_page(RDI) with DF set
 *   (n at least 1). complete_emulated_pio re-enters the emulator without decoding
 *   (EMULTYPE_NO_DECODE); emulator_pio_in_emulated copies the data into the cache. Under REP with
 *   DF clear the whole cache is written to ES:RDI at once (OP_MEM_STR) and RCX drops by n;
 *   otherwise one element is written per pass and x86_emulate_insn restarts itself
 *   (EMULATION_RESTART) until the cache is empty. Then the guest re-runs the instruction.
 *
 * RFLAGS.RF is set while a REP instruction is in progress and cleared when it ends (the emulator's
 * special_insn and writeback); REP with RCX = 0 (masked) only moves RIP. Each re-entry between
 * iterations is where interrupts get in, as on KVM. The emulator's string_insn_completed is
 * false for INS/OUTS even at RCX = 0, so the instruction's last element leaves RIP on it and the
 * guest's re-execution with RCX = 0 retires it.
 *
 * Not modelled: a source or destination that is not RAM (KVM would add a KVM_EXIT_MMIO; here an
 * emulation failure), REX.W forms, the I/O permission bitmap check of check_perm_in/out (the CPU
 * already checked IOPL before intercepting), and string_registers_quirk (Intel guests only).
 */
import {
  type CodeSize,
  CR0_PE,
  codeSize,
  PFERR_FETCH_MASK,
  PFERR_WRITE_MASK,
  SAVE_CR0,
  SAVE_CR2,
  SAVE_CS,
  SAVE_ES,
  SAVE_RFLAGS,
  SAVE_SS,
  VCPU_REGS_RCX,
  VCPU_REGS_RDI,
  VCPU_REGS_RDX,
  VCPU_REGS_RSI,
} from '../cpu/backend.js';
import { PAGE_SIZE } from '../host/page.js';
import { GP_VECTOR, PF_VECTOR, SS_VECTOR } from '../uapi/svm.js';
import {
  kvmQueueException,
  kvmRegisterReadRaw,
  kvmRegisterWriteRaw,
  kvmRipRead,
  kvmRipWrite,
  kvmVcpuDoSinglestep,
  X86_EFLAGS_RF,
  X86_EFLAGS_TF,
} from './cache-regs.js';
import { decodeStringIo, type StringIoInsn } from './emulate.js';
import { isWalkFault, kvmGvaToGpa } from './gva.js';
import { emulationFailure, preparePioExit } from './userspace-exits.js';
import type { Vcpu } from './vcpu.js';

/** sizeof(struct read_cache.data): the INS read-ahead buffer. */
export const READ_CACHE_SIZE = 1024;
/** RFLAGS.DF. */
const X86_EFLAGS_DF = 1 << 10;
/** Longest x86 instruction. */
const MAX_INSN = 15;

/** An exception the emulator raised (ctxt->exception): vector, error code, CR2 for a #PF. */
interface EmulatedException {
  readonly vector: number;
  readonly errorCode: number;
  readonly address?: bigint;
}

/** vcpu->arch.pio as the emulator leaves it while userspace has an IN to answer. */
interface PendingPio {
  readonly count: number;
  readonly size: number;
}

/** The part of struct x86_emulate_ctxt a string I/O instruction uses; kept across its IN exits. */
interface EmulateCtxt {
  readonly insn: StringIoInsn;
  readonly mode: CodeSize;
  /** The port: DX, read at decode (OpDX). */
  readonly port: number;
  /** ctxt->eip: RIP at the instruction; ctxt->_eip: after it. */
  eip: number;
  readonly nextEip: number;
  /** ctxt->eflags, written back to RFLAGS when the emulation completes. */
  eflags: number;
  /** ctxt->tf: RFLAGS.TF when the emulation started. */
  readonly tf: boolean;
  /** ctxt->io_read: the INS read-ahead cache. */
  readonly ioRead: { readonly data: Uint8Array; pos: number; end: number };
  /** vcpu->arch.pio.count/size for an IN userspace is answering (0 count: none). */
  pio: PendingPio | undefined;
  exception: EmulatedException | undefined;
}

/** x86_emulate_insn's results: EMULATION_OK, EMULATION_RESTART, EMULATION_FAILED. */
const EMULATION_OK = 0;
const EMULATION_RESTART = 1;
const EMULATION_FAILED = 2;

/**
 * kvm_emulate_instruction(vcpu, 0) for a string I/O intercept: fetch and decode the instruction
 * at CS:RIP (x86_decode_emulated_instruction), then emulate it. 1 re-enters the guest, 0 exits to
 * userspace (KVM_EXIT_IO, or KVM_EXIT_INTERNAL_ERROR when the instruction is not one it emulates).
 */
export function kvmEmulateStringIo(vcpu: Vcpu): number {
  const save = vcpu.vmcb.save;
  const mode = codeSize(save);
  const eip = kvmRipRead(vcpu);
  const fetched = fetchInsn(vcpu, mode, eip);
  if ('vector' in fetched) return injectEmulatedException(vcpu, fetched);
  const insn = decodeStringIo(fetched, mode);
  if (!insn) return emulationFailure(vcpu);
  const eflags = save.getUint32(SAVE_RFLAGS, true);
  const next = eip + insn.len;
  const ctxt: EmulateCtxt = {
    insn,
    mode,
    port: Number(kvmRegisterReadRaw(vcpu, VCPU_REGS_RDX) & 0xffffn),
    eip,
    nextEip: mode === 64 ? next : next % 0x1_0000_0000,
    eflags,
    tf: (eflags & X86_EFLAGS_TF) !== 0,
    ioRead: { data: new Uint8Array(READ_CACHE_SIZE), pos: 0, end: 0 },
    pio: undefined,
    exception: undefined,
  };
  return x86EmulateInstruction(vcpu, ctxt);
}

/**
 * The part of x86_emulate_instruction after decoding (also complete_emulated_pio's re-entry):
 * run x86_emulate_insn, restart it while it asks, then deliver what it left: an exception
 * (inject_emulated_exception; RIP and RFLAGS stay), an OUT for userspace (the emulation is done:
 * registers written back, no completion), an IN for userspace (nothing written back until the
 * data comes: complete_userspace_io = complete_emulated_pio), or the end of the instruction.
 */
function x86EmulateInstruction(vcpu: Vcpu, ctxt: EmulateCtxt): number {
  for (;;) {
    const r = x86EmulateInsn(vcpu, ctxt);
    if (r === EMULATION_FAILED) return emulationFailure(vcpu);
    const e = ctxt.exception;
    if (e) {
      ctxt.exception = undefined;
      return injectEmulatedException(vcpu, e);
    }
    const pio = ctxt.pio;
    if (pio) {
      if (!ctxt.insn.isIn) {
        // "FIXME: return into emulator if single-stepping": no single-step for an OUT exit.
        ctxt.pio = undefined;
        writeback(vcpu, ctxt);
        return 0;
      }
      vcpu.completeUserspaceIo = () => completeEmulatedPio(vcpu, ctxt);
      return 0;
    }
    if (r === EMULATION_RESTART) continue;
    writeback(vcpu, ctxt);
    if (ctxt.tf) return kvmVcpuDoSinglestep(vcpu);
    return 1;
  }
}

/** complete_emulated_pio → complete_emulated_io: kvm_emulate_instruction(EMULTYPE_NO_DECODE). */
function completeEmulatedPio(vcpu: Vcpu, ctxt: EmulateCtxt): number {
  return x86EmulateInstruction(vcpu, ctxt);
}

/** x86_emulate_instruction's writeback: kvm_rip_write(ctxt->eip), __kvm_set_rflags(ctxt->eflags). */
function writeback(vcpu: Vcpu, ctxt: EmulateCtxt): void {
  kvmRipWrite(vcpu, ctxt.eip);
  vcpu.vmcb.save.setUint32(SAVE_RFLAGS, ctxt.eflags, true);
}

/**
 * inject_emulated_exception: #PF with its error code and address (kvm_inject_emulated_page_fault:
 * CR2 is the payload), #GP/#SS with error code 0. The instruction has not retired.
 */
function injectEmulatedException(vcpu: Vcpu, e: EmulatedException): number {
  if (e.address !== undefined) vcpu.vmcb.save.setBigUint64(SAVE_CR2, BigInt.asUintN(64, e.address), true);
  kvmQueueException(vcpu, e.vector, e.errorCode);
  return 1;
}

/** address_mask: the part of a register the address size uses. */
function addressMask(v: bigint, addrSize: CodeSize): bigint {
  return addrSize === 64 ? v : BigInt.asUintN(addrSize, v);
}

/** register_address_increment: add `inc` to register r within the address size (assign_register). */
function registerAddressIncrement(vcpu: Vcpu, r: number, inc: bigint, addrSize: CodeSize): void {
  const old = kvmRegisterReadRaw(vcpu, r);
  const v = old + inc;
  if (addrSize === 16) kvmRegisterWriteRaw(vcpu, r, (old & ~0xffffn) | BigInt.asUintN(16, v));
  else if (addrSize === 32) kvmRegisterWriteRaw(vcpu, r, BigInt.asUintN(32, v));
  else kvmRegisterWriteRaw(vcpu, r, BigInt.asUintN(64, v));
}

/**
 * x86_emulate_insn for INS/OUTS, from the REP termination check to the writeback of RSI/RDI/RCX
 * and RIP, as emulate.c orders it (see the header).
 */
function x86EmulateInsn(vcpu: Vcpu, ctxt: EmulateCtxt): number {
  const { insn } = ctxt;
  const a = insn.addrSize;
  const size = insn.size;
  if (insn.rep && addressMask(kvmRegisterReadRaw(vcpu, VCPU_REGS_RCX), a) === 0n) {
    // All REP prefixes have the same first termination condition.
    ctxt.eip = ctxt.nextEip;
    ctxt.eflags &= ~X86_EFLAGS_RF;
    return EMULATION_OK;
  }
  let src: Uint8Array | undefined;
  if (!insn.isIn) {
    // SrcSI: segmented_read of the element at seg:RSI.
    const ea = addressMask(kvmRegisterReadRaw(vcpu, VCPU_REGS_RSI), a);
    src = new Uint8Array(size);
    const r = segmentedAccess(vcpu, ctxt, insn.seg, ea, src, false);
    if (r !== true) return r;
  }
  // special_insn: RF while a REP string instruction is in progress.
  if (insn.rep) ctxt.eflags |= X86_EFLAGS_RF;
  else ctxt.eflags &= ~X86_EFLAGS_RF;
  const df = (ctxt.eflags & X86_EFLAGS_DF) !== 0;
  let count = 1;
  if (src) {
    // em_out → emulator_pio_out: no in-kernel device, so userspace gets the element.
    pioExit(vcpu, ctxt, false, size, 1);
    vcpu.runArea.pioPage.set(src);
  } else {
    // em_in → pio_in_emulated.
    const rc = ctxt.ioRead;
    if (rc.pos === rc.end) {
      const rcx = insn.rep ? addressMask(kvmRegisterReadRaw(vcpu, VCPU_REGS_RCX), a) : 1n;
      const rdiOff = Number(kvmRegisterReadRaw(vcpu, VCPU_REGS_RDI) & 0xfffn);
      const inPage = df ? rdiOff : PAGE_SIZE - rdiOff;
      let n = Math.min(inPage, READ_CACHE_SIZE / size, rcx > 0xffff_ffffn ? 0xffff_ffff : Number(rcx));
      if (n === 0) n = 1;
      rc.pos = 0;
      rc.end = 0;
      // emulator_pio_in_emulated: complete the IN userspace answered, or ask for one.
      const pio = ctxt.pio;
      if (!pio) {
        pioExit(vcpu, ctxt, true, size, n);
        return EMULATION_OK; // X86EMUL_IO_NEEDED: nothing written back
      }
      rc.data.set(vcpu.runArea.pioPage.subarray(0, pio.size * pio.count));
      ctxt.pio = undefined;
      rc.end = n * size;
    }
    let data: Uint8Array;
    if (insn.rep && !df) {
      // OP_MEM_STR: everything left in the cache, in one write.
      data = rc.data.subarray(rc.pos, rc.end);
      count = (rc.end - rc.pos) / size;
      rc.pos = rc.end;
    } else {
      data = rc.data.subarray(rc.pos, rc.pos + size);
      rc.pos += size;
    }
    // writeback of DstDI: segmented_write at ES:RDI.
    const ea = addressMask(kvmRegisterReadRaw(vcpu, VCPU_REGS_RDI), a);
    const w = segmentedAccess(vcpu, ctxt, insn.seg, ea, data, true);
    if (w !== true) return w;
  }
  // string_addr_inc: the pointer moves by the elements done, down with DF.
  const step = BigInt((df ? -count : count) * size);
  registerAddressIncrement(vcpu, insn.isIn ? VCPU_REGS_RDI : VCPU_REGS_RSI, step, a);
  if (insn.rep) {
    registerAddressIncrement(vcpu, VCPU_REGS_RCX, BigInt(-count), a);
    // string_insn_completed is false for INS/OUTS: re-run in the kernel while the read-ahead cache
    // has elements (or, without one, until 1024 iterations); else re-enter the guest at the
    // instruction (RIP not written).
    const r = ctxt.ioRead;
    const rcxLow = kvmRegisterReadRaw(vcpu, VCPU_REGS_RCX) & 0x3ffn;
    if ((r.end !== 0 || rcxLow !== 0n) && (r.end === 0 || r.end !== r.pos)) return EMULATION_RESTART;
    return EMULATION_OK;
  }
  ctxt.eip = ctxt.nextEip;
  return EMULATION_OK;
}

/**
 * segmented_read / segmented_write: linearize seg:ea for data.length bytes, then
 * emulator_read_write page by page (emulator_read_write_onepage: the guest walk, then
 * kvm_read/write_guest). True when done (a read's bytes in `data`); else what x86_emulate_insn
 * returns: EMULATION_OK with ctxt.exception set, or EMULATION_FAILED for memory that is not RAM.
 */
function segmentedAccess(
  vcpu: Vcpu,
  ctxt: EmulateCtxt,
  seg: number,
  ea: bigint,
  data: Uint8Array,
  write: boolean,
): true | number {
  const la = linearize(vcpu, ctxt.mode, seg, ea, data.length, write, false);
  if (typeof la !== 'bigint') {
    ctxt.exception = la;
    return EMULATION_OK;
  }
  const access = write ? PFERR_WRITE_MASK : 0;
  let done = 0;
  while (done < data.length) {
    const cur = la + BigInt(done);
    const off = Number(cur & 0xfffn);
    const len = Math.min(data.length - done, PAGE_SIZE - off);
    const gpa = kvmGvaToGpa(vcpu, ctxt.mode === 64 ? cur : BigInt.asUintN(32, cur), access);
    if (isWalkFault(gpa)) {
      ctxt.exception = { vector: PF_VECTOR, errorCode: gpa.errorCode, address: gpa.address };
      return EMULATION_OK;
    }
    const piece = data.subarray(done, done + len);
    const fault = write ? vcpu.vm.writeGuest(gpa, piece) : vcpu.vm.readGuest(gpa, piece);
    if (fault) return EMULATION_FAILED;
    done += len;
  }
  return true;
}

/**
 * __linearize: seg:ea for `size` bytes as a linear address, or the exception. 64-bit mode: only
 * FS and GS have a base, and the address must be canonical (48 bits). Otherwise the segment must
 * be usable (present), writable for a write (and not code outside real mode), readable for a read
 * of code, and [ea, ea + size - 1] within its limit (above it for expand-down); the address is
 * truncated to 32 bits. A violation is #SS(0) through SS, else #GP(0).
 */
function linearize(
  vcpu: Vcpu,
  mode: CodeSize,
  seg: number,
  ea: bigint,
  size: number,
  write: boolean,
  fetch: boolean,
): bigint | EmulatedException {
  const save = vcpu.vmcb.save;
  const at = SAVE_ES + 16 * seg;
  const base = save.getBigUint64(at + 8, true);
  const bad: EmulatedException = { vector: at === SAVE_SS ? SS_VECTOR : GP_VECTOR, errorCode: 0 };
  if (mode === 64) {
    const la = BigInt.asUintN(64, (seg >= 4 ? base : 0n) + ea);
    const signed = BigInt.asIntN(64, la);
    if (signed >= 1n << 47n || signed < -(1n << 47n)) return bad;
    return la;
  }
  const attr = save.getUint16(at + 2, true);
  if (!(attr & 0x80)) return bad; // unusable
  const type = attr & 0xf;
  const real = (save.getUint32(SAVE_CR0, true) & CR0_PE) === 0;
  if (((!real && type & 8) || !(type & 2)) && write) return bad;
  if (!fetch && type & 8 && !(type & 2)) return bad;
  let lim = BigInt(save.getUint32(at + 4, true));
  if (!(type & 8) && type & 4) {
    // Expand-down: valid offsets lie above the limit.
    if (ea <= lim) return bad;
    lim = attr & 0x400 ? 0xffff_ffffn : 0xffffn;
  }
  if (ea > lim) return bad;
  if (lim !== 0xffff_ffffn && BigInt(size) > lim + 1n - ea) return bad;
  return BigInt.asUintN(32, base + ea);
}

/**
 * The instruction's bytes at CS:RIP (__do_insn_fetch_bytes: linearize for a fetch, then
 * kvm_fetch_guest_virt up to the page's end, and the next page only when the first ends inside
 * the longest instruction). A walk that fails is the #PF the fetch raises.
 */
function fetchInsn(vcpu: Vcpu, mode: CodeSize, eip: number): Uint8Array | EmulatedException {
  const rip = BigInt.asUintN(64, BigInt(eip));
  const la = linearize(vcpu, mode, SAVE_CS / 16, rip, 1, false, true);
  if (typeof la !== 'bigint') return la;
  const out = new Uint8Array(MAX_INSN);
  let done = 0;
  while (done < MAX_INSN) {
    const cur = la + BigInt(done);
    const off = Number(cur & 0xfffn);
    const len = Math.min(MAX_INSN - done, PAGE_SIZE - off);
    const gpa = kvmGvaToGpa(vcpu, mode === 64 ? cur : BigInt.asUintN(32, cur), PFERR_FETCH_MASK);
    if (isWalkFault(gpa)) {
      // Bytes already fetched may be the whole instruction; only a fault on the first is raised.
      if (done > 0 && decodeStringIo(out.subarray(0, done), mode)) break;
      return { vector: PF_VECTOR, errorCode: gpa.errorCode, address: gpa.address };
    }
    if (vcpu.vm.readGuest(gpa, out.subarray(done, done + len))) break;
    done += len;
    if (decodeStringIo(out.subarray(0, done), mode)) break;
  }
  return out.subarray(0, done);
}

/** emulator_pio_in_out's userspace path: KVM_EXIT_IO, and vcpu->arch.pio until the IN's answer. */
function pioExit(vcpu: Vcpu, ctxt: EmulateCtxt, isIn: boolean, size: number, count: number): void {
  preparePioExit(vcpu, isIn, size, ctxt.port, count);
  ctxt.pio = { count, size };
}
