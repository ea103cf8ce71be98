/**
 * The in-kernel irqchip (irqchip.ts) as guests and a VMM use it through the fds: INIT and SIPI sent
 * by one vCPU to another through the x2APIC ICR, fixed and NMI IPIs, KVM_IRQ_LINE through an IOAPIC
 * redirection entry set with KVM_SET_IRQCHIP, the TPR and EOI, and HLT waiting in the kernel
 * (KVM_RUN fails EINTR with KVM_EXIT_INTR while the vCPU is HALTED) until an interrupt wakes it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InterruptHandler, ScriptedCpu } from '../cpu/scripted.js';
import { ScriptedGuests } from '../cpu/scripted-guests.js';
import {
  KVM_IRQCHIP_IOAPIC,
  KVM_MP_STATE_HALTED,
  KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED,
} from '../uapi/irq.js';
import { APIC_IRR, APIC_ISR } from '../uapi/lapic.js';
import type { ModelVcpuFd, ModelVmFd } from './fd.js';
import { expectExit, expectFailed, newVm, ok } from './test-util.js';

/** x2APIC MSRs. */
const X2APIC_ID = 0x802;
const X2APIC_TPR = 0x808;
const X2APIC_EOI = 0x80b;
const X2APIC_ICR = 0x830;
/** ICR: delivery modes (bits 8-10) and level assert (bit 14). */
const ICR_FIXED = 0x000;
const ICR_NMI = 0x400;
const ICR_INIT = 0x500 | 0x4000;
const ICR_STARTUP = 0x600 | 0x4000;
const icr = (dest: number, low: number) => (BigInt(dest) << 32n) | BigInt(low);

/** A VM with an in-kernel irqchip and one vCPU per program, created in order (ids 0, 1, ...). */
function machine(
  ...guests: { program: (cpu: ScriptedCpu) => Generator<unknown, void, unknown>; irq?: InterruptHandler }[]
) {
  const scripted = new ScriptedGuests();
  guests.forEach((g, id) => {
    scripted.load(id, {
      program: g.program as never,
      ...(g.irq ? { interruptHandler: g.irq } : {}),
    });
  });
  const env = newVm({ cpus: scripted.cpus });
  ok(env.vmFd.createIrqchip());
  const vcpus = guests.map((_, id) => ok(env.vmFd.createVcpu(id)));
  return { ...env, scripted, vcpus };
}

/** A handler that notes each vector (cpu.notes.irqs) and, for external interrupts, EOIs it. */
const noteAndEoi: InterruptHandler = function* (vector, cpu) {
  cpu.notes.irqs = [...((cpu.notes.irqs as number[] | undefined) ?? []), vector];
  if (vector !== 2) yield* cpu.wrmsr(X2APIC_EOI, 0n);
};

/** Bit `vector` of the 256-bit LAPIC register at `base` (IRR, ISR) in KVM_GET_LAPIC's state. */
function apicBit(vcpuFd: ModelVcpuFd, base: number, vector: number): boolean {
  const regs = ok(vcpuFd.getLapic()).regs;
  const word = new DataView(regs.buffer).getUint32(base + ((vector >>> 5) << 4), true);
  return ((word >>> (vector & 31)) & 1) === 1;
}

/** Program IOAPIC pin `pin` with KVM_GET/SET_IRQCHIP: a fixed interrupt `vector` to APIC `dest`. */
function routePin(vmFd: ModelVmFd, pin: number, vector: number, dest: number, masked = false): void {
  const chip = ok(vmFd.getIrqchip(KVM_IRQCHIP_IOAPIC));
  const dv = new DataView(chip.chip.buffer, chip.chip.byteOffset, chip.chip.byteLength);
  assert.equal(dv.getBigUint64(24 + 8 * pin, true) & (1n << 16n), 1n << 16n, 'masked at reset');
  dv.setBigUint64(24 + 8 * pin, (BigInt(dest) << 56n) | (masked ? 1n << 16n : 0n) | BigInt(vector), true);
  ok(vmFd.setIrqchip(chip));
}

