/**
 * Helpers for the guest client's tests: a tiny guest physical memory over a Uint8Array (with
 * ranges that fault or are MMIO), a view of the GHCB page as KVM reads it, and a KVM-like reply
 * writer. Test-only; nothing in src imports it.
 */
import assert from 'node:assert/strict';
import {
  CR0_PE,
  CR0_PG,
  CR4_PAE,
  EFER_LMA,
  EFER_LME,
  type GuestPhysMemory,
  NPT_FAULT,
  NPT_MMIO,
  NPT_OK,
  type NptResult,
  SAVE_CR0,
  SAVE_CR4,
  SAVE_CS,
  SAVE_EFER,
  SVM_SELECTOR_L_MASK,
  saveSegment,
  setSaveSegment,
  setSaveU64,
  Vmcb,
  writeResetState,
} from '../cpu/backend.js';
import { type GuestProgram, ScriptedCpu } from '../cpu/scripted.js';
import {
  GHCB_OFF_PROTOCOL_VERSION,
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_USAGE,
  GHCB_OFF_VALID_BITMAP,
} from '../uapi/ghcb.js';
import { SVM_EXIT_HLT, SVM_EXIT_VMGEXIT } from '../uapi/svm.js';

/** Where the tests' GHCB lives. */
export const GHCB_GPA = 0x3000;
/** Size of the fake guest memory. */
export const MEM_SIZE = 0x10000;
const PAGE = 4096;

/** Guest memory over a Uint8Array: pages can be made to fault and ranges to be MMIO. */
export class FakeMemory implements GuestPhysMemory {
  readonly bytes = new Uint8Array(MEM_SIZE);
  /** Page numbers whose accesses fault (NPT_FAULT). */
  readonly faulting = new Set<number>();
  /** GPA ranges [lo, hi) that are not RAM (NPT_MMIO). */
  readonly mmio: [number, number][] = [];
  /** Completed accesses, in order (`map-*`: a page the TLB handed out, see FakeTlbMemory). */
  readonly log: { kind: 'read' | 'write' | 'map-read' | 'map-write'; gpa: number; len: number }[] = [];

  protected check(gpa: number, len: number): NptResult {
    if (gpa < 0 || gpa + len > MEM_SIZE) return NPT_MMIO;
    for (const [lo, hi] of this.mmio) if (gpa < hi && gpa + len > lo) return NPT_MMIO;
    for (let p = Math.floor(gpa / PAGE); p * PAGE < gpa + len; p++)
      if (this.faulting.has(p)) return NPT_FAULT;
    return NPT_OK;
  }

  read(gpa: number, dst: Uint8Array): NptResult {
    const r = this.check(gpa, dst.length);
    if (r !== NPT_OK) return r;
    dst.set(this.bytes.subarray(gpa, gpa + dst.length));
    this.log.push({ kind: 'read', gpa, len: dst.length });
    return NPT_OK;
  }

  write(gpa: number, src: Uint8Array): NptResult {
    const r = this.check(gpa, src.length);
    if (r !== NPT_OK) return r;
    this.bytes.set(src, gpa);
    this.log.push({ kind: 'write', gpa, len: src.length });
    return NPT_OK;
  }
}

/** FakeMemory with the optional GuestPhysMemory.page (the CPU's TLB), as KVM's nested page table has it. */
export class FakeTlbMemory extends FakeMemory {
  /** GuestPhysMemory.generation: undefined (no promise: views last until the next exit) unless set. */
  generation: number | undefined;

  page(gpa: number, write: boolean): Uint8Array | undefined {
    const start = gpa - (gpa % PAGE);
    if (this.check(start, PAGE) !== NPT_OK) return undefined;
    this.log.push({ kind: write ? 'map-write' : 'map-read', gpa: start, len: PAGE });
    return this.bytes.subarray(start, start + PAGE);
  }
}

