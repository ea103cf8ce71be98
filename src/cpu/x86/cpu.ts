/**
 * The x86 interpreter behind the CpuBackend seam: VMRUN loads the save area (the VMCB's, or the
 * VMSA it keeps for an SEV-ES guest), delivers event_inj, runs decoded blocks until an intercepted
 * event, and writes the #VMEXIT as SVM does. For an SEV-ES guest an intercepted non-automatic exit
 * is a #VC in the guest instead (error code = the exit code), and an access to MMIO a #VC with the
 * NPF code; VMGEXIT is the #VMEXIT. KVM never sees an SEV-ES guest's registers.
 *
 * Faults inside an instruction (a #PF, #GP, a nested page fault) are thrown as STOP_SIGNAL after
 * the CPU has recorded what happened; the loop catches it, delivers a guest exception or returns
 * from VMRUN with the #VMEXIT written. An instruction that faults has changed nothing.
 */

import type { KvmFpu } from '../../uapi/fpu.js';
import {
  PF_VECTOR,
  SVM_EVTINJ_VALID,
  SVM_EXIT_EXCP_BASE,
  SVM_EXIT_HLT,
  SVM_EXIT_INTR,
  SVM_EXIT_NPF,
  SVM_EXIT_PAUSE,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_VINTR,
  SVM_EXIT_VMGEXIT,
} from '../../uapi/svm.js';
import {
  type CpuAttachment,
  type CpuBackend,
  type EncryptedMemory,
  type GuestPhysMemory,
  NPT_MMIO,
  NPT_OK,
  NPT_READONLY,
  PFERR_GUEST_FINAL_HI,
  PFERR_PRESENT_MASK,
  PFERR_RSVD_MASK,
  PFERR_WRITE_MASK,
  SVM_GUEST_INTERRUPT_MASK,
  SVM_INTERRUPT_SHADOW_MASK,
  sevEsExitIsAutomatic,
  V_IRQ_MASK,
  VMCB_NEXT_RIP,
  type Vmcb,
} from '../backend.js';
import type { Gprs } from '../regs.js';
import { newGprs } from '../regs.js';
import { resetFpu } from '../reset.js';
import { loadVmsaFpu, SAVE_XCR0, SVM_NESTED_CTL_SEV_ENABLE, TLB_CONTROL_DO_NOTHING } from '../vmcb.js';
import { loadVmsa, loadVmsaGprs } from '../vmsa.js';
import { type Alu, aluFor, DEFAULT_X86_VENDOR, type X86Vendor } from './alu.js';
import { type Block, BlockCache, type CompiledBlock } from './blocks.js';
import { COMPILE_THRESHOLD, compiledForm } from './compile/policy.js';
import { decodeBlock } from './decode.js';
import { deliverEvent, deliverException, type PendingException } from './exceptions.js';
import { Flags, RFLAGS_IF, RFLAGS_RF, readRflags, writeRflags } from './flags.js';
import { NEXT, STOP, STOP_SIGNAL } from './insn.js';
import { ACC_FETCH, PAGE_SIZE, pageOffset, Tlb, tlbEntry } from './mmu.js';
import { mxcsrMaskOf } from './ops/sse.js';
import { hi32, SEG_CS, X86State } from './state.js';
import { GP_VECTOR, UD_VECTOR, VC_VECTOR } from './vectors.js';

const TWO32 = 0x1_0000_0000;

/** How an X86Cpu runs code. */
export interface X86CpuOptions {
  /** Run hot blocks as generated JavaScript (compile/) instead of record by record (default true). */
  readonly compile?: boolean;
  /** Interpreted runs of a block before it is compiled (default COMPILE_THRESHOLD; 0: at once). */
  readonly compileThreshold?: number;
  /**
   * Whose architecturally undefined flags the ALU computes (alu.ts): 'amd' (default: the model is
   * an AMD EPYC host, as SEV-ES needs) or 'intel'.
   */
  readonly vendor?: X86Vendor;
}

