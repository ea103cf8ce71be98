/**
 * The SVM exit handlers of x86.ts as a VMM sees them through the fd: MMIO emulated from the
 * decode-assist bytes (1/2/4/8-byte loads and stores in 64-bit code, the register merge rules,
 * accesses split at a page boundary), the userspace irqchip (KVM_INTERRUPT, the interrupt window,
 * kvm_run's if_flag and ready_for_interrupt_injection), and the ways KVM_RUN ends with EINTR:
 * immediate_exit at entry, the in-kernel exit budget, and immediate_exit set by another thread while
 * the guest runs.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  type CpuAttachment,
  type CpuBackend,
  PFERR_GUEST_FINAL_HI,
  PFERR_PRESENT_MASK,
  PFERR_RSVD_MASK,
  V_IRQ_MASK,
  type Vmcb,
} from '../cpu/backend.js';
import type { ScriptedCpu } from '../cpu/scripted.js';
import {
  KVM_EXIT_INTR,
  KVM_EXIT_IRQ_WINDOW_OPEN,
  KVM_EXIT_MMIO,
  KVM_INTERNAL_ERROR_EMULATION,
} from '../uapi/exit-reasons.js';
import {
  KVM_RUN_OFF_IF_FLAG,
  KVM_RUN_OFF_IMMEDIATE_EXIT,
  KVM_RUN_OFF_READY_FOR_INTERRUPT_INJECTION,
} from '../uapi/kvm-run.js';
import { SVM_EXIT_NPF, SVM_EXIT_VINTR } from '../uapi/svm.js';
import type { ModelVcpuFd } from './fd.js';
import { expectErrno, expectExit, expectFailed, guest, HVA, hostBytes, newVm, ok } from './test-util.js';

const MMIO = 0xd000_0000;
/** RAX before each MMIO load, set with KVM_SET_REGS: the merge rules show in what survives of it. */
const OLD_RAX = 0x1122_3344_5566_7788n;
/** RESET's RIP: the first instruction of every scripted guest here. */
const RIP0 = 0xfff0n;

const readyForInjection = (vcpuFd: ModelVcpuFd) =>
  vcpuFd.runArea.u8(KVM_RUN_OFF_READY_FOR_INTERRUPT_INJECTION);
const ifFlag = (vcpuFd: ModelVcpuFd) => vcpuFd.runArea.u8(KVM_RUN_OFF_IF_FLAG);

describe('MMIO emulation: loads in 64-bit code', () => {
  for (const [size, len, rax] of [
    // mov al, [moffs64] (A0): the low byte merges into RAX.
    [1, 9, 0x1122_3344_5566_77a1n],
    // mov ax, [moffs64] (66 A1): the low word merges.
    [2, 10, 0x1122_3344_5566_a2a1n],
    // mov eax, [moffs64] (A1): a 32-bit result zero-extends into RAX.
    [4, 9, 0x0000_0000_a4a3_a2a1n],
    // mov rax, [moffs64] (REX.W A1).
    [8, 10, 0xa8a7_a6a5_a4a3_a2a1n],
  ] as const) {
    it(`a ${size}-byte load exits MmioRead of ${size} bytes; the answer reaches RAX (${size < 4 ? 'merged' : size === 4 ? 'zero-extended' : 'whole'}) and RIP moves ${len} bytes`, () => {
      const { vcpuFd, cpu } = guest(
        function* (cpu) {
          cpu.notes.v = yield* cpu.load(MMIO + 0x40, size);
          yield* cpu.hlt();
        },
        { mode: 64 },
      );
      ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rax: OLD_RAX }));
      const exit = expectExit(vcpuFd, 'MmioRead');
      assert.equal(exit.addr, MMIO + 0x40);
      assert.equal(exit.data.length, size);
      exit.data.set([0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8].slice(0, size));
      expectExit(vcpuFd, 'Hlt');
      const regs = ok(vcpuFd.getRegs());
      assert.equal(regs.rax, rax);
      assert.equal(regs.rip, RIP0 + BigInt(len) + 1n, 'past the mov and the HLT');
      assert.equal(cpu.notes.v, 0xa8a7_a6a5_a4a3_a2a1n & ((1n << BigInt(8 * size)) - 1n));
    });
  }

  it('the load’s answer is written when the next KVM_RUN completes it, not before', () => {
    const { vcpuFd } = guest(
      function* (cpu) {
        yield* cpu.load(MMIO, 4);
        yield* cpu.hlt();
      },
      { mode: 64 },
    );
    ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rax: OLD_RAX }));
    const exit = expectExit(vcpuFd, 'MmioRead');
    exit.data.set([1, 2, 3, 4]);
    const regs = ok(vcpuFd.getRegs());
    assert.equal(regs.rax, OLD_RAX);
    assert.equal(regs.rip, RIP0, 'RIP still at the mov');
    expectExit(vcpuFd, 'Hlt');
    assert.equal(ok(vcpuFd.getRegs()).rax, 0x0403_0201n);
  });
});

