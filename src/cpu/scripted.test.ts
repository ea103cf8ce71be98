/**
 * The scripted CPU on its own, driven the way SVM code drives a CPU: KVM writes the RESET state
 * into the VMCB save area and attaches the CPU; `vmrun(budget)` writes the #VMEXIT into the control
 * area (exit code, exit_info_1/2, next_rip, decode-assist bytes); KVM completes an intercepted
 * instruction by moving the save-area RIP to next_rip and injects exceptions and interrupts through
 * event_inj. Guest memory is a fake nested page table.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeMmioInsn } from '../kvm/emulate.js';
import {
  encodeIoioInfo,
  SVM_EXIT_CPUID,
  SVM_EXIT_HLT,
  SVM_EXIT_INTR,
  SVM_EXIT_IOIO,
  SVM_EXIT_MSR,
  SVM_EXIT_NPF,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_VINTR,
  SVM_EXIT_VMGEXIT,
  SVM_EXIT_VMMCALL,
} from '../uapi/svm.js';
import {
  type CodeSize,
  CR0_PE,
  CR0_PG,
  EFER_LMA,
  EFER_LME,
  type GuestPhysMemory,
  gpr,
  NPT_FAULT,
  NPT_MMIO,
  NPT_OK,
  NPT_READONLY,
  type NptResult,
  newGprs,
  PFERR_GUEST_FINAL_HI,
  PFERR_PRESENT_MASK,
  PFERR_RSVD_MASK,
  PFERR_WRITE_MASK,
  RFLAGS_IF,
  SAVE_CR0,
  SAVE_CS,
  SAVE_EFER,
  SAVE_RFLAGS,
  SAVE_RIP,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_INTR,
  SVM_EVTINJ_TYPE_NMI,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  SVM_SELECTOR_DB_MASK,
  SVM_SELECTOR_L_MASK,
  setGpr,
  V_IRQ_MASK,
  VCPU_REGS_RAX,
  VCPU_REGS_RCX,
  Vmcb,
  writeResetState,
} from './backend.js';
import {
  type AccessSize,
  GuestException,
  type GuestProgram,
  movMoffsBytes,
  movMoffsLength,
  observeOps,
  ScriptedCpu,
} from './scripted.js';

/** The budget KVM gives a VMRUN (HOST_TICK_INSTRUCTIONS). */
const TICK = 1 << 16;
/** RESET's RIP (F000:FFF0, CS base FFFF0000: the save area holds the offset). */
const RESET_RIP = 0xfff0;

type FakeMemory = GuestPhysMemory & { ram: Uint8Array; accesses: number };

/**
 * 64 KiB of RAM at GPA 0; MMIO above; pages listed in `faulting` fault (NPT_FAULT), pages in
 * `readonly` refuse writes (NPT_READONLY). With `tlb`, page() maps RAM pages as the CPU's TLB would.
 */
function fakeMemory(
  faulting = new Set<number>(),
  opts: { readonly?: Set<number>; tlb?: boolean } = {},
): FakeMemory {
  const ram = new Uint8Array(0x10000);
  const check = (gpa: number, len: number, write: boolean): NptResult | undefined => {
    for (let p = Math.floor(gpa / 4096); p <= Math.floor((gpa + len - 1) / 4096); p++) {
      if (faulting.has(p)) return NPT_FAULT;
      if (p * 4096 >= ram.length) return NPT_MMIO;
      if (write && opts.readonly?.has(p)) return NPT_READONLY;
    }
    return undefined;
  };
  const mem: FakeMemory = {
    ram,
    accesses: 0,
    read(gpa: number, dst: Uint8Array) {
      mem.accesses++;
      const bad = check(gpa, dst.length, false);
      if (bad !== undefined) return bad;
      dst.set(ram.subarray(gpa, gpa + dst.length));
      return NPT_OK;
    },
    write(gpa: number, src: Uint8Array) {
      mem.accesses++;
      const bad = check(gpa, src.length, true);
      if (bad !== undefined) return bad;
      ram.set(src, gpa);
      return NPT_OK;
    },
  };
  if (opts.tlb) {
    mem.page = (gpa: number, write: boolean) => {
      const p = Math.floor(gpa / 4096);
      return check(p * 4096, 4096, write) === undefined ? ram.subarray(p * 4096, p * 4096 + 4096) : undefined;
    };
  }
  return mem;
}

