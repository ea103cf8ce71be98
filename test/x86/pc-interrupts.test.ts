/**
 * The VMM's legacy interrupt path end to end on the x86 interpreter: a real-mode guest points IVT
 * vector 0x20 at a handler that counts ticks and sends the 8259 a non-specific EOI, initialises the
 * PIC pair (ICW1-4, vector bases 0x20/0x28, only IRQ0 unmasked), starts PIT channel 0 in mode 2,
 * and waits for N ticks, then reports the count to the debug-exit port. The VMM
 * (createPcInterrupts + attachIrqchip) injects IRQ0's vector with KVM_INTERRUPT, sleeps on the
 * clock when the guest HLTs, arms the host timer so that a guest that spins is interrupted (EINTR)
 * at the PIT's edge, and asks for an interrupt window while the guest runs with IF=0.
 *
 * No SEV-ES variant yet: an SEV-ES guest needs a #VC handler and a GHCB for every OUT to the PIC
 * and PIT, so it would be a C guest on examples/guests/lib (whose IDT has 32 entries: the guest
 * would load its own, with vector 0x20) and one more committed image.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HOST_TICK_INSTRUCTIONS } from '../../src/kvm/vcpu.js';
import { Errno } from '../../src/uapi/errno.js';
import { entryRegs } from '../../src/uapi/regs.js';
import { flatRealModeSregs } from '../../src/uapi/sregs.js';
import { PIT_FREQ } from '../../src/vmm/devices/i8254.js';
import { createPcInterrupts } from '../../src/vmm/devices/pc-interrupts.js';
import { isVmmError } from '../../src/vmm/errors.js';
import { mustCreate } from '../../src/vmm/test-util.js';
import { hexBytes } from './guest-bytes.js';

const LOAD = 0x1000;
const TICKS = 0x2000;
const IRR_SEEN = 0x2002;

/**
 * The guest, at 0x1000 (as --32 with .code16). Entered with BX = the ticks to wait for, CX = the
 * PIT count, SI = 0: `sti; hlt` until each tick; SI ≠ 0: first DI iterations of LOOP with IF=0,
 * then store the PIC's IRR (OCW3 0x0a) at 0x2002, STI and spin.
 *
 *   cli; xor ax,ax; mov ds,ax; mov ss,ax; mov sp,0x8000
 *   mov word [0x80],handler; mov word [0x82],0; mov word [0x2000],0      ; IVT[0x20], ticks
 *   mov al,0x11; out 0x20,al; out 0xa0,al                                ; ICW1
 *   mov al,0x20; out 0x21,al; mov al,0x28; out 0xa1,al                   ; ICW2
 *   mov al,4; out 0x21,al; mov al,2; out 0xa1,al                         ; ICW3
 *   mov al,1; out 0x21,al; out 0xa1,al                                   ; ICW4
 *   mov al,0xfe; out 0x21,al; mov al,0xff; out 0xa1,al                   ; OCW1: IRQ0 only
 *   mov al,0x34; out 0x43,al; mov ax,cx; out 0x40,al; mov al,ah; out 0x40,al ; ch0 mode 2
 *   test si,si; jnz spin
 *   wait: sti; hlt; cmp [0x2000],bx; jb wait; jmp done
 *   spin: mov cx,di; 1: loop 1b; mov al,0x0a; out 0x20,al; in al,0x20; mov [0x2002],al
 *         sti; 2: cmp [0x2000],bx; jb 2b
 *   done: cli; mov ax,[0x2000]; mov dx,0x501; out dx,al; hlt
 *   handler: inc word [0x2000]; push ax; mov al,0x20; out 0x20,al; pop ax; iret
 */
const GUEST = hexBytes(
  `fa 31 c0 8e d8 8e d0 bc 00 80 c7 06 80 00 77 10 c7 06 82 00 00 00 c7 06 00 20 00 00 b0 11 e6 20
   e6 a0 b0 20 e6 21 b0 28 e6 a1 b0 04 e6 21 b0 02 e6 a1 b0 01 e6 21 e6 a1 b0 fe e6 21 b0 ff e6 a1
   b0 34 e6 43 89 c8 e6 40 88 e0 e6 40 85 f6 75 0a fb f4 39 1e 00 20 72 f8 eb 14 89 f9 e2 fe b0 0a
   e6 20 e4 20 a2 02 20 fb 39 1e 00 20 72 fa fa a1 00 20 ba 01 05 ee f4 ff 06 00 20 50 b0 20 e6 20
   58 cf`.trim(),
);

/** The ns `ticks` PIT input ticks take. */
const ns = (ticks: number): number => Math.ceil((ticks * 1e9) / PIT_FREQ);