export class X86Cpu implements CpuBackend {
  readonly protectedState: boolean;
  s!: X86State;
  readonly f = new Flags();
  /** MXCSR_MASK of the CPU's vendor: the MXCSR bits LDMXCSR/FXRSTOR/XRSTOR accept, FXSAVE/XSAVE store. */
  readonly mxcsrMask: number;
  /** The ALU of the CPU's vendor (X86CpuOptions.vendor): what decoded and compiled code calls. */
  readonly alu: Alu;
  vmcb!: Vmcb;
  mem!: GuestPhysMemory;
  /** The save area VMRUN loads: the VMCB's, or the CPU's own VMSA for an SEV-ES guest. */
  save!: DataView;
  /** Fetching decode-assist bytes: a failed access ends them instead of exiting. */
  #probing = false;
  /** The nested page table generation the TLB was filled under. */
  #memGen = -1;
  /** SEV-ES: the VMSA is loaded (at the first VMRUN after LAUNCH_UPDATE_VMSA). */
  #vmsaTaken = false;
  /** What KVM attached (the VMSA page and the memory controller among it). */
  #hw!: CpuAttachment;
  /** Why the last VMRUN failed (VMEXIT_INVALID), for diagnostics. */
  vmrunFailure: string | undefined;
  readonly tlb = new Tlb();
  readonly blocks = new BlockCache();
  /** DR0-DR3: KVM's vcpu->arch.db, loaded into the CPU around VMRUN (an SEV-ES guest's own). */
  db!: BigUint64Array;
  /**
   * The x87/SSE state: KVM's guest FPU (CpuAttachment.fpu), used in place, or for an SEV-ES guest
   * the CPU's own (the VMSA's). xmmB/W/D view its XMM0-15 bytes (register r at 16 r) as bytes,
   * words and dwords (little-endian host).
   */
  fpu!: KvmFpu;
  xmmB!: Uint8Array;
  xmmW!: Uint16Array;
  xmmD!: Uint32Array;
  /**
   * YMM_Hi128 (bits 255:128 of YMM0-15, register r at 16 r): KVM's (CpuAttachment.ymmHi), used in
   * place, or for an SEV-ES guest the CPU's own (the VMSA's). Only XSAVE and XRSTOR reach it: this
   * CPU has the AVX state component but no AVX instruction.
   */
  ymmHi!: Uint8Array;
  /**
   * XCR0 (bits 31:0; this CPU has no state component above 2, so 63:32 are 0): the RESET value 1,
   * KVM's vcpu->arch.xcr0 from each VMRUN on (`#kvmXcr0`), an SEV-ES guest's VMSA value from its
   * first VMRUN (then its own, as its XMM registers are).
   */
  xcr0 = 1;
  /** KVM's vcpu->arch.xcr0 as u32 halves (CpuAttachment.xcr0), or undefined. */
  #kvmXcr0: Uint32Array | undefined;
  /** Bits 63:32 of the last value read (mmu.ts). */
  hi = 0;
  /**
   * SEV: the guest's encrypted memory (the memory controller's domain for the VMCB's ASID), set at
   * VMRUN when the VMCB enables SEV and a key is loaded; undefined: every access plaintext.
   */
  enc: EncryptedMemory | undefined;
  /** The C-bit as a mask of a PTE's bits 63:32 (0 without SEV). */
  cbitHi = 0;
  /** The last translation's leaf marked the page private (C-bit set, paging off). */
  leafPrivate = false;
  /** The domain generation the TLB was filled under. */
  #encGen = -1;
  /** Scratch for page walks. */
  pteLo = 0;
  pteHi = 0;
  /** RIP of the next instruction while one executes; branches set it. */
  nextRip = 0;
  /** Instructions retired since the vCPU was created. */
  instructions = 0;
  /** Unimplemented instructions met (each raised #UD), by mnemonic: the coverage gaps. */
  readonly unimplemented = new Map<string, number>();
  /**
   * The interrupt shadow (after STI, MOV SS): interrupts stay blocked while RIP is here, i.e. until
   * the instruction after the one that set it has run. -1: none. Reported to KVM in int_state.
   */
  shadowRip = -1;
  /** The block that ran to its end last, whose successor cache the next fetch may use. */
  #prev: Block | undefined;
  /** An exception recorded by a faulting instruction, delivered by the loop. */
  pending: PendingException | undefined;
  /** CpuBackend.onVc: the harness's view of each #VC raised (set by the platform). */
  onVc: ((errorCode: number, rip: number) => void) | undefined = undefined;
  /** The #VMEXIT is written: VMRUN returns. */
  exited = false;
  /** Run hot blocks compiled (X86CpuOptions.compile); may be changed between runs. */
  compile: boolean;
  /** Interpreted runs of a block before it is compiled (X86CpuOptions.compileThreshold). */
  compileThreshold: number;
  /**
   * Instructions a compiled block completed before the one that threw STOP_SIGNAL: generated code
   * writes it before anything that can throw, where the interpreter's loop has its counter.
   */
  compiledDone = 0;

