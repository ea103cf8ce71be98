/**
 * The scripted CPU on its own, driven the way SVM code drives a CPU (vmrun → #VMEXIT record,
 * skipInstruction, injectException), over a fake guest-physical memory.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeIoioInfo,
  SVM_EXIT_HLT,
  SVM_EXIT_IOIO,
  SVM_EXIT_NPF,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_VMGEXIT,
} from '../uapi/svm.js';
import {
  type GuestPhysMemory,
  NPT_FAULT,
  NPT_MMIO,
  NPT_OK,
  PFERR_PRESENT_MASK,
  PFERR_RSVD_MASK,
  PFERR_WRITE_MASK,
  VCPU_REGS_RAX,
} from './backend.js';
import { GuestException, type GuestProgram, observeOps, ScriptedCpu } from './scripted.js';

/** 64 KiB of RAM at GPA 0; MMIO above; pages listed in `faulting` fault (NPT_FAULT). */
function fakeMemory(faulting = new Set<number>()): GuestPhysMemory & { ram: Uint8Array; accesses: number } {
  const ram = new Uint8Array(0x10000);
  const mem = {
    ram,
    accesses: 0,
    read(gpa: number, dst: Uint8Array) {
      mem.accesses++;
      if (faulting.has(Math.floor(gpa / 4096))) return NPT_FAULT;
      if (gpa + dst.length > ram.length) return NPT_MMIO;
      dst.set(ram.subarray(gpa, gpa + dst.length));
      return NPT_OK;
    },
    write(gpa: number, src: Uint8Array) {
      mem.accesses++;
      if (faulting.has(Math.floor(gpa / 4096))) return NPT_FAULT;
      if (gpa + src.length > ram.length) return NPT_MMIO;
      ram.set(src, gpa);
      return NPT_OK;
    },
  };
  return mem;
}

function cpuWith(program: GuestProgram, mem = fakeMemory(), opts: { protectedState?: boolean } = {}) {
  const cpu = new ScriptedCpu(program, opts);
  cpu.attach(mem);
  return { cpu, mem };
}