/** The GHCB page as KVM sees it (reads and writes go straight to the fake memory). */
export class GhcbPage {
  readonly #view: DataView;
  constructor(
    readonly mem: FakeMemory,
    readonly gpa = GHCB_GPA,
  ) {
    this.#view = new DataView(mem.bytes.buffer, gpa, PAGE);
  }
  u8(off: number): number {
    return this.#view.getUint8(off);
  }
  u16(off: number): number {
    return this.#view.getUint16(off, true);
  }
  u32(off: number): number {
    return this.#view.getUint32(off, true);
  }
  u64(off: number): bigint {
    return this.#view.getBigUint64(off, true);
  }
  set64(off: number, v: bigint): void {
    this.#view.setBigUint64(off, v, true);
  }
  bytes(off: number, len: number): Uint8Array {
    return this.mem.bytes.slice(this.gpa + off, this.gpa + off + len);
  }
  isValid(off: number): boolean {
    const idx = off >> 3;
    return (this.u8(GHCB_OFF_VALID_BITMAP + (idx >> 3)) & (1 << (idx & 7))) !== 0;
  }
  setValid(off: number): void {
    const idx = off >> 3;
    const at = GHCB_OFF_VALID_BITMAP + (idx >> 3);
    this.#view.setUint8(at, this.u8(at) | (1 << (idx & 7)));
  }
  /** The set valid-bitmap indices, ascending. */
  validBits(): number[] {
    const out: number[] = [];
    for (let i = 0; i < 128; i++) if (this.u8(GHCB_OFF_VALID_BITMAP + (i >> 3)) & (1 << (i & 7))) out.push(i);
    return out;
  }
  exitCode(): bigint {
    return this.u64(GHCB_OFF_SW_EXIT_CODE);
  }
  info1(): bigint {
    return this.u64(GHCB_OFF_SW_EXIT_INFO_1);
  }
  info2(): bigint {
    return this.u64(GHCB_OFF_SW_EXIT_INFO_2);
  }
  usage(): number {
    return this.u32(GHCB_OFF_USAGE);
  }
  version(): number {
    return this.u16(GHCB_OFF_PROTOCOL_VERSION);
  }
  /**
   * Answer like KVM: valid bitmap zeroed (sync_from_ghcb), sw_exit_info_1/2 written and marked
   * valid, then the given registers written and marked valid (sync_to_ghcb writes all four).
   */
  reply(
    r: { info1?: bigint; info2?: bigint; rax?: bigint; rbx?: bigint; rcx?: bigint; rdx?: bigint } = {},
  ): void {
    this.set64(GHCB_OFF_VALID_BITMAP, 0n);
    this.set64(GHCB_OFF_VALID_BITMAP + 8, 0n);
    this.set64(GHCB_OFF_SW_EXIT_INFO_1, r.info1 ?? 0n);
    this.setValid(GHCB_OFF_SW_EXIT_INFO_1);
    this.set64(GHCB_OFF_SW_EXIT_INFO_2, r.info2 ?? 0n);
    this.setValid(GHCB_OFF_SW_EXIT_INFO_2);
    const regs: [bigint | undefined, number][] = [
      [r.rax, GHCB_OFF_RAX],
      [r.rbx, GHCB_OFF_RBX],
      [r.rcx, GHCB_OFF_RCX],
      [r.rdx, GHCB_OFF_RDX],
    ];
    for (const [v, off] of regs) {
      if (v === undefined) continue;
      this.set64(off, v);
      this.setValid(off);
    }
  }
}

/** Guest instructions one VMRUN may execute before a host timer tick (far more than any test runs). */
const VMRUN_BUDGET = 1 << 20;

/** The VMCB each booted CPU was attached to (the hardware's; KVM would own it). */
const VMCBS = new WeakMap<ScriptedCpu, Vmcb>();