  constructor(protectedState = false, options: X86CpuOptions = {}) {
    this.protectedState = protectedState;
    this.compile = options.compile ?? true;
    this.compileThreshold = options.compileThreshold ?? COMPILE_THRESHOLD;
    const vendor = options.vendor ?? DEFAULT_X86_VENDOR;
    this.alu = aluFor(vendor);
    this.mxcsrMask = mxcsrMaskOf(vendor);
  }

  attach(hw: CpuAttachment): void {
    this.#hw = hw;
    this.vmcb = hw.vmcb;
    this.mem = hw.mem;
    this.db = hw.db ?? new BigUint64Array(4);
    // An SEV-ES CPU (or one attached without KVM's FPU state) has its own, from RESET.
    this.fpu = hw.fpu ?? resetFpu();
    const x = this.fpu.xmm;
    this.xmmB = x;
    this.xmmW = new Uint16Array(x.buffer, x.byteOffset, 128);
    this.xmmD = new Uint32Array(x.buffer, x.byteOffset, 64);
    this.ymmHi = hw.ymmHi ?? new Uint8Array(256);
    const xcr = hw.xcr0;
    this.#kvmXcr0 = xcr ? new Uint32Array(xcr.buffer, xcr.byteOffset, 2) : undefined;
    this.save = hw.vmcb.save;
    this.s = new X86State(this.protectedState ? newGprs() : (hw.regs as Gprs));
  }