describe('INIT and SIPI through the x2APIC ICR', () => {
  it('vCPU 0 sends INIT then SIPI 0x9a to vCPU 1, which waited in the kernel and now starts at 9A00:0000', () => {
    const { vcpus, scripted } = machine(
      {
        program: function* (cpu) {
          cpu.notes.id = yield* cpu.rdmsr(X2APIC_ID);
          yield* cpu.wrmsr(X2APIC_ICR, icr(1, ICR_INIT));
          yield* cpu.wrmsr(X2APIC_ICR, icr(1, ICR_STARTUP | 0x9a));
          yield* cpu.out(0x80, 1, 0);
        },
      },
      {
        program: function* (cpu) {
          cpu.notes.id = yield* cpu.rdmsr(X2APIC_ID);
          yield* cpu.out(0x81, 1, 1);
        },
      },
    );
    const [bsp, ap] = vcpus as [ModelVcpuFd, ModelVcpuFd];
    // With an in-kernel APIC an AP starts UNINITIALIZED (kvm_arch_vcpu_create): it waits for INIT and SIPI.
    assert.equal(ok(ap.getMpState()), KVM_MP_STATE_UNINITIALIZED);
    assert.equal(ok(bsp.getMpState()), KVM_MP_STATE_RUNNABLE, 'vCPU 0 is the BSP');
    assert.equal(expectFailed(ap, 'EINTR').left.kind, 'Intr', 'the AP waits in the kernel');
    assert.equal(scripted.cpu(1)!.state, 'ready', 'its program has not started');
    assert.equal(ok(ap.getMpState()), KVM_MP_STATE_UNINITIALIZED);
    assert.equal(expectExit(bsp, 'IoOut').port, 0x80, 'the ICR writes were handled in the kernel');
    assert.equal(scripted.cpu(0)!.notes.id, 0n);
    // KVM_RUN of an UNINITIALIZED vCPU takes the INIT and SIPI, then fails with EAGAIN: run it again.
    expectFailed(ap, 'EAGAIN');
    assert.equal(scripted.cpu(1)!.state, 'ready');
    const out = expectExit(ap, 'IoOut');
    assert.equal(out.port, 0x81);
    assert.equal(scripted.cpu(1)!.notes.id, 1n, 'x2APIC ID = vCPU id');
    assert.equal(ok(ap.getMpState()), KVM_MP_STATE_RUNNABLE);
    const s = ok(ap.getSregs());
    assert.deepEqual([s.cs.selector, s.cs.base], [0x9a00, 0x9_a000n]);
    // RDMSR (2 bytes) at IP 0, then the OUT imm8 (2 bytes) exited with RIP at 2.
    assert.equal(ok(ap.getRegs()).rip, 2n);
  });

  it('a SIPI to a running vCPU does not restart it', () => {
    const { vcpus, scripted } = machine(
      {
        program: function* (cpu) {
          yield* cpu.wrmsr(X2APIC_ICR, icr(1, ICR_STARTUP | 0x10));
          yield* cpu.out(0x80, 1, 0);
        },
      },
      {
        program: function* (cpu) {
          yield* cpu.out(0x81, 1, 0);
          cpu.notes.after = true;
          yield* cpu.out(0x81, 1, 1);
        },
      },
    );
    const [bsp, ap] = vcpus as [ModelVcpuFd, ModelVcpuFd];
    ok(ap.setMpState(KVM_MP_STATE_RUNNABLE)); // started by the VMM, without INIT/SIPI
    expectExit(ap, 'IoOut');
    expectExit(bsp, 'IoOut');
    assert.equal(expectExit(ap, 'IoOut').data[0], 1, 'the program went on');
    assert.equal(scripted.cpu(1)!.notes.after, true);
    assert.equal(ok(ap.getSregs()).cs.selector, 0xf000);
    assert.equal(ok(ap.getMpState()), KVM_MP_STATE_RUNNABLE);
  });

  it('INIT alone leaves the target waiting in INIT_RECEIVED until a SIPI comes', () => {
    const { vcpus, scripted } = machine(
      {
        program: function* (cpu) {
          yield* cpu.wrmsr(X2APIC_ICR, icr(1, ICR_INIT));
          yield* cpu.out(0x80, 1, 0);
          yield* cpu.wrmsr(X2APIC_ICR, icr(1, ICR_STARTUP | 0x20));
          yield* cpu.out(0x80, 1, 1);
        },
      },
      {
        program: function* (cpu) {
          yield* cpu.out(0x81, 1, 0);
        },
      },
    );
    const [bsp, ap] = vcpus as [ModelVcpuFd, ModelVcpuFd];
    expectExit(bsp, 'IoOut');
    expectFailed(ap, 'EAGAIN'); // the INIT taken: INIT_RECEIVED
    expectFailed(ap, 'EINTR');
    assert.equal(ok(ap.getMpState()), KVM_MP_STATE_INIT_RECEIVED);
    expectFailed(ap, 'EINTR');
    assert.equal(scripted.cpu(1)!.state, 'ready');
    expectExit(bsp, 'IoOut');
    expectExit(ap, 'IoOut');
    assert.equal(ok(ap.getSregs()).cs.base, 0x2_0000n);
  });

  it('a SIPI that found the vCPU running is dropped: a later INIT alone does not start it', () => {
    const { vcpus } = machine(
      {
        program: function* (cpu) {
          yield* cpu.wrmsr(X2APIC_ICR, icr(1, ICR_STARTUP | 0x10));
          yield* cpu.out(0x80, 1, 0);
          yield* cpu.wrmsr(X2APIC_ICR, icr(1, ICR_INIT));
          yield* cpu.out(0x80, 1, 1);
        },
      },
      {
        program: function* (cpu) {
          yield* cpu.out(0x81, 1, 0);
          yield* cpu.out(0x81, 1, 1);
        },
      },
    );
    const [bsp, ap] = vcpus as [ModelVcpuFd, ModelVcpuFd];
    ok(ap.setMpState(KVM_MP_STATE_RUNNABLE)); // started by the VMM, without INIT/SIPI
    expectExit(ap, 'IoOut');
    expectExit(bsp, 'IoOut');
    expectExit(ap, 'IoOut');
    expectExit(bsp, 'IoOut');
    expectFailed(ap, 'EINTR');
    assert.equal(ok(ap.getMpState()), KVM_MP_STATE_INIT_RECEIVED);
  });
});