/** A #VMEXIT as the VMCB reports it. */
export interface VmExitRecord {
  /** exit_code (SVM_EXIT_*). */
  readonly exitCode: number;
  /** exit_info_1 (for SVM_EXIT_NPF: the #PF error code, PFERR_GUEST_FINAL in bit 32). */
  readonly exitInfo1: number;
  /** exit_info_2 (for SVM_EXIT_NPF: the faulting GPA). */
  readonly exitInfo2: number;
}

/**
 * Long mode in a save area, as a guest's own start-up code (or the VMM, before the VMSA is
 * encrypted) leaves it: EFER.LME/LMA, CR0.PE/PG, CR4.PAE and a 64-bit CS (CS.L).
 */
export function writeLongMode(save: DataView): void {
  setSaveU64(save, SAVE_EFER, BigInt(EFER_LME | EFER_LMA));
  setSaveU64(save, SAVE_CR0, BigInt((CR0_PE | CR0_PG | 0x10) >>> 0));
  setSaveU64(save, SAVE_CR4, BigInt(CR4_PAE));
  const cs = saveSegment(save, SAVE_CS);
  setSaveSegment(save, SAVE_CS, { ...cs, selector: 0x8, attrib: cs.attrib | SVM_SELECTOR_L_MASK, base: 0n });
}

/**
 * A protected-state scripted CPU on fresh fake memory (with a TLB, i.e. GuestPhysMemory.page, when
 * `tlb` is set), with the GHCB page view. The CPU is attached to a VMCB whose save area holds the
 * RESET state, as KVM_CREATE_VCPU attaches it, switched to 64-bit long mode (`mode` 16 keeps real
 * mode), where the guest's 8-byte moves to and from memory exist; no register array is given (an
 * SEV-ES CPU keeps its own).
 */
export function boot(
  program: GuestProgram,
  opts: { tlb?: boolean; mode?: 16 | 64 } = {},
): { cpu: ScriptedCpu; mem: FakeMemory; page: GhcbPage; vmcb: Vmcb } {
  const mem = opts.tlb ? new FakeTlbMemory() : new FakeMemory();
  const cpu = new ScriptedCpu(program, { protectedState: true });
  const vmcb = new Vmcb();
  writeResetState(vmcb.save);
  if ((opts.mode ?? 64) === 64) writeLongMode(vmcb.save);
  cpu.attach({ vmcb, regs: null, mem });
  VMCBS.set(cpu, vmcb);
  return { cpu, mem, page: new GhcbPage(mem), vmcb };
}

/** VMRUN the booted CPU and read the #VMEXIT from its VMCB. */
export function vmrun(cpu: ScriptedCpu): VmExitRecord {
  const vmcb = VMCBS.get(cpu);
  assert.ok(vmcb, 'vmrun() needs a CPU from boot()');
  cpu.vmrun(VMRUN_BUDGET);
  return {
    exitCode: vmcb.exitCode,
    exitInfo1: vmcb.exitInfo1Hi * 0x1_0000_0000 + vmcb.exitInfo1Lo,
    exitInfo2: vmcb.exitInfo2Gpa,
  };
}

/** Run the vCPU and expect a VMGEXIT. */
export function runToVmgexit(cpu: ScriptedCpu): VmExitRecord {
  const e = vmrun(cpu);
  assert.equal(e.exitCode, SVM_EXIT_VMGEXIT, `expected VMGEXIT, got exit 0x${e.exitCode.toString(16)}`);
  return e;
}

/** Run the vCPU and expect the program to have finished. */
export function runToEnd(cpu: ScriptedCpu): void {
  const e = vmrun(cpu);
  if (cpu.crash) throw cpu.crash;
  assert.equal(
    e.exitCode,
    SVM_EXIT_HLT,
    `expected the program to end, got exit 0x${e.exitCode.toString(16)}`,
  );
  assert.equal(cpu.state, 'done');
}

/** Bit indices of GHCB fields, for comparing valid bitmaps. */
export function bits(...offsets: number[]): number[] {
  return offsets.map((o) => o >> 3).sort((a, b) => a - b);
}