describe('MMIO emulation: stores in 64-bit code', () => {
  for (const size of [1, 2, 4, 8] as const) {
    it(`a ${size}-byte store exits MmioWrite with the register’s low ${size} bytes, then the guest goes on`, () => {
      const { vcpuFd } = guest(
        function* (cpu) {
          yield* cpu.store(MMIO + 8, size, 0x8877_6655_4433_2211n);
          yield* cpu.hlt();
        },
        { mode: 64 },
      );
      const exit = expectExit(vcpuFd, 'MmioWrite');
      assert.equal(exit.addr, MMIO + 8);
      assert.deepEqual([...exit.data], [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88].slice(0, size));
      assert.equal(exit.reason, KVM_EXIT_MMIO);
      expectExit(vcpuFd, 'Hlt');
      assert.equal(ok(vcpuFd.getRegs()).rip, RIP0 + BigInt(size === 2 || size === 8 ? 10 : 9) + 1n);
    });
  }
});

describe('MMIO emulation: an access split at a page boundary', () => {
  it('a store whose first half is RAM writes that half to RAM and exits MmioWrite for the rest only', () => {
    // RAM is 16 pages: 0xfffc..0xffff is its last 4 bytes; 0x10000 has no memslot.
    const { vcpuFd, host } = guest(
      function* (cpu) {
        yield* cpu.store(0xfffc, 8, 0x8877_6655_4433_2211n);
        yield* cpu.hlt();
      },
      { mode: 64 },
    );
    const exit = expectExit(vcpuFd, 'MmioWrite');
    assert.equal(exit.addr, 0x1_0000);
    assert.deepEqual([...exit.data], [0x55, 0x66, 0x77, 0x88]);
    assert.deepEqual([...hostBytes(host, HVA + 0xfffc, 4)], [0x11, 0x22, 0x33, 0x44]);
    expectExit(vcpuFd, 'Hlt');
    assert.equal(ok(vcpuFd.getRegs()).rip, RIP0 + 11n, 'the store completed once');
  });

  it('a load whose first half is RAM reads that half from RAM and asks userspace for the rest', () => {
    const { vcpuFd, host } = guest(
      function* (cpu) {
        yield* cpu.load(0xfffe, 4);
        yield* cpu.hlt();
      },
      { mode: 64 },
    );
    host.write(HVA + 0xfffe, Uint8Array.of(0x01, 0x02));
    ok(vcpuFd.setRegs({ ...ok(vcpuFd.getRegs()), rax: OLD_RAX }));
    const exit = expectExit(vcpuFd, 'MmioRead');
    assert.equal(exit.addr, 0x1_0000);
    assert.equal(exit.data.length, 2);
    exit.data.set([0x03, 0x04]);
    expectExit(vcpuFd, 'Hlt');
    assert.equal(ok(vcpuFd.getRegs()).rax, 0x0403_0201n);
  });

  it('a store crossing two MMIO pages exits once per page, in order', () => {
    const { vcpuFd } = guest(
      function* (cpu) {
        yield* cpu.store(MMIO + 0xffa, 8, 0x0807_0605_0403_0201n);
        yield* cpu.hlt();
      },
      { mode: 64 },
    );
    const a = expectExit(vcpuFd, 'MmioWrite');
    assert.deepEqual([a.addr, [...a.data]], [MMIO + 0xffa, [1, 2, 3, 4, 5, 6]]);
    const b = expectExit(vcpuFd, 'MmioWrite');
    assert.deepEqual([b.addr, [...b.data]], [MMIO + 0x1000, [7, 8]]);
    expectExit(vcpuFd, 'Hlt');
  });
});