function machine(regs: { ticks: number; count: number; spin?: number }) {
  const vmm = mustCreate({ cpu: 'x86', ram: [{ gpa: 0, size: 0x10000 }] });
  const clock = vmm.platform.clock;
  assert.ok(clock);
  const irq = createPcInterrupts(vmm.pio, vmm.mmio, clock);
  if (isVmmError(irq)) assert.fail(irq.message);
  assert.equal(vmm.attachIrqchip(irq), undefined);
  assert.equal(vmm.writeGpa(LOAD, GUEST), undefined);
  const v = vmm.addVcpu();
  if (isVmmError(v)) assert.fail(v.message);
  const sregs = v.fd.getSregs();
  assert.ok(!(sregs instanceof Errno));
  assert.equal(v.fd.setSregs(flatRealModeSregs(sregs)), undefined);
  const set = v.fd.setRegs({
    ...entryRegs(BigInt(LOAD), 0x8000n),
    rbx: BigInt(regs.ticks),
    rcx: BigInt(regs.count),
    rsi: regs.spin === undefined ? 0n : 1n,
    rdi: BigInt(regs.spin ?? 0),
  });
  assert.ok(!(set instanceof Errno));
  const exits = new Map<string, number>();
  const run = () =>
    vmm.run({ maxKvmRuns: 10_000, onExit: (_id, e) => exits.set(e.kind, (exits.get(e.kind) ?? 0) + 1) });
  const u16 = (gpa: number): number => {
    const b = new Uint8Array(2);
    assert.equal(vmm.readGpa(gpa, b), undefined);
    return b[0]! | (b[1]! << 8);
  };
  return { vmm, clock, irq, run, exits, u16 };
}

describe('VMM: 8259 + 8254 interrupts into a real-mode guest', () => {
  it('HLT until each tick: the VMM sleeps to the PIT edge and injects vector 0x20 five times', () => {
    const m = machine({ ticks: 5, count: 1000 });
    const r = m.run();
    assert.deepEqual(r.stop, { kind: 'debug-exit', vcpu: 0, code: (5 << 1) | 1 });
    assert.equal(m.u16(TICKS), 5);
    assert.equal(m.irq.pic.acknowledged[0], 5, 'five INTA cycles on IRQ0');
    assert.equal(
      m.irq.pic.acknowledged.reduce((a, b) => a + b),
      5,
      'nothing else, no spurious IRQ7',
    );
    assert.equal(m.exits.get('Hlt'), 5, 'one HLT per tick');
    const instructions = m.clock.instructions();
    assert.ok(instructions < 1000, `a few instructions (${instructions})`);
    assert.ok(m.clock.now() >= ns(5000), 'five periods of 1000 PIT ticks passed');
    assert.ok(m.clock.now() < ns(6000));
    assert.ok(m.clock.now() - instructions > ns(4900), 'the VMM slept');
    assert.equal(m.vmm.pio.unclaimed.length, 0);
    m.vmm.destroy();
  });

  it('a spinning guest: the host timer interrupts KVM_RUN at the edge; IF=0 latches the tick until STI opens the window', () => {
    const count = 20; // 16.8 µs = 16762 instructions per period
    const m = machine({ ticks: 3, count, spin: 60_000 }); // LOOP with IF=0: over 3 periods
    const r = m.run();
    assert.deepEqual(r.stop, { kind: 'debug-exit', vcpu: 0, code: (3 << 1) | 1 });
    assert.equal(m.u16(TICKS), 3);
    assert.equal(m.irq.pic.acknowledged[0], 3);
    assert.equal(m.u16(IRR_SEEN) & 0xff, 0x01, 'IRQ0 waited in the IRR while IF=0');
    assert.equal(m.exits.get('Hlt') ?? 0, 0);
    assert.equal(m.exits.get('IrqWindowOpen'), 1, 'the window the VMM asked for while IF=0');
    assert.ok(r.kvmRuns > r.exits, 'KVM_RUNs that ended in EINTR at the host timer');
    assert.equal(m.clock.now(), m.clock.instructions(), 'never slept: time is what the CPU ran');
    // The first tick is taken at STI (after the 60000-instruction loop); KVM sees the host timer
    // only at a host tick (every HOST_TICK_INSTRUCTIONS of a KVM_RUN), so the other two come one
    // host tick apart, and the PIT periods that ended between them coalesce into one edge each.
    const now = m.clock.now();
    const expected = 60_000 + 2 * HOST_TICK_INSTRUCTIONS;
    assert.ok(now >= expected && now < expected + 200, `${now}`);
    assert.ok(now > 10 * ns(count), 'over ten PIT periods for three interrupts');
    m.vmm.destroy();
  });
});