describe('ScriptedCpu', () => {
  it('RAM accesses complete inside the CPU; the first #VMEXIT is the OUT, with its IOIO info', () => {
    const { cpu, mem } = cpuWith(function* (cpu) {
      yield* cpu.store(0x100, 4, 0x0403_0201n);
      cpu.notes.v = yield* cpu.load(0x101, 2);
      yield* cpu.out(0x3f8, 1, 0x41);
    });
    const e = cpu.vmrun();
    assert.equal(e.exitCode, SVM_EXIT_IOIO);
    assert.equal(e.exitInfo1, encodeIoioInfo({ port: 0x3f8, size: 1, in: false }));
    assert.equal(cpu.gprs![VCPU_REGS_RAX], 0x41n);
    assert.deepEqual([...mem.ram.subarray(0x100, 0x104)], [1, 2, 3, 4]);
    assert.equal(cpu.notes.v, 0x0302n);
  });

  it('an MMIO load exits NPF with the reserved-bit error code, the GPA and the access size', () => {
    const { cpu } = cpuWith(function* (cpu) {
      yield* cpu.load(0x2_0000, 8);
    });
    const e = cpu.vmrun();
    assert.equal(e.exitCode, SVM_EXIT_NPF);
    assert.equal(e.exitInfo1, PFERR_RSVD_MASK | PFERR_PRESENT_MASK);
    assert.equal(e.exitInfo2, 0x2_0000);
    assert.equal(e.accessSize, 8);
  });

  it('a store to a faulting page exits NPF with the write bit and its value in RAX', () => {
    const { cpu } = cpuWith(
      function* (cpu) {
        yield* cpu.store(0x3010, 2, 0xbeefn);
      },
      fakeMemory(new Set([3])),
    );
    const e = cpu.vmrun();
    assert.equal(e.exitCode, SVM_EXIT_NPF);
    assert.equal(e.exitInfo1, PFERR_WRITE_MASK);
    assert.equal(e.exitInfo2, 0x3010);
    assert.equal(cpu.gprs![VCPU_REGS_RAX], 0xbeefn);
  });

  it('without skipInstruction the intercepted instruction runs again (fault-like); with it, the program moves on', () => {
    const faulting = new Set([3]);
    const { cpu, mem } = cpuWith(function* (cpu) {
      cpu.notes.v = yield* cpu.load(0x3000, 1);
      yield* cpu.hlt();
    }, fakeMemory(faulting));
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_NPF);
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_NPF);
    assert.equal(mem.accesses, 2, 'executed twice');
    faulting.clear();
    mem.ram[0x3000] = 7;
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_HLT);
    assert.equal(cpu.notes.v, 7n);
  });

  it('an IN completes with what KVM put in RAX once KVM skips the instruction', () => {
    const { cpu } = cpuWith(function* (cpu) {
      cpu.notes.v = yield* cpu.in(0x60, 2);
      yield* cpu.hlt();
    });
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_IOIO);
    cpu.gprs![VCPU_REGS_RAX] = 0xffff_1234n;
    cpu.skipInstruction();
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_HLT);
    assert.equal(cpu.notes.v, 0x1234);
  });

  it('an injected exception is thrown into the program at the intercepted instruction', () => {
    const { cpu } = cpuWith(function* (cpu) {
      try {
        yield* cpu.rdmsr(0x1234);
      } catch (e) {
        cpu.notes.vector = (e as GuestException).vector;
        cpu.notes.code = (e as GuestException).errorCode;
      }
      yield* cpu.hlt();
    });
    cpu.vmrun();
    cpu.injectException(13, 0);
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_HLT);
    assert.deepEqual(cpu.notes, { vector: 13, code: 0 });
  });

  it('observeOps shows each instruction first and forwards values and injected exceptions unchanged', () => {
    const seen: string[] = [];
    const { cpu } = cpuWith(function* (cpu) {
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
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_IOIO);
    cpu.gprs![VCPU_REGS_RAX] = 0x7an;
    cpu.skipInstruction();
    cpu.vmrun(); // the RDMSR
    cpu.injectException(13, 0);
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_HLT);
    assert.deepEqual(cpu.notes.result, { v: 0x7a, vector: 13 });
    assert.deepEqual(seen, ['in', 'rdmsr'], 'the HLT after it is not observed');
  });

  it('VMGEXIT outside an SEV-ES guest is #UD (vector 6)', () => {
    const { cpu } = cpuWith(function* (cpu) {
      yield* cpu.vmgexit();
    });
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_SHUTDOWN);
    assert.ok(cpu.crash instanceof GuestException && cpu.crash.vector === 6);
  });

  it('protected state: no registers for KVM; an IN raises #VC, whose handler may VMGEXIT (trap-like)', () => {
    const { cpu } = cpuWith(
      function* (cpu) {
        cpu.notes.v = yield* cpu.in(0x60, 1);
        yield* cpu.hlt();
      },
      fakeMemory(),
      { protectedState: true },
    );
    cpu.vcHandler = function* (op, cpu) {
      assert.equal(op.op, 'in');
      yield* cpu.vmgexit();
      return 0x5a;
    };
    assert.equal(cpu.gprs, null);
    assert.throws(() => cpu.skipInstruction());
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_VMGEXIT);
    assert.equal(cpu.notes.v, undefined);
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_HLT, 'the next VMRUN resumes after the VMGEXIT');
    assert.equal(cpu.notes.v, 0x5a);
  });

  it('protected state without a #VC handler: the #VC (vector 29) shuts the CPU down', () => {
    const { cpu } = cpuWith(
      function* (cpu) {
        yield* cpu.out(0x3f8, 1, 0);
      },
      fakeMemory(),
      { protectedState: true },
    );
    assert.equal(cpu.vmrun().exitCode, SVM_EXIT_SHUTDOWN);
    assert.ok(cpu.crash instanceof GuestException && cpu.crash.vector === 29);
    assert.equal(cpu.state, 'shutdown');
  });
});