/** A CPU attached as KVM attaches one: a VMCB with the RESET state, the register array, memory. */
function cpuWith(
  program: GuestProgram,
  mem: FakeMemory = fakeMemory(),
  opts: { protectedState?: boolean; mode?: CodeSize } = {},
) {
  const vmcb = new Vmcb();
  writeResetState(vmcb.save);
  if (opts.mode) setMode(vmcb.save, opts.mode);
  const regs = newGprs();
  const cpu = new ScriptedCpu(program, opts.protectedState ? { protectedState: true } : {});
  cpu.attach({ vmcb, regs: opts.protectedState ? null : regs, mem });
  return { cpu, mem, vmcb, regs };
}
type Hw = ReturnType<typeof cpuWith>;

/** Switch a save area to 32-bit protected mode or long mode. */
function setMode(save: DataView, mode: CodeSize): void {
  const cs = save.getUint16(SAVE_CS + 2, true) & ~(SVM_SELECTOR_L_MASK | SVM_SELECTOR_DB_MASK);
  if (mode === 64) {
    save.setUint32(SAVE_CR0, (save.getUint32(SAVE_CR0, true) | CR0_PE | CR0_PG) >>> 0, true);
    save.setUint32(SAVE_EFER, EFER_LME | EFER_LMA, true);
    save.setUint16(SAVE_CS + 2, cs | SVM_SELECTOR_L_MASK, true);
  } else if (mode === 32) {
    save.setUint32(SAVE_CR0, save.getUint32(SAVE_CR0, true) | CR0_PE, true);
    save.setUint16(SAVE_CS + 2, cs | SVM_SELECTOR_DB_MASK, true);
  }
}

/** VMRUN with a host tick's budget; the exit code. */
function run(hw: Hw, budget = TICK): number {
  hw.cpu.vmrun(budget);
  return hw.vmcb.exitCode;
}

/** The save area's RIP (KVM's kvm_rip_read). */
const rip = (hw: Hw): number => Number(hw.vmcb.save.getBigUint64(SAVE_RIP, true));

/** svm_skip_emulated_instruction: RIP := next_rip. */
function skip(hw: Hw): void {
  hw.vmcb.save.setBigUint64(SAVE_RIP, hw.vmcb.nextRip, true);
}

/** Queue an exception for the next VMRUN through event_inj. */
function injectException(hw: Hw, vector: number, errorCode?: number): void {
  hw.vmcb.eventInjErr = errorCode ?? 0;
  hw.vmcb.eventInj =
    SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | vector | (errorCode !== undefined ? SVM_EVTINJ_VALID_ERR : 0);
}

const ifSet = (hw: Hw): boolean => (hw.vmcb.save.getUint32(SAVE_RFLAGS, true) & RFLAGS_IF) !== 0;