describe('HLT with an in-kernel APIC waits in the kernel', () => {
  it('KVM_RUN fails EINTR with KVM_EXIT_INTR while HALTED, however often it is called', () => {
    const { vcpus, scripted } = machine({
      program: function* (cpu) {
        yield* cpu.sti();
        yield* cpu.hlt();
        cpu.notes.woke = true;
        yield* cpu.out(0x80, 1, 0);
      },
      irq: noteAndEoi,
    });
    const v0 = vcpus[0]!;
    for (let i = 0; i < 3; i++) {
      const f = expectFailed(v0, 'EINTR');
      assert.equal(f.left.kind, 'Intr');
      assert.equal(ok(v0.getMpState()), KVM_MP_STATE_HALTED);
    }
    assert.equal(scripted.cpu(0)!.notes.woke, undefined);
    assert.equal(ok(v0.getRegs()).rip, 0xfff0n + 2n, 'RIP is past STI and HLT');
    assert.equal(scripted.cpu(0)!.instructions, 2, 'the guest did not run again while halted');
  });

  it('a fixed IPI from another vCPU wakes it: the handler runs, then the code after HLT', () => {
    const { vcpus, scripted } = machine(
      {
        program: function* (cpu) {
          yield* cpu.sti();
          yield* cpu.hlt();
          yield* cpu.out(0x80, 1, 0);
        },
        irq: noteAndEoi,
      },
      {
        program: function* (cpu) {
          yield* cpu.wrmsr(X2APIC_ICR, icr(0, ICR_FIXED | 0x50));
          yield* cpu.out(0x81, 1, 0);
        },
      },
    );
    const [v0, v1] = vcpus as [ModelVcpuFd, ModelVcpuFd];
    ok(v1.setMpState(KVM_MP_STATE_RUNNABLE)); // the AP, started by the VMM
    expectFailed(v0, 'EINTR');
    expectExit(v1, 'IoOut');
    assert.ok(apicBit(v0, APIC_IRR, 0x50), 'requested in vCPU 0’s IRR');
    expectExit(v0, 'IoOut');
    assert.deepEqual(scripted.cpu(0)!.notes.irqs, [0x50]);
    assert.equal(ok(v0.getMpState()), KVM_MP_STATE_RUNNABLE);
    assert.equal(apicBit(v0, APIC_IRR, 0x50), false);
    assert.equal(apicBit(v0, APIC_ISR, 0x50), false, 'EOI ended it');
  });

  it('an NMI IPI wakes it too, and reaches the handler as vector 2', () => {
    const { vcpus, scripted } = machine(
      {
        program: function* (cpu) {
          yield* cpu.hlt(); // IF = 0: only an NMI gets through
          yield* cpu.out(0x80, 1, 0);
        },
        irq: noteAndEoi,
      },
      {
        program: function* (cpu) {
          yield* cpu.wrmsr(X2APIC_ICR, icr(0, ICR_NMI));
          yield* cpu.out(0x81, 1, 0);
        },
      },
    );
    const [v0, v1] = vcpus as [ModelVcpuFd, ModelVcpuFd];
    ok(v1.setMpState(KVM_MP_STATE_RUNNABLE)); // the AP, started by the VMM
    expectFailed(v0, 'EINTR');
    expectExit(v1, 'IoOut');
    assert.equal(ok(v0.getVcpuEvents()).nmi.pending, 1);
    expectExit(v0, 'IoOut');
    assert.deepEqual(scripted.cpu(0)!.notes.irqs, [2]);
    assert.equal(ok(v0.getVcpuEvents()).nmi.pending, 0);
  });
});