describe('MMIO emulation: instructions the emulator cannot handle', () => {
  /** A CPU that takes a reserved-bit NPF at MMIO with the given decode-assist bytes, forever. */
  function npfCpu(bytes: number[]): CpuBackend {
    let vmcb: Vmcb | undefined;
    return {
      protectedState: false,
      attach(hw: CpuAttachment) {
        vmcb = hw.vmcb;
      },
      vmrun() {
        vmcb!.setExit(SVM_EXIT_NPF, PFERR_RSVD_MASK | PFERR_PRESENT_MASK, PFERR_GUEST_FINAL_HI, MMIO, 0);
        vmcb!.insnBytes.set(bytes);
        vmcb!.insnLen = bytes.length;
      },
    };
  }

  for (const [what, bytes] of [
    ['no decode-assist bytes', []],
    ['an instruction it does not know (NOT [EAX])', [0xf7, 0x10]],
  ] as const) {
    it(`${what}: KVM_EXIT_INTERNAL_ERROR with KVM_INTERNAL_ERROR_EMULATION`, () => {
      const { vmFd } = newVm({ cpus: () => npfCpu([...bytes]) });
      const vcpuFd = ok(vmFd.createVcpu(0));
      const exit = expectExit(vcpuFd, 'InternalError');
      assert.equal(exit.suberror, KVM_INTERNAL_ERROR_EMULATION);
      assert.equal(ok(vcpuFd.getRegs()).rip, RIP0, 'RIP did not move');
    });
  }
});