  vmrun(budget: number): void {
    const s = this.s;
    if (!this.protectedState) {
      s.load(this.save);
      writeRflags(this.f, s.rflags);
      // kvm_load_guest_xsave_state: KVM's XCR0 for the guest.
      if (this.#kvmXcr0) this.xcr0 = this.#kvmXcr0[0]!;
    } else if (!this.#vmsaTaken) {
      // The first VMRUN loads the VMSA LAUNCH_UPDATE_VMSA encrypted (decrypted under the ASID's
      // key); nobody else can read or write it, so the state stays loaded in the CPU across
      // #VMEXITs from here on. An unlaunched or undecryptable VMSA fails VMRUN.
      const vmsa = loadVmsa(this.#hw);
      if (typeof vmsa === 'string') {
        this.vmcb.setVmrunFailure();
        this.vmrunFailure = vmsa;
        return;
      }
      this.save = vmsa;
      this.#vmsaTaken = true;
      s.load(this.save);
      this.xcr0 = this.save.getUint32(SAVE_XCR0, true);
      // The x87, SSE and AVX state too: an SEV-ES guest's whole state is the VMSA's (APM vol. 2, SEV-ES).
      loadVmsaFpu(this.save, this.fpu, this.ymmHi);
      loadVmsaGprs(this.save, s.regs);
      writeRflags(this.f, s.rflags);
    }
    this.exited = false;
    this.pending = undefined;
    // Page views are good while the nested page table's generation holds (or, without one, until
    // the vCPU exits): KVM or the host may have changed the mappings while it was out. Under SEV,
    // the decrypted pages too: the host may have read (written back) or written one meanwhile.
    const gen = this.mem.generation;
    const tlb = this.tlb;
    const enc = this.#encryption();
    const encGen = enc ? enc.generation : -1;
    // tlb_ctl: KVM asked for this guest's TLB to be flushed (after KVM_SET_SREGS, say).
    if (
      gen === undefined ||
      gen !== this.#memGen ||
      enc !== this.enc ||
      encGen !== this.#encGen ||
      this.vmcb.tlbCtl !== TLB_CONTROL_DO_NOTHING
    ) {
      tlb.flush();
      this.#memGen = gen ?? -1;
      this.enc = enc;
      this.#encGen = encGen;
    }
    // KVM (a CR write it emulated, KVM_SET_SREGS) may have changed the paging state meanwhile.
    if (s.cr0 !== tlb.cr0 || s.cr3 !== tlb.cr3 || s.cr4 !== tlb.cr4 || s.efer !== tlb.efer) {
      tlb.flush();
      tlb.cr0 = s.cr0;
      tlb.cr3 = s.cr3;
      tlb.cr4 = s.cr4;
      tlb.efer = s.efer;
    }
    this.blocks.epoch++;
    const vmcb = this.vmcb;
    const inj = vmcb.eventInj;
    if (inj & SVM_EVTINJ_VALID) {
      vmcb.eventInj = 0;
      this.#guard(() => deliverEvent(this, inj, vmcb.eventInjErr));
    }
    // The interrupt window KVM asked for (V_IRQ with the VINTR intercept): neither changes while
    // the guest runs, so it is read once; the guest's IF is checked between blocks.
    const irqWindow = (vmcb.intCtl & V_IRQ_MASK) !== 0 && vmcb.isIntercept(SVM_EXIT_VINTR);
    this.shadowRip = vmcb.intState & SVM_INTERRUPT_SHADOW_MASK ? s.rip : -1;
    this.#prev = undefined;
    let n = 0;
    while (!this.exited) {
      if (n >= budget) {
        this.exit(SVM_EXIT_INTR, 0, 0, 0, 0);
        break;
      }
      if (irqWindow && readRflags(this.f) & RFLAGS_IF && s.rip !== this.shadowRip) {
        this.exit(SVM_EXIT_VINTR, 0, 0, 0, 0);
        break;
      }
      n += this.#runBlock(budget - n);
    }
    if (!this.protectedState) {
      s.rflags = readRflags(this.f);
      s.store(this.save);
    }
    const shadow = s.rip === this.shadowRip ? SVM_INTERRUPT_SHADOW_MASK : 0;
    const ifFlag = readRflags(this.f) & RFLAGS_IF ? SVM_GUEST_INTERRUPT_MASK : 0;
    vmcb.intState =
      (vmcb.intState & ~(SVM_INTERRUPT_SHADOW_MASK | SVM_GUEST_INTERRUPT_MASK)) | shadow | ifFlag;
  }

  /**
   * Run one block from RIP (or until an instruction stops); returns the instructions retired. A hot
   * block runs as its compiled form (compile/), which keeps this loop's protocol: the same RIP,
   * nextRip and count at a stop or a fault, delivered here the same way. A compiled block that
   * branches to itself may run again as vmrun would run it next, while `remaining` (the budget
   * vmrun has left) allows.
   */
  #runBlock(remaining: number): number {
    const s = this.s;
    let done = 0;
    let compiled: CompiledBlock | undefined;
    try {
      const b = this.#fetchBlock();
      const insns = b.insns;
      // In the interrupt shadow only one instruction runs: the window is checked right after it.
      const shadow = s.rip === this.shadowRip;
      const end = shadow ? 1 : insns.length;
      compiled = shadow ? undefined : compiledForm(this, b);
      if (compiled) {
        done = compiled(this, remaining);
        compiled = undefined;
        if (done < end) {
          // A handler returned STOP, as in the loop below.
          this.#prev = undefined;
          if (this.pending) this.#deliverPending();
        }
      } else {
        const wrap = b.codeSize === 64 ? 0 : b.codeSize === 32 ? TWO32 : 0x1_0000;
        for (let k = 0; k < end; k++) {
          const i = insns[k]!;
          const next = s.rip + i.len;
          this.nextRip = wrap && next >= wrap ? next - wrap : next;
          if (i.exec(this, i) !== NEXT) {
            this.#prev = undefined;
            if (this.pending) this.#deliverPending();
            break;
          }
          s.rip = this.nextRip;
          done++;
        }
      }
      if (done >= insns.length) this.#prev = b;
      else if (done === end) this.#prev = undefined;
      // RF (set by an IRET that returns to a faulting instruction) clears once an instruction
      // completes; nothing in a block can observe it before then (PUSHF stores it as 0).
      if (done > 0 && this.f.bits & RFLAGS_RF) this.f.bits &= ~RFLAGS_RF;
    } catch (e) {
      this.#prev = undefined;
      if (e !== STOP_SIGNAL) throw e;
      // A compiled block left its count where the interpreter's loop has it in `done`.
      if (compiled) done = this.compiledDone;
      this.#deliverPending();
    }
    this.instructions += done;
    // A block that stopped at its first instruction still takes budget, so a fault loop ends.
    return done || 1;
  }

  /** Run `fn`, catching a fault it raises (event injection at VMRUN). */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e !== STOP_SIGNAL) throw e;
      this.#deliverPending();
    }
  }

  /** Deliver the exception a faulting instruction recorded (exceptions.ts handles #DF and shutdown). */
  #deliverPending(): void {
    for (;;) {
      const p = this.pending;
      if (!p || this.exited) return;
      this.pending = undefined;
      // An exception KVM intercepts (#DB, #UD, #AC, #MC for a default VM) exits before delivery,
      // with the error code in exit_info_1 (and CR2's value in exit_info_2 for #PF).
      const code = SVM_EXIT_EXCP_BASE + p.vector;
      if (!p.soft && this.vmcb.isIntercept(code)) {
        const cr2 = p.vector === PF_VECTOR ? this.s.cr2 : 0;
        this.intercept(code, p.errorCode ?? 0, 0, cr2 >>> 0, hi32(cr2));
        // An SEV-ES guest gets a #VC in its place (pending again); otherwise the #VMEXIT is written.
        continue;
      }
      if (p.vector === VC_VECTOR && !p.injected) this.onVc?.(p.errorCode ?? 0, this.s.rip);
      try {
        deliverException(this, p);
        return;
      } catch (e) {
        if (e !== STOP_SIGNAL) throw e;
        // A fault while delivering: exceptions.ts recorded the follow-up (#DF, or shutdown).
      }
    }
  }

  /**
   * The block at CS:RIP: the successor the previous block went to last time when nothing it
   * depends on changed (the same RIP and code size, no TLB change, the block still live and checked
   * in this epoch), else looked up by guest-physical address, decoded on a miss or when its bytes
   * changed since it last ran.
   */
  #fetchBlock(): Block {
    const s = this.s;
    const prev = this.#prev;
    if (prev) {
      const next = prev.succ;
      if (
        next &&
        prev.succRip === s.rip &&
        prev.succGen === this.tlb.generation &&
        next.live &&
        next.epoch === this.blocks.epoch &&
        next.codeSize === s.codeSize
      )
        return next;
    }
    const b = this.#lookupBlock();
    if (prev) {
      prev.succ = b;
      prev.succRip = s.rip;
      prev.succGen = this.tlb.generation;
    }
    return b;
  }

  #lookupBlock(): Block {
    const s = this.s;
    const la = s.codeSize === 64 ? s.rip : s.segBase[SEG_CS]! + s.rip;
    const i = tlbEntry(this, la, ACC_FETCH);
    const off = pageOffset(la);
    const gpa = this.tlb.gpaPage[i]! + off;
    const mode = s.codeSize;
    const blocks = this.blocks;
    let b = blocks.lookup(gpa, mode);
    if (b && b.epoch !== blocks.epoch) {
      const code = this.enc ? this.codePage(this.tlb.gpaPage[i]!) : this.tlb.bytes[i];
      if (code && this.#sameBytes(b, code)) b.epoch = blocks.epoch;
      else {
        blocks.remove(b);
        b = undefined;
      }
    }
    if (!b) {
      b = decodeBlock(this, la, gpa, mode);
      blocks.insert(b);
      // Pages with code are never writable through the TLB: a store must invalidate.
      for (const p of b.pages) this.tlb.dropWritable(p);
    }
    return b;
  }

  /**
   * Whether a block's bytes are still in guest memory: compared in `page`, the view of its first
   * page the fetch just mapped (a block crossing into a second page asks for that one).
   */
  #sameBytes(b: Block, page: Uint8Array): boolean {
    const bytes = b.bytes;
    const off = b.gpa % PAGE_SIZE;
    const first = Math.min(bytes.length, PAGE_SIZE - off);
    for (let k = 0; k < first; k++) if (page[off + k] !== bytes[k]) return false;
    if (first === bytes.length) return true;
    // The second page is wherever the linear page after it mapped (not necessarily the next GPA).
    const second = b.pages[1];
    const next = second === undefined ? undefined : this.codePage(second);
    if (!next) return false;
    for (let k = first; k < bytes.length; k++) if (next[k - first] !== bytes[k]) return false;
    return true;
  }

  /**
   * The memory controller's domain VMRUN uses: the VMCB's ASID's, when the VMCB enables SEV and the
   * platform has a memory controller (its C-bit then applies to the walks).
   */
  #encryption(): EncryptedMemory | undefined {
    const me = this.#hw.memoryEncryption;
    if (!me || !(this.vmcb.nestedCtl & SVM_NESTED_CTL_SEV_ENABLE)) {
      this.cbitHi = 0;
      return undefined;
    }
    const d = me.domain(this.vmcb.asid);
    this.cbitHi = d && me.cbit >= 32 ? 2 ** (me.cbit - 32) : 0;
    return d;
  }

  /**
   * A private access's page: the plaintext of the RAM page holding `gpa` under the guest's key
   * (the memory controller decrypts it once and keeps it), or the page itself without SEV.
   */
  privatePage(gpa: number, write: boolean): Uint8Array {
    const frame = this.physPage(gpa, write);
    const enc = this.enc;
    return enc ? enc.page(this.mem.spa!(gpa), frame, write) : frame;
  }

  /** The bytes instructions are fetched from in a RAM page (always private under SEV), or undefined. */
  codePage(gpaPage: number): Uint8Array | undefined {
    const frame = this.mem.page?.(gpaPage, false);
    const enc = this.enc;
    return frame && enc ? enc.page(this.mem.spa!(gpaPage), frame, false) : frame;
  }

  /**
   * The RAM page holding a GPA, for the walker and the TLB; a GPA that is not RAM ends the access
   * with a nested page fault, or a #VC for an SEV-ES guest's MMIO.
   */
  physPage(gpa: number, write: boolean): Uint8Array {
    const page = this.mem.page?.(gpa - (gpa % PAGE_SIZE), write);
    if (page) return page;
    // Fetching the decode-assist bytes: a page that is not RAM just ends them.
    if (this.#probing) throw STOP_SIGNAL;
    const probe = new Uint8Array(1);
    const r = write ? this.mem.write(gpa, probe) : this.mem.read(gpa, probe);
    if (r === NPT_OK) throw new Error('GuestPhysMemory.page refused a page read/write accepts');
    // An SEV-ES guest's MMIO access (KVM's reserved-bit NPT entry) is a #VC, not an exit.
    if (r === NPT_MMIO && this.protectedState) this.raise({ vector: VC_VECTOR, errorCode: SVM_EXIT_NPF });
    let err = write ? PFERR_WRITE_MASK : 0;
    if (r === NPT_MMIO) err |= PFERR_RSVD_MASK | PFERR_PRESENT_MASK;
    else if (r === NPT_READONLY) err |= PFERR_PRESENT_MASK;
    this.#npfExit(gpa, err);
  }

  /** SVM_EXIT_NPF with decode assist: the faulting GPA, the error code, the instruction's bytes. */
  #npfExit(gpa: number, err: number): never {
    this.exit(SVM_EXIT_NPF, err, PFERR_GUEST_FINAL_HI, gpa >>> 0, Math.floor(gpa / TWO32));
    this.#fillInsnBytes();
    throw STOP_SIGNAL;
  }

  /**
   * Decode assist: up to 15 bytes at CS:RIP, as far as they can be fetched (a fetch that would
   * fault ends them; nothing is raised).
   */
  #fillInsnBytes(): void {
    const s = this.s;
    const la = s.codeSize === 64 ? s.rip : s.segBase[SEG_CS]! + s.rip;
    const bytes = this.vmcb.insnBytes;
    const pending = this.pending;
    const cr2 = s.cr2;
    let n = 0;
    this.#probing = true;
    try {
      for (; n < 15; n++) {
        const a = la + n;
        const i = tlbEntry(this, a, ACC_FETCH);
        bytes[n] = this.tlb.bytes[i]![pageOffset(a)]!;
      }
    } catch (e) {
      if (e !== STOP_SIGNAL) throw e;
      this.pending = pending;
      s.cr2 = cr2;
    } finally {
      this.#probing = false;
    }
    this.vmcb.insnLen = n;
  }

  /**
   * An intercepted event at an instruction boundary: the #VMEXIT (next_rip: the instruction's end
   * for instruction intercepts, 0 otherwise), or for an SEV-ES guest's non-automatic exit, #VC.
   */
  intercept(
    code: number,
    info1Lo: number,
    info1Hi: number,
    info2Lo: number,
    info2Hi: number,
    next = 0,
  ): typeof STOP {
    if (this.protectedState) {
      if (!sevEsExitIsAutomatic(code, info1Lo)) {
        // #VC instead of the exit, delivered by the loop when the handler returns STOP (no throw:
        // an instruction intercept happens before anything ran).
        this.pending = { vector: VC_VECTOR, errorCode: code };
        return STOP;
      }
      // KVM cannot move an SEV-ES guest's RIP: for VMGEXIT, HLT and PAUSE the hardware saves the
      // next instruction's (APM 15.35.4).
      if (code === SVM_EXIT_VMGEXIT || code === SVM_EXIT_HLT || code === SVM_EXIT_PAUSE) this.s.rip = next;
    }
    this.exit(code, info1Lo, info1Hi, info2Lo, info2Hi, next);
    return STOP;
  }

  /** Write a #VMEXIT into the VMCB control area; VMRUN returns after the current instruction. */
  exit(code: number, info1Lo: number, info1Hi: number, info2Lo: number, info2Hi: number, next = 0): void {
    const vmcb = this.vmcb;
    vmcb.setExit(code, info1Lo, info1Hi, info2Lo, info2Hi);
    // next is sign-extended: its two halves (2 ** 64 + next would round to a multiple of 2048).
    vmcb.control.setUint32(VMCB_NEXT_RIP, next >>> 0, true);
    vmcb.control.setUint32(VMCB_NEXT_RIP + 4, hi32(next), true);
    vmcb.insnLen = 0;
    this.exited = true;
  }

  /** Record a guest exception and abandon the current instruction. */
  raise(p: PendingException): never {
    this.pending = p;
    throw STOP_SIGNAL;
  }

  /** #PF: CR2 = the linear address. */
  pageFault(la: number, errorCode: number): never {
    this.s.cr2 = la;
    this.raise({ vector: PF_VECTOR, errorCode });
  }

  /** #GP(errorCode). */
  generalProtection(errorCode: number): never {
    this.raise({ vector: GP_VECTOR, errorCode });
  }

  /** Triple fault: SVM_EXIT_SHUTDOWN (KVM always intercepts it). */
  shutdown(): never {
    this.exit(SVM_EXIT_SHUTDOWN, 0, 0, 0, 0);
    throw STOP_SIGNAL;
  }

  /** An instruction the interpreter does not implement: #UD, counted by name. */
  unimplementedInsn(name: string): never {
    this.unimplemented.set(name, (this.unimplemented.get(name) ?? 0) + 1);
    this.raise({ vector: UD_VECTOR });
  }
}