describe('ScriptedCpu', () => {
  it('RAM accesses complete inside the CPU; the first #VMEXIT is the OUT, with its IOIO info', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.store(0x100, 4, 0x0403_0201n);
      cpu.notes.v = yield* cpu.load(0x101, 2);
      yield* cpu.out(0x3f8, 1, 0x41);
    });
    assert.equal(run(hw), SVM_EXIT_IOIO);
    assert.equal(hw.vmcb.exitInfo1Lo, encodeIoioInfo({ port: 0x3f8, size: 1, in: false, addrSize: 16 }));
    assert.equal(gpr(hw.regs, VCPU_REGS_RAX), 0x41n);
    assert.deepEqual([...hw.mem.ram.subarray(0x100, 0x104)], [1, 2, 3, 4]);
    assert.equal(hw.cpu.notes.v, 0x0302n);
  });

  it('an MMIO load exits NPF with the reserved-bit error code, the GPA and the access size in the decode-assist bytes', () => {
    // The 8-byte load needs long mode (in real mode it is #UD, see below).
    const hw = cpuWith(
      function* (cpu) {
        yield* cpu.load(0x2_0000, 8);
      },
      fakeMemory(),
      { mode: 64 },
    );
    assert.equal(run(hw), SVM_EXIT_NPF);
    assert.equal(hw.vmcb.exitInfo1Lo, PFERR_RSVD_MASK | PFERR_PRESENT_MASK);
    assert.equal(hw.vmcb.exitInfo2, 0x2_0000n);
    const insn = decodeMmioInsn(hw.vmcb.insnBytes.subarray(0, hw.vmcb.insnLen), 64);
    assert.equal(insn?.size, 8);
    assert.equal(insn?.write, false);
  });

  it('an 8-byte load of MMIO in real mode (the RESET state) is #UD: 16-bit code has no such mov for KVM to decode', () => {
    const hw = cpuWith(function* (cpu) {
      try {
        yield* cpu.load(0x2_0000, 8);
      } catch (e) {
        cpu.notes.vector = (e as GuestException).vector;
      }
      yield* cpu.hlt();
    });
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.equal(hw.cpu.notes.vector, 6);
  });

  it('an 8-byte load of RAM in real mode completes: a program access is not bound to one encoding unless KVM must decode it', () => {
    const mem = fakeMemory();
    mem.ram.set([1, 2, 3, 4, 5, 6, 7, 8], 0x2000);
    const hw = cpuWith(function* (cpu) {
      cpu.notes.v = yield* cpu.load(0x2000, 8);
      yield* cpu.hlt();
    }, mem);
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.equal(hw.cpu.notes.v, 0x0807_0605_0403_0201n);
  });

  it('a store to a faulting page exits NPF with the write bit and its value in RAX', () => {
    const hw = cpuWith(
      function* (cpu) {
        yield* cpu.store(0x3010, 2, 0xbeefn);
      },
      fakeMemory(new Set([3])),
    );
    assert.equal(run(hw), SVM_EXIT_NPF);
    assert.equal(hw.vmcb.exitInfo1Lo, PFERR_WRITE_MASK);
    assert.equal(hw.vmcb.exitInfo2, 0x3010n);
    assert.equal(gpr(hw.regs, VCPU_REGS_RAX), 0xbeefn);
  });

  it('without moving RIP the intercepted instruction runs again (fault-like); with next_rip, the program moves on', () => {
    const faulting = new Set([3]);
    const hw = cpuWith(function* (cpu) {
      cpu.notes.v = yield* cpu.load(0x3000, 1);
      yield* cpu.hlt();
    }, fakeMemory(faulting));
    assert.equal(run(hw), SVM_EXIT_NPF);
    assert.equal(run(hw), SVM_EXIT_NPF);
    assert.equal(hw.mem.accesses, 2, 'executed twice');
    faulting.clear();
    hw.mem.ram[0x3000] = 7;
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.equal(hw.cpu.notes.v, 7n);
  });

  it('an IN completes with what KVM put in RAX once KVM moves RIP to next_rip', () => {
    const hw = cpuWith(function* (cpu) {
      cpu.notes.v = yield* cpu.in(0x60, 2);
      yield* cpu.hlt();
    });
    assert.equal(run(hw), SVM_EXIT_IOIO);
    setGpr(hw.regs, VCPU_REGS_RAX, 0xffff_1234n);
    skip(hw);
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.equal(hw.cpu.notes.v, 0x1234);
  });

  it('an exception injected through event_inj is thrown into the program at the intercepted instruction', () => {
    const hw = cpuWith(function* (cpu) {
      try {
        yield* cpu.rdmsr(0x1234);
      } catch (e) {
        cpu.notes.vector = (e as GuestException).vector;
        cpu.notes.code = (e as GuestException).errorCode;
      }
      yield* cpu.hlt();
    });
    assert.equal(run(hw), SVM_EXIT_MSR);
    injectException(hw, 13, 0);
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.deepEqual(hw.cpu.notes, { vector: 13, code: 0 });
    assert.equal(hw.vmcb.eventInj, 0, 'the CPU consumed event_inj');
  });

  it('observeOps shows each instruction first and forwards values and injected exceptions unchanged', () => {
    const seen: string[] = [];
    const hw = cpuWith(function* (cpu) {
      cpu.notes.result = yield* observeOps(
        (function* () {
          const v = yield* cpu.in(0x60, 1);
          try {
            yield* cpu.rdmsr(0x1234);
          } catch (e) {
            return { v, vector: (e as GuestException).vector };
          }
          return { v, vector: -1 };
        })(),
        (op) => seen.push(op.op),
      );
      yield* cpu.hlt();
    });
    assert.equal(run(hw), SVM_EXIT_IOIO);
    setGpr(hw.regs, VCPU_REGS_RAX, 0x7an);
    skip(hw);
    assert.equal(run(hw), SVM_EXIT_MSR); // the RDMSR
    injectException(hw, 13, 0);
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.deepEqual(hw.cpu.notes.result, { v: 0x7a, vector: 13 });
    assert.deepEqual(seen, ['in', 'rdmsr'], 'the HLT after it is not observed');
  });

  it('VMGEXIT outside an SEV-ES guest is #UD (vector 6)', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.vmgexit();
    });
    assert.equal(run(hw), SVM_EXIT_SHUTDOWN);
    assert.ok(hw.cpu.crash instanceof GuestException && hw.cpu.crash.vector === 6);
  });

  it('protected state: no registers for KVM; an IN raises #VC, whose handler may VMGEXIT (trap-like)', () => {
    const vmcb = new Vmcb();
    writeResetState(vmcb.save);
    const kvmRegs = newGprs();
    const cpu = new ScriptedCpu(
      function* (cpu) {
        cpu.notes.v = yield* cpu.in(0x60, 1);
        yield* cpu.out(0x61, 1, 0x77);
        yield* cpu.hlt();
      },
      { protectedState: true },
    );
    cpu.vcHandler = function* (op, cpu) {
      cpu.notes.ops = [...((cpu.notes.ops as string[]) ?? []), op.op];
      yield* cpu.vmgexit();
      return op.op === 'in' ? 0x5a : undefined;
    };
    // Even if KVM handed it an array, a CPU with protected state keeps its registers in its VMSA.
    cpu.attach({ vmcb, regs: kvmRegs, mem: fakeMemory() });
    cpu.vmrun(TICK);
    assert.equal(vmcb.exitCode, SVM_EXIT_VMGEXIT);
    assert.equal(cpu.notes.v, undefined);
    // KVM cannot move an SEV-ES guest's RIP: writing its own save area changes nothing for the CPU.
    vmcb.save.setBigUint64(SAVE_RIP, 0x1234n, true);
    cpu.vmrun(TICK);
    assert.equal(vmcb.exitCode, SVM_EXIT_VMGEXIT, 'the next VMRUN resumes after the VMGEXIT: the OUT’s #VC');
    assert.equal(cpu.notes.v, 0x5a);
    assert.equal(gpr(kvmRegs, VCPU_REGS_RAX), 0n, 'the OUT did not load KVM’s RAX');
    assert.equal(
      vmcb.save.getBigUint64(SAVE_RIP, true),
      0x1234n,
      'KVM’s save area is not the VMSA: the CPU neither used nor wrote it',
    );
    cpu.vmrun(TICK);
    assert.equal(vmcb.exitCode, SVM_EXIT_HLT);
    assert.deepEqual(cpu.notes.ops, ['in', 'out']);
  });

  it('protected state without a #VC handler: the #VC (vector 29) shuts the CPU down', () => {
    const hw = cpuWith(
      function* (cpu) {
        yield* cpu.out(0x3f8, 1, 0);
      },
      fakeMemory(),
      { protectedState: true },
    );
    assert.equal(run(hw), SVM_EXIT_SHUTDOWN);
    assert.ok(hw.cpu.crash instanceof GuestException && hw.cpu.crash.vector === 29);
    assert.equal(hw.cpu.state, 'shutdown');
  });
});