describe('the userspace irqchip: KVM_INTERRUPT and the interrupt window', () => {
  /** Interrupt handler recording vectors in cpu.notes.irqs, and the order of events in cpu.notes.log. */
  function* handler(vector: number, cpu: ScriptedCpu) {
    log(cpu, `irq ${vector}`);
    yield* cpu.out(0x20, 1, 0x20);
  }
  const log = (cpu: ScriptedCpu, s: string) => {
    cpu.notes.log = [...((cpu.notes.log as string[] | undefined) ?? []), s];
  };

  it('KVM_INTERRUPT with IF = 0: queued (interrupt_bitmap, vcpu events), a VINTR window armed, delivered after STI', () => {
    const { vcpuFd, vcpu, cpu } = guest(
      function* (cpu) {
        yield* cpu.out(0x80, 1, 1);
        log(cpu, 'before sti');
        yield* cpu.out(0x81, 1, 1);
        yield* cpu.sti();
        log(cpu, 'after sti');
        yield* cpu.hlt();
      },
      { interruptHandler: handler },
    );
    expectExit(vcpuFd, 'IoOut');
    assert.equal(ifFlag(vcpuFd), 0, 'RESET: IF = 0');
    assert.equal(readyForInjection(vcpuFd), 0);
    ok(vcpuFd.interrupt(0x30));
    const sregs = ok(vcpuFd.getSregs());
    assert.deepEqual(sregs.interruptBitmap, [1n << 0x30n, 0n, 0n, 0n]);
    assert.deepEqual(ok(vcpuFd.getVcpuEvents()).interrupt, { injected: 1, nr: 0x30, soft: 0, shadow: 0 });
    const out = expectExit(vcpuFd, 'IoOut');
    assert.equal(out.port, 0x81, 'IF = 0: not delivered yet');
    assert.deepEqual(cpu.notes.log, ['before sti']);
    assert.ok(vcpu.vmcb.intCtl & V_IRQ_MASK, 'V_IRQ requested');
    assert.ok(vcpu.vmcb.isIntercept(SVM_EXIT_VINTR), 'VINTR intercepted');
    assert.equal(readyForInjection(vcpuFd), 0, 'an interrupt is still pending');
    const eoi = expectExit(vcpuFd, 'IoOut');
    assert.equal(eoi.port, 0x20, 'the handler’s OUT, right after STI');
    assert.deepEqual(cpu.notes.log, ['before sti', 'irq 48']);
    assert.equal(vcpu.vmcb.intCtl & V_IRQ_MASK, 0, 'the window is closed again');
    assert.equal(vcpu.vmcb.isIntercept(SVM_EXIT_VINTR), false);
    assert.equal(ok(vcpuFd.getVcpuEvents()).interrupt.injected, 0);
    expectExit(vcpuFd, 'Hlt');
    assert.deepEqual(cpu.notes.log, ['before sti', 'irq 48', 'after sti']);
    assert.equal(ifFlag(vcpuFd), 1);
    assert.equal(readyForInjection(vcpuFd), 1);
  });

  it('with IF = 1 the interrupt is injected at the next entry, before the guest’s next instruction', () => {
    const { vcpuFd, cpu } = guest(
      function* (cpu) {
        yield* cpu.sti();
        yield* cpu.out(0x80, 1, 1);
        log(cpu, 'program');
        yield* cpu.hlt();
      },
      { interruptHandler: handler },
    );
    expectExit(vcpuFd, 'IoOut');
    assert.equal(ifFlag(vcpuFd), 1);
    assert.equal(readyForInjection(vcpuFd), 1);
    ok(vcpuFd.interrupt(0xec));
    assert.equal(expectExit(vcpuFd, 'IoOut').port, 0x20);
    assert.deepEqual(cpu.notes.log, ['irq 236']);
    expectExit(vcpuFd, 'Hlt');
    assert.deepEqual(cpu.notes.log, ['irq 236', 'program']);
  });

  it('KVM_EXIT_IRQ_WINDOW_OPEN: the armed window opens while userspace asks for it and has nothing queued', () => {
    const { vcpuFd, cpu } = guest(
      function* (cpu) {
        yield* cpu.out(0x80, 1, 1);
        yield* cpu.out(0x81, 1, 1);
        yield* cpu.sti();
        log(cpu, 'after sti');
        yield* cpu.hlt();
      },
      { interruptHandler: handler },
    );
    expectExit(vcpuFd, 'IoOut');
    ok(vcpuFd.interrupt(0x30)); // IF = 0: KVM arms the window
    expectExit(vcpuFd, 'IoOut');
    // The VMM takes the interrupt back (its PIC line dropped) and asks to hear when IF opens.
    const events = ok(vcpuFd.getVcpuEvents());
    ok(vcpuFd.setVcpuEvents({ ...events, interrupt: { ...events.interrupt, injected: 0 } }));
    vcpuFd.runArea.requestInterruptWindow = 1;
    const exit = expectExit(vcpuFd, 'IrqWindowOpen');
    assert.equal(exit.reason, KVM_EXIT_IRQ_WINDOW_OPEN);
    assert.equal(cpu.notes.log, undefined, 'nothing was delivered, the guest stopped right after STI');
    assert.equal(ifFlag(vcpuFd), 1);
    assert.equal(readyForInjection(vcpuFd), 1);
    ok(vcpuFd.interrupt(0x31));
    vcpuFd.runArea.requestInterruptWindow = 0;
    assert.equal(expectExit(vcpuFd, 'IoOut').port, 0x20);
    expectExit(vcpuFd, 'Hlt');
    assert.deepEqual(cpu.notes.log, ['irq 49', 'after sti']);
  });

  it('KVM_EXIT_IRQ_WINDOW_OPEN when userspace requests the window with nothing queued (Linux: enable_irq_window for req_int_win)', () => {
    const { vcpuFd, cpu } = guest(function* (cpu) {
      yield* cpu.out(0x80, 1, 1);
      yield* cpu.sti();
      log(cpu, 'after sti');
      yield* cpu.out(0x81, 1, 1);
    });
    expectExit(vcpuFd, 'IoOut');
    vcpuFd.runArea.requestInterruptWindow = 1;
    expectExit(vcpuFd, 'IrqWindowOpen');
    assert.equal(cpu.notes.log, undefined);
  });

  it('KVM_NMI: the NMI reaches the guest’s handler at the next entry, even with IF = 0; NMIs are then masked', () => {
    const { vcpuFd, cpu } = guest(
      function* (cpu) {
        yield* cpu.out(0x80, 1, 0);
        log(cpu, 'program');
        yield* cpu.hlt();
      },
      { interruptHandler: handler },
    );
    expectExit(vcpuFd, 'IoOut');
    ok(vcpuFd.nmi());
    assert.deepEqual(ok(vcpuFd.getVcpuEvents()).nmi, { injected: 0, pending: 1, masked: 0 });
    assert.equal(expectExit(vcpuFd, 'IoOut').port, 0x20, 'the handler’s OUT');
    assert.deepEqual(cpu.notes.log, ['irq 2']);
    assert.deepEqual(ok(vcpuFd.getVcpuEvents()).nmi, { injected: 0, pending: 0, masked: 1 });
    expectExit(vcpuFd, 'Hlt');
    assert.deepEqual(cpu.notes.log, ['irq 2', 'program']);
  });

  it('KVM_NMI: the IRET that ends the NMI handler unmasks NMIs, so a second NMI is delivered too', () => {
    const { vcpuFd, cpu } = guest(
      function* (cpu) {
        yield* cpu.out(0x80, 1, 0);
        yield* cpu.out(0x80, 1, 1);
        yield* cpu.out(0x80, 1, 2);
      },
      { interruptHandler: handler },
    );
    expectExit(vcpuFd, 'IoOut');
    ok(vcpuFd.nmi());
    expectExit(vcpuFd, 'IoOut'); // the handler's OUT
    expectExit(vcpuFd, 'IoOut');
    ok(vcpuFd.nmi());
    expectExit(vcpuFd, 'IoOut');
    assert.deepEqual(cpu.notes.log, ['irq 2', 'irq 2']);
  });

  it('KVM_INTERRUPT: vector 256 and above is EINVAL; 255 is accepted', () => {
    const { vcpuFd } = guest(function* (cpu) {
      yield* cpu.hlt();
    });
    expectErrno(vcpuFd.interrupt(256), 'EINVAL');
    expectErrno(vcpuFd.interrupt(-1), 'EINVAL');
    ok(vcpuFd.interrupt(255));
    assert.equal(ok(vcpuFd.getVcpuEvents()).interrupt.nr, 255);
  });
});

