/**
 * A tiny 64-bit guest on the real /dev/kvm for instruction-level measurements: the tiny real-mode
 * machine (RAM at GPA 0, code at 0x1000) switched to long mode through KVM_SET_SREGS alone
 * (identity-mapped 2 MiB page, flat CS with L=1, no GDT or IDT: an exception shuts the guest down).
 * `load` writes one code blob, then each `step` sets RAX, RBX, RCX, RDX and RFLAGS, runs the code
 * up to its HLT and reads the registers back (about 50 µs a step here).
 *
 * What executes the guest depends on the host. On this project's machine /dev/kvm is KVM's PVM
 * flavour (no VMX): every instruction goes through KVM's x86 emulator (a guest loop runs at a few
 * million instructions/s; POPCNT, which the emulator lacks, ends in KVM_EXIT_INTERNAL_ERROR). The
 * emulator executes most ALU instructions on the host CPU (its `fastop` stubs) but implements
 * others in C, with its own results: DAS, AAM and AAD (its AAM sets ZF and SF otherwise than the
 * SDM says) and not DAA, AAA or AAS at all.
 */
import assert from 'node:assert/strict';
import { type HostKvmFd, type TinyGuest, tinyRealModeGuest } from '../../src/hostkvm/index.js';
import { ok } from '../../src/kvm/test-util.js';
import type { KvmRegs } from '../../src/uapi/regs.js';
import type { KvmSegment } from '../../src/uapi/sregs.js';

const CODE = 0x1000;
const STACK = 0x2000;
const PML4 = 0x8000;
const RAM = 0x10000;

/**
 * Where the code runs: 64-bit mode, 32-bit compatibility mode (long mode, CS.L = 0, CS.D = 1) or
 * real mode (the tiny guest as it is).
 */
export type GuestMode = 'long' | 'compat' | 'real';

/** Registers a step sets (all 64-bit, as bigints) and reads back. */
export interface StepRegs {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rflags: bigint;
}

/** A long-mode guest; `close()` (or `using`) releases it. */
export interface LongModeGuest {
  /** Put `code` (HLT appended) at the entry point. */
  load(code: readonly number[]): void;
  /** Run the loaded code from its start with these registers; the registers at the HLT, or the exit seen instead. */
  step(regs: StepRegs): StepRegs | string;
  close(): void;
  [Symbol.dispose](): void;
}

/**
 * A long-mode guest on `kvm` (fails the calling test on any ioctl error); `realMode` leaves it in
 * real mode instead (for the instructions 64-bit mode lacks, such as DAA and AAM).
 */
export function longModeGuest(kvm: HostKvmFd, mode: GuestMode = 'long'): LongModeGuest {
  const g: TinyGuest = ok(tinyRealModeGuest(kvm, Uint8Array.of(0xf4), { ramSize: RAM }));
  const close = (): void => g.close();
  if (mode !== 'real') enterLongMode(g, mode === 'compat');
  let regs: KvmRegs = ok(g.vcpu.getRegs());
  return {
    load(code) {
      assert.equal(g.mem.write(g.ram + CODE, Uint8Array.from([...code, 0xf4])), undefined);
    },
    step(r) {
      regs = { ...regs, ...r, rip: BigInt(CODE), rsp: BigInt(STACK) };
      ok(g.vcpu.setRegs(regs));
      const exit = g.vcpu.run();
      if (exit.kind !== 'Hlt') return exit.kind === 'Failed' ? String(exit.error) : exit.kind;
      const out = ok(g.vcpu.getRegs());
      return { rax: out.rax, rbx: out.rbx, rcx: out.rcx, rdx: out.rdx, rflags: out.rflags };
    },
    close,
    [Symbol.dispose]: close,
  };
}

function enterLongMode(g: TinyGuest, compat: boolean): void {
  // PML4[0] → PDPT[0] → PD[0] = a 2 MiB page at 0 (P | RW | PS).
  const pt = new Uint8Array(0x3000);
  const dv = new DataView(pt.buffer);
  dv.setUint32(0, PML4 + 0x1000 + 3, true);
  dv.setUint32(0x1000, PML4 + 0x2000 + 3, true);
  dv.setUint32(0x2000, 0x83, true);
  assert.equal(g.mem.write(g.ram + PML4, pt), undefined);
  const s = ok(g.vcpu.getSregs());
  const seg = (selector: number, type: number, l: number): KvmSegment => ({
    base: 0n,
    limit: 0xffff_ffff,
    selector,
    type,
    present: 1,
    dpl: 0,
    db: l ? 0 : 1,
    s: 1,
    l,
    g: 1,
    avl: 0,
    unusable: 0,
  });
  const data = seg(0x10, 3, 0);
  ok(
    g.vcpu.setSregs({
      ...s,
      cs: compat ? seg(0x8, 11, 0) : seg(0x8, 11, 1),
      ds: data,
      es: data,
      fs: data,
      gs: data,
      ss: data,
      cr0: 0x8005_0033n, // PG | AM | WP | NE | ET | MP | PE
      cr3: BigInt(PML4),
      cr4: 0x20n, // PAE
      efer: 0x500n, // LMA | LME
    }),
  );
}