describe('movMoffsBytes / movMoffsLength: the mov decode assist hands KVM', () => {
  const gpa = 0x1234;
  const cases: [CodeSize, AccessSize, boolean, number, number[] | undefined][] = [
    // 64-bit: an 8-byte offset; 66 for 2 bytes, REX.W for 8.
    [64, 1, false, gpa, [0xa0, 0x34, 0x12, 0, 0, 0, 0, 0, 0]],
    [64, 2, false, gpa, [0x66, 0xa1, 0x34, 0x12, 0, 0, 0, 0, 0, 0]],
    [64, 4, true, gpa, [0xa3, 0x34, 0x12, 0, 0, 0, 0, 0, 0]],
    [64, 8, true, gpa, [0x48, 0xa3, 0x34, 0x12, 0, 0, 0, 0, 0, 0]],
    [64, 8, false, 0x12_3456_789a, [0x48, 0xa1, 0x9a, 0x78, 0x56, 0x34, 0x12, 0, 0, 0]],
    // 32-bit: a 4-byte offset; 66 for 2 bytes; no 8-byte form.
    [32, 1, true, gpa, [0xa2, 0x34, 0x12, 0, 0]],
    [32, 2, false, gpa, [0x66, 0xa1, 0x34, 0x12, 0, 0]],
    [32, 4, false, 0xfee0_0030, [0xa1, 0x30, 0x00, 0xe0, 0xfe]],
    [32, 8, false, gpa, undefined],
    // 16-bit: a 2-byte offset below 64 KiB, else 67 and a 4-byte one; 66 for 4 bytes; no 8-byte form.
    [16, 1, false, gpa, [0xa0, 0x34, 0x12]],
    [16, 2, true, gpa, [0xa3, 0x34, 0x12]],
    [16, 4, false, gpa, [0x66, 0xa1, 0x34, 0x12]],
    [16, 1, false, 0xd000_0010, [0x67, 0xa0, 0x10, 0, 0, 0xd0]],
    [16, 4, true, 0x10_0000, [0x66, 0x67, 0xa3, 0, 0, 0x10, 0]],
    [16, 8, false, gpa, undefined],
  ];
  for (const [mode, size, store, at, bytes] of cases) {
    it(`${mode}-bit, ${size} bytes, ${store ? 'store' : 'load'} at 0x${at.toString(16)}: ${bytes ? bytes.length : 'no'} bytes`, () => {
      const got = movMoffsBytes(mode, size, store, at);
      assert.deepEqual(got ? [...got] : undefined, bytes);
      assert.equal(movMoffsLength(mode, size, at), bytes?.length ?? 0);
    });
  }

  it('what decodeMmioInsn reads back from them: the length, size, direction and the offset (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<CodeSize>(16, 32, 64),
        fc.constantFrom<AccessSize>(1, 2, 4, 8),
        fc.boolean(),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (mode, size, store, at) => {
          const bytes = movMoffsBytes(mode, size, store, at);
          if (!bytes) return assert.ok(size === 8 && mode !== 64);
          const insn = decodeMmioInsn(bytes, mode);
          assert.ok(insn);
          assert.equal(insn.len, bytes.length);
          assert.equal(insn.len, movMoffsLength(mode, size, at));
          assert.equal(insn.size, size);
          assert.equal(insn.write, store);
          assert.equal(insn.reg, VCPU_REGS_RAX);
          assert.equal(insn.addr.disp, BigInt(at));
          assert.equal(insn.addr.base, -1);
          assert.equal(insn.addr.seg, 3, 'DS');
        },
      ),
      { seed: 0x5c1b7ed, numRuns: 400 },
    );
  });
});