describe('KVM_RUN ending with EINTR', () => {
  it('immediate_exit at entry: the pending MMIO read is completed first, then EINTR with exit_reason untouched', () => {
    const { vcpuFd, cpu } = guest(
      function* (cpu) {
        cpu.notes.v = yield* cpu.load(MMIO, 2);
        yield* cpu.hlt();
      },
      { mode: 64 },
    );
    const exit = expectExit(vcpuFd, 'MmioRead');
    exit.data.set([0x34, 0x12]);
    vcpuFd.runArea.immediateExit = 1;
    const f = expectFailed(vcpuFd, 'EINTR');
    assert.equal(vcpuFd.runArea.exitReason, KVM_EXIT_MMIO, 'neither KVM_EXIT_INTR nor KVM_EXIT_UNKNOWN');
    assert.equal(f.left.kind, 'MmioRead');
    assert.equal(ok(vcpuFd.getRegs()).rax & 0xffffn, 0x1234n, 'the MMIO read completed');
    assert.equal(cpu.notes.v, undefined, 'but the guest has not run');
    vcpuFd.runArea.immediateExit = 0;
    expectExit(vcpuFd, 'Hlt');
    assert.equal(cpu.notes.v, 0x1234n);
  });

  it('a guest looping on RAM forever: EINTR and KVM_EXIT_INTR once maxVmexitsPerRun host ticks went by', () => {
    const { vcpuFd, vcpu, cpu } = guest(function* (cpu) {
      for (;;) {
        const v = yield* cpu.load(0x100, 4);
        yield* cpu.store(0x100, 4, v + 1n);
      }
    });
    vcpu.maxVmexitsPerRun = 3;
    const f = expectFailed(vcpuFd, 'EINTR');
    assert.equal(f.left.kind, 'Intr');
    assert.equal(vcpuFd.runArea.exitReason, KVM_EXIT_INTR);
    assert.equal(vcpu.vmexits, 3, 'three host timer interrupts (SVM_EXIT_INTR), nothing else');
    assert.equal(cpu.instructions, 3 * (1 << 16));
  });

  it('a RAM loop cut by EINTR resumes where it was: no load or store lost or repeated', () => {
    const N = 200_000;
    const { vcpuFd, vcpu, host } = guest(function* (cpu) {
      for (let i = 0; i < N; i++) {
        const v = yield* cpu.load(0x100, 4);
        yield* cpu.store(0x100, 4, v + 1n);
      }
      yield* cpu.out(0x80, 4, Number(yield* cpu.load(0x100, 4)));
    });
    vcpu.maxVmexitsPerRun = 2;
    let eintr = 0;
    for (;;) {
      const r = vcpuFd.run();
      if (r.kind !== 'Failed') {
        if (r.kind !== 'IoOut') assert.fail(`expected the final OUT, got ${r.kind}`);
        assert.equal(new DataView(r.data.buffer, r.data.byteOffset, 4).getUint32(0, true), N);
        break;
      }
      assert.equal(r.error.errno, 'EINTR');
      eintr++;
    }
    // 2N + 1 instructions before the OUT, 65536 per tick, 2 ticks per KVM_RUN.
    assert.equal(eintr, Math.floor((2 * N + 1) / (2 << 16)));
    assert.equal(new DataView(hostBytes(host, HVA + 0x100, 4).buffer).getUint32(0, true), N);
  });

  it('immediate_exit set by another thread while KVM_RUN runs ends it with EINTR at the next host tick', async () => {
    const { vcpuFd, vcpu, cpu } = guest(function* (cpu) {
      for (;;) {
        const v = yield* cpu.load(0x100, 4);
        yield* cpu.store(0x100, 4, v + 1n);
      }
    });
    const GUARD = 1000; // host ticks: far more than 50 ms of guest time
    vcpu.maxVmexitsPerRun = GUARD;
    const bytes = vcpuFd.runArea.bytes;
    assert.ok(bytes.buffer instanceof SharedArrayBuffer, 'kvm_run is shared memory');
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       parentPort.postMessage('ready');
       setTimeout(() => { workerData.bytes[${KVM_RUN_OFF_IMMEDIATE_EXIT}] = 1; }, 50);`,
      { eval: true, workerData: { bytes } },
    );
    try {
      await once(worker, 'message');
      const start = performance.now();
      const f = expectFailed(vcpuFd, 'EINTR');
      const ms = performance.now() - start;
      assert.equal(f.left.kind, 'Intr');
      assert.equal(vcpuFd.runArea.immediateExit, 1, 'the other thread’s write');
      assert.ok(vcpu.vmexits < GUARD, `ended by immediate_exit, not the exit budget (${vcpu.vmexits} ticks)`);
      assert.ok(ms >= 40, `the guest ran until the write (${ms.toFixed(0)} ms)`);
      assert.ok(cpu.instructions >= 1 << 16, 'at least one host tick went by');
      assert.equal(cpu.instructions % (1 << 16), 0, 'the run ended at a host tick');
    } finally {
      await worker.terminate();
    }
    // The VMM clears it and the guest goes on.
    vcpuFd.runArea.immediateExit = 0;
    vcpu.maxVmexitsPerRun = 1;
    const before = cpu.instructions;
    expectFailed(vcpuFd, 'EINTR');
    assert.equal(cpu.instructions, before + (1 << 16));
  });
});

describe('kvm_run.ready_for_interrupt_injection with an in-kernel irqchip', () => {
  it('kvm_run.ready_for_interrupt_injection is 1 with an in-kernel irqchip regardless of IF', () => {
    const { vmFd } = newVm();
    ok(vmFd.createIrqchip());
    const vcpuFd = ok(vmFd.createVcpu(0));
    expectExit(vcpuFd, 'Shutdown'); // the default CPU has no code
    assert.equal(ifFlag(vcpuFd), 0);
    assert.equal(readyForInjection(vcpuFd), 1);
  });
});