describe('KVM_IRQ_LINE through the IOAPIC', () => {
  it('a redirection entry set with KVM_SET_IRQCHIP sends the pin’s rising edge to the guest’s handler as its vector', () => {
    const { vmFd, vcpus, scripted } = machine({
      program: function* (cpu) {
        yield* cpu.sti();
        yield* cpu.hlt();
        yield* cpu.out(0x80, 1, 0);
      },
      irq: noteAndEoi,
    });
    const v0 = vcpus[0]!;
    routePin(vmFd, 4, 0x41, 0);
    const back = ok(vmFd.getIrqchip(KVM_IRQCHIP_IOAPIC));
    assert.equal(
      new DataView(back.chip.buffer).getBigUint64(24 + 8 * 4, true),
      0x41n,
      'KVM_GET_IRQCHIP reads it back',
    );
    expectFailed(v0, 'EINTR'); // halted
    ok(vmFd.irqLine(4, 1));
    assert.ok(apicBit(v0, APIC_IRR, 0x41));
    expectExit(v0, 'IoOut');
    assert.deepEqual(scripted.cpu(0)!.notes.irqs, [0x41]);
    assert.equal(apicBit(v0, APIC_ISR, 0x41), false, 'the handler’s EOI');
  });

  it('a masked pin, an unrouted pin and a line already high deliver nothing', () => {
    const { vmFd, vcpus, scripted } = machine({
      program: function* (cpu) {
        yield* cpu.sti();
        yield* cpu.hlt();
        yield* cpu.hlt();
        yield* cpu.out(0x80, 1, 0);
      },
      irq: noteAndEoi,
    });
    const v0 = vcpus[0]!;
    routePin(vmFd, 3, 0x33, 0, true);
    routePin(vmFd, 4, 0x34, 0);
    routePin(vmFd, 6, 0x36, 7); // no APIC 7
    expectFailed(v0, 'EINTR');
    ok(vmFd.irqLine(3, 1));
    ok(vmFd.irqLine(5, 1)); // still masked from reset
    ok(vmFd.irqLine(6, 1));
    ok(vmFd.irqLine(30, 1)); // no such pin
    expectFailed(v0, 'EINTR');
    ok(vmFd.irqLine(4, 1));
    expectFailed(v0, 'EINTR'); // woke, took 0x34, halted again
    assert.deepEqual(scripted.cpu(0)!.notes.irqs, [0x34]);
    ok(vmFd.irqLine(4, 1)); // no edge: the line is high already
    expectFailed(v0, 'EINTR');
    ok(vmFd.irqLine(4, 0));
    ok(vmFd.irqLine(4, 1)); // a new edge
    expectExit(v0, 'IoOut');
    assert.deepEqual(scripted.cpu(0)!.notes.irqs, [0x34, 0x34]);
  });

  it('the TPR holds back vectors of its priority class and below until it is lowered', () => {
    const { vmFd, vcpus, scripted } = machine({
      program: function* (cpu) {
        yield* cpu.wrmsr(X2APIC_TPR, 0x50n);
        yield* cpu.sti();
        yield* cpu.out(0x80, 1, 0);
        yield* cpu.out(0x80, 1, 1);
        yield* cpu.wrmsr(X2APIC_TPR, 0n);
        yield* cpu.out(0x80, 1, 2);
      },
      irq: noteAndEoi,
    });
    const v0 = vcpus[0]!;
    routePin(vmFd, 1, 0x51, 0);
    routePin(vmFd, 2, 0x61, 0);
    expectExit(v0, 'IoOut');
    ok(vmFd.irqLine(1, 1));
    ok(vmFd.irqLine(2, 1));
    assert.equal(expectExit(v0, 'IoOut').data[0], 1);
    assert.deepEqual(scripted.cpu(0)!.notes.irqs, [0x61], '0x51 is in class 5, at the TPR');
    assert.equal(expectExit(v0, 'IoOut').data[0], 2);
    assert.deepEqual(scripted.cpu(0)!.notes.irqs, [0x61, 0x51]);
  });
});