describe('ScriptedCpu: the #VMEXIT in the VMCB', () => {
  it('NPF: exit_info_2 the GPA; exit_info_1 the PFERR bits with bit 32; the decode-assist bytes; no next_rip', () => {
    const hw = cpuWith(
      function* (cpu) {
        yield* cpu.load(0x2_0008, 4); // MMIO: reserved-bit fault
        yield* cpu.store(0x2_0010, 2, 0xabcdn); // MMIO store
        yield* cpu.store(0x4000, 1, 1n); // a read-only page
        yield* cpu.load(0x5004, 2); // a page KVM has to fault in
      },
      fakeMemory(new Set([5]), { readonly: new Set([4]) }),
      { mode: 32 },
    );
    const expectNpf = (
      at: number,
      gpa: number,
      err: number,
      mode: CodeSize,
      size: AccessSize,
      store: boolean,
    ) => {
      assert.equal(run(hw), SVM_EXIT_NPF);
      assert.equal(hw.vmcb.exitInfo2, BigInt(gpa));
      assert.equal(hw.vmcb.exitInfo1Lo, err);
      assert.equal(hw.vmcb.exitInfo1Hi, PFERR_GUEST_FINAL_HI);
      assert.equal(hw.vmcb.exitInfo1, (1n << 32n) | BigInt(err));
      const bytes = movMoffsBytes(mode, size, store, gpa)!;
      assert.equal(hw.vmcb.insnLen, bytes.length);
      assert.deepEqual([...hw.vmcb.insnBytes.subarray(0, hw.vmcb.insnLen)], [...bytes]);
      assert.equal(hw.vmcb.nextRip, 0n, 'a nested page fault has no next_rip');
      assert.equal(rip(hw), at, 'RIP is at the faulting instruction');
      // KVM emulates the instruction: RIP moves past it by the decoded length.
      hw.vmcb.save.setBigUint64(SAVE_RIP, BigInt(at + bytes.length), true);
      return at + bytes.length;
    };
    let at = expectNpf(RESET_RIP, 0x2_0008, PFERR_RSVD_MASK | PFERR_PRESENT_MASK, 32, 4, false);
    at = expectNpf(at, 0x2_0010, PFERR_RSVD_MASK | PFERR_PRESENT_MASK | PFERR_WRITE_MASK, 32, 2, true);
    assert.equal(gpr(hw.regs, VCPU_REGS_RAX), 0xabcdn, 'the stored value is in RAX');
    at = expectNpf(at, 0x4000, PFERR_PRESENT_MASK | PFERR_WRITE_MASK, 32, 1, true);
    expectNpf(at, 0x5004, 0, 32, 2, false);
  });

  it('NPF for an access crossing from RAM into a page that is not: the GPA is the second page’s start', () => {
    const hw = cpuWith(
      function* (cpu) {
        yield* cpu.store(0xfffc, 8, 0x1122_3344_5566_7788n);
      },
      fakeMemory(new Set(), { tlb: true }),
      { mode: 64 },
    );
    assert.equal(run(hw), SVM_EXIT_NPF);
    assert.equal(hw.vmcb.exitInfo2, 0x1_0000n);
    assert.deepEqual([...hw.mem.ram.subarray(0xfffc)], [0, 0, 0, 0], 'nothing was written');
    const insn = decodeMmioInsn(hw.vmcb.insnBytes.subarray(0, hw.vmcb.insnLen), 64);
    assert.equal(insn?.addr.disp, 0xfffcn, 'the instruction still names the operand’s start');
  });

  it('IOIO: exit_info_2 and next_rip are the next RIP, by the instruction’s encoded length', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.out(0x3f8, 1, 0); // EE: 1 byte
      yield* cpu.out(0x80, 1, 0); // E6 ib: 2
      yield* cpu.in(0x71, 4); // 66 E5 ib: 3 in 16-bit code
      yield* cpu.in(0xcfc, 2); // ED: 1
    });
    let at = RESET_RIP;
    for (const [len, info] of [
      [1, { port: 0x3f8, size: 1, in: false }],
      [2, { port: 0x80, size: 1, in: false }],
      [3, { port: 0x71, size: 4, in: true }],
      [1, { port: 0xcfc, size: 2, in: true }],
    ] as const) {
      assert.equal(run(hw), SVM_EXIT_IOIO);
      assert.equal(hw.vmcb.exitInfo1Lo, encodeIoioInfo({ ...info, addrSize: 16 }));
      assert.equal(hw.vmcb.exitInfo2, BigInt(at + len));
      assert.equal(hw.vmcb.nextRip, BigInt(at + len));
      assert.equal(rip(hw), at);
      skip(hw);
      at += len;
    }
  });

  it('IOIO in 32-bit code: 2-byte ports take the 66 prefix, and the address size is 32', () => {
    const hw = cpuWith(
      function* (cpu) {
        yield* cpu.out(0x3f8, 2, 0x1234);
        yield* cpu.out(0x3f8, 4, 0x1234);
      },
      fakeMemory(),
      { mode: 32 },
    );
    assert.equal(run(hw), SVM_EXIT_IOIO);
    assert.equal(hw.vmcb.exitInfo1Lo, encodeIoioInfo({ port: 0x3f8, size: 2, in: false, addrSize: 32 }));
    assert.equal(hw.vmcb.nextRip, BigInt(RESET_RIP + 2));
    skip(hw);
    assert.equal(run(hw), SVM_EXIT_IOIO);
    assert.equal(hw.vmcb.nextRip, BigInt(RESET_RIP + 3));
  });

  it('next_rip on CPUID (2 bytes), MSR (2), HLT (1) and VMMCALL (3); the registers KVM reads', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.cpuid(0x8000_001f, 3);
      yield* cpu.wrmsr(0xc000_0082, 0x1122_3344_5566_7788n);
      yield* cpu.rdmsr(0x1b);
      yield* cpu.hlt();
      yield* cpu.vmmcall(12n, 1n, 2n, 3n, 4n);
    });
    let at = RESET_RIP;
    const step = (code: number, len: number) => {
      assert.equal(run(hw), code);
      assert.equal(rip(hw), at);
      assert.equal(hw.vmcb.nextRip, BigInt(at + len));
      skip(hw);
      at += len;
    };
    step(SVM_EXIT_CPUID, 2);
    assert.deepEqual([gpr(hw.regs, VCPU_REGS_RAX), gpr(hw.regs, VCPU_REGS_RCX)], [0x8000_001fn, 3n]);
    step(SVM_EXIT_MSR, 2);
    assert.equal(hw.vmcb.exitInfo1, 1n, 'exit_info_1 = 1: WRMSR');
    assert.equal(gpr(hw.regs, VCPU_REGS_RCX), 0xc000_0082n);
    assert.deepEqual([hw.regs[0], hw.regs[4]], [0x5566_7788, 0x1122_3344], 'EAX and EDX');
    step(SVM_EXIT_MSR, 2);
    assert.equal(hw.vmcb.exitInfo1, 0n, 'exit_info_1 = 0: RDMSR');
    step(SVM_EXIT_HLT, 1);
    step(SVM_EXIT_VMMCALL, 3);
    assert.deepEqual(
      [0, 3, 1, 2, 6].map((r) => gpr(hw.regs, r)),
      [12n, 1n, 2n, 3n, 4n],
      'RAX = nr; RBX, RCX, RDX, RSI = args',
    );
  });

  it('re-executes an instruction whose RIP KVM left alone; completes it when RIP is next_rip', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.hlt();
      cpu.notes.after = true;
      yield* cpu.hlt();
    });
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.equal(hw.cpu.instructions, 1);
    assert.equal(run(hw), SVM_EXIT_HLT, 'the same HLT again');
    assert.equal(hw.cpu.instructions, 2);
    assert.equal(hw.cpu.notes.after, undefined);
    assert.equal(rip(hw), RESET_RIP);
    skip(hw);
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.equal(hw.cpu.notes.after, true);
    assert.equal(rip(hw), RESET_RIP + 1, 'the second HLT sits after the first');
  });

  it('a RIP moved anywhere but next_rip leaves a scripted guest without code: it shuts down', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.hlt();
      yield* cpu.hlt();
    });
    assert.equal(run(hw), SVM_EXIT_HLT);
    hw.vmcb.save.setBigUint64(SAVE_RIP, 0x1234n, true);
    assert.equal(run(hw), SVM_EXIT_SHUTDOWN);
    assert.match(String(hw.cpu.crash), /RIP moved to 0x1234/);
  });

  it('an exception injected at a pending instruction leaves RIP at that instruction', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.out(0x80, 1, 0);
      try {
        yield* cpu.wrmsr(0x1234, 0n);
      } catch (e) {
        cpu.notes.caught = (e as GuestException).vector;
      }
      yield* cpu.hlt();
    });
    assert.equal(run(hw), SVM_EXIT_IOIO);
    skip(hw);
    assert.equal(run(hw), SVM_EXIT_MSR);
    const wrmsrRip = rip(hw);
    injectException(hw, 13, 0);
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.equal(hw.cpu.notes.caught, 13);
    assert.equal(rip(hw), wrmsrRip, 'the HLT runs where the faulting WRMSR was');
    assert.equal(hw.vmcb.nextRip, BigInt(wrmsrRip + 1));
  });

  it('an exception without an error code reaches the program without one', () => {
    const hw = cpuWith(function* (cpu) {
      try {
        yield* cpu.cpuid(0);
      } catch (e) {
        cpu.notes.e = [(e as GuestException).vector, (e as GuestException).errorCode];
      }
      yield* cpu.hlt();
    });
    assert.equal(run(hw), SVM_EXIT_CPUID);
    injectException(hw, 6);
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.deepEqual(hw.cpu.notes.e, [6, undefined]);
  });
});

describe('ScriptedCpu: interrupts, the interrupt window and the host tick', () => {
  it('an external interrupt runs the interrupt handler (IF clear inside, set again after IRET), then the program', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.sti();
      yield* cpu.out(0x80, 1, 1);
      cpu.notes.order = [...(cpu.notes.order as string[]), 'program'];
      yield* cpu.hlt();
    });
    hw.cpu.notes.order = [];
    hw.cpu.interruptHandler = function* (vector, cpu) {
      cpu.notes.order = [...(cpu.notes.order as string[]), `irq ${vector}`];
      yield* cpu.out(0x20, 1, 0x20); // EOI to the PIC, from inside the handler
    };
    assert.equal(run(hw), SVM_EXIT_IOIO);
    assert.ok(ifSet(hw), 'STI set IF');
    skip(hw);
    hw.vmcb.eventInj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | 0x30;
    assert.equal(run(hw), SVM_EXIT_IOIO);
    assert.equal(hw.vmcb.exitInfo1Lo >>> 16, 0x20, 'the handler’s OUT');
    assert.equal(ifSet(hw), false, 'IF is clear in the handler (interrupt gate)');
    assert.deepEqual(hw.cpu.notes.order, ['irq 48']);
    skip(hw);
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.deepEqual(hw.cpu.notes.order, ['irq 48', 'program']);
    assert.ok(ifSet(hw), 'IRET restored IF');
  });

  it('an NMI runs the handler without touching IF; without a handler an interrupt is lost', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.out(0x80, 1, 1);
      yield* cpu.hlt();
      yield* cpu.hlt();
    });
    assert.equal(run(hw), SVM_EXIT_IOIO);
    skip(hw);
    hw.vmcb.eventInj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | 0x30;
    assert.equal(run(hw), SVM_EXIT_HLT, 'no handler: straight on to the HLT');
    assert.equal(hw.vmcb.eventInj, 0);
    skip(hw);
    const seen: number[] = [];
    hw.cpu.interruptHandler = function* (vector, cpu) {
      seen.push(vector);
      yield* cpu.out(0x70, 1, 0x80);
    };
    hw.vmcb.eventInj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_NMI | 2;
    assert.equal(run(hw), SVM_EXIT_IOIO, 'the NMI handler’s OUT');
    assert.deepEqual(seen, [2]);
    skip(hw);
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.equal(ifSet(hw), false, 'IF stays as it was (clear)');
  });

  it('V_IRQ with the VINTR intercept: the CPU exits SVM_EXIT_VINTR as soon as IF is set, between instructions', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.out(0x80, 1, 1);
      yield* cpu.sti();
      cpu.notes.afterSti = true;
      yield* cpu.hlt();
    });
    hw.vmcb.intCtl |= V_IRQ_MASK;
    hw.vmcb.setIntercept(SVM_EXIT_VINTR, true);
    assert.equal(run(hw), SVM_EXIT_IOIO, 'IF = 0: the window is closed');
    skip(hw);
    assert.equal(run(hw), SVM_EXIT_VINTR);
    assert.equal(hw.cpu.notes.afterSti, undefined, 'the exit came right after the STI');
    assert.equal(rip(hw), RESET_RIP + 3, 'past OUT imm8 (2) and STI (1)');
    hw.vmcb.intCtl &= ~V_IRQ_MASK; // KVM closes the window
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.equal(hw.cpu.notes.afterSti, true);
  });

  it('STI and CLI set and clear RFLAGS.IF in the save area without exiting; CLI closes the window again', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.sti();
      yield* cpu.out(0x80, 1, 0);
      yield* cpu.cli();
      yield* cpu.out(0x80, 1, 1);
      yield* cpu.hlt();
    });
    assert.equal(ifSet(hw), false, 'RESET: IF = 0');
    assert.equal(run(hw), SVM_EXIT_IOIO);
    assert.equal(ifSet(hw), true);
    assert.equal(hw.cpu.instructions, 2, 'STI did not exit');
    skip(hw);
    assert.equal(run(hw), SVM_EXIT_IOIO);
    assert.equal(ifSet(hw), false);
    skip(hw);
    hw.vmcb.intCtl |= V_IRQ_MASK;
    hw.vmcb.setIntercept(SVM_EXIT_VINTR, true);
    assert.equal(run(hw), SVM_EXIT_HLT, 'IF = 0: no VINTR exit');
  });

  it('V_IRQ without the VINTR intercept does not exit', () => {
    const hw = cpuWith(function* (cpu) {
      yield* cpu.sti();
      yield* cpu.hlt();
    });
    hw.vmcb.intCtl |= V_IRQ_MASK;
    assert.equal(run(hw), SVM_EXIT_HLT);
  });

  it('the run budget ends VMRUN with SVM_EXIT_INTR between instructions; the program resumes without losing a value', () => {
    const mem = fakeMemory();
    for (let i = 0; i < 8; i++) mem.ram[0x100 + i] = 0x10 + i;
    const hw = cpuWith(function* (cpu) {
      const got: bigint[] = [];
      for (let i = 0; i < 8; i++) got.push(yield* cpu.load(0x100 + i, 1));
      cpu.notes.got = got;
      yield* cpu.hlt();
    }, mem);
    assert.equal(run(hw, 3), SVM_EXIT_INTR);
    assert.equal(hw.cpu.instructions, 3);
    assert.equal(hw.vmcb.nextRip, 0n);
    assert.equal(rip(hw), RESET_RIP + 3 * 3, 'three 3-byte loads retired');
    let n = 0;
    while (run(hw, 1) === SVM_EXIT_INTR) n++;
    assert.equal(hw.vmcb.exitCode, SVM_EXIT_HLT);
    assert.equal(n, 5, 'one load per tick');
    assert.deepEqual(hw.cpu.notes.got, [0x10n, 0x11n, 0x12n, 0x13n, 0x14n, 0x15n, 0x16n, 0x17n]);
    assert.equal(mem.accesses, 8, 'no load ran twice');
  });

  it('an instruction KVM left to run again is not started when the budget is already spent', () => {
    const faulting = new Set([3]);
    const hw = cpuWith(function* (cpu) {
      cpu.notes.v = yield* cpu.load(0x3000, 1);
      yield* cpu.hlt();
    }, fakeMemory(faulting));
    assert.equal(run(hw), SVM_EXIT_NPF);
    faulting.clear();
    hw.mem.ram[0x3000] = 9;
    assert.equal(run(hw, 0), SVM_EXIT_INTR);
    assert.equal(hw.mem.accesses, 1, 'not executed yet');
    assert.equal(run(hw), SVM_EXIT_HLT);
    assert.equal(hw.cpu.notes.v, 9n);
  });

  it('SEV-ES: an intercepted HLT is trap-like (the CPU moves its own RIP); an unprotected HLT is not', () => {
    const program: GuestProgram = function* (cpu) {
      yield* cpu.hlt();
      cpu.notes.after = true;
      yield* cpu.hlt();
    };
    const sev = cpuWith(program, fakeMemory(), { protectedState: true });
    assert.equal(run(sev), SVM_EXIT_HLT);
    assert.equal(sev.vmcb.nextRip, BigInt(RESET_RIP + 1));
    assert.equal(run(sev), SVM_EXIT_HLT, 'KVM cannot move RIP, and need not');
    assert.equal(sev.cpu.notes.after, true);
    const plain = cpuWith(program);
    run(plain);
    run(plain);
    assert.equal(plain.cpu.notes.after, undefined, 'unprotected: the same HLT again');
  });
});
