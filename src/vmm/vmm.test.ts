/**
 * The VMM: machine layout, unprotected guests talking to the devices, every stop reason, and
 * nothing left charged to the host allocator after destroy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestException } from '../cpu/scripted.js';
import { GhcbClient } from '../guest/ghcb-client.js';
import {
  KVM_EXIT_IO,
  KVM_EXIT_MMIO,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
} from '../uapi/exit-reasons.js';
import { GHCB_OFF_SW_SCRATCH } from '../uapi/ghcb.js';
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY } from '../uapi/memslot.js';
import {
  SVM_EXIT_IOIO,
  SVM_IOIO_STR_MASK,
  SVM_VMGEXIT_AP_HLT_LOOP,
  SVM_VMGEXIT_MMIO_READ,
} from '../uapi/svm.js';
import { isVmmError } from './errors.js';
import {
  allocatorOf,
  DEVICE_GPA,
  expectStop,
  GHCB_GPA,
  hostOf,
  kvmVmOf,
  mmioReader,
  mustAddVcpu,
  mustCreate,
  sevMachine,
} from './test-util.js';
import { Vmm } from './vmm.js';

describe('Vmm.create: machine layout', () => {
  it('gives each RAM region its own hva range and memslot, with its backing and flags', () => {
    const vmm = mustCreate({
      ram: [
        { name: 'ram', gpa: 0, size: 0x10000 },
        { name: 'rom', gpa: 0xf0000, size: 0x10000, readonly: true },
        { name: 'dax', gpa: 0x100000, size: 0x4000, backing: 'file', file: 'dax.img', logDirty: true },
        { name: 'lazy', gpa: 0x200000, size: 0x2000, backing: 'lazy' },
      ],
    });
    const hvas = [0, 0xf0000, 0x100000, 0x200000].map((g) => vmm.gpaToHva(g)!);
    assert.equal(new Set(hvas).size, 4);
    for (const [i, r] of vmm.ram.regions.entries()) {
      const slot = kvmVmOf(vmm).memslotForGpa(r.gpa)!;
      assert.equal(slot.id, i);
      assert.equal(slot.userspaceAddr, hvas[i]);
    }
    assert.equal(kvmVmOf(vmm).memslotForGpa(0xf0000)!.flags, KVM_MEM_READONLY);
    assert.equal(kvmVmOf(vmm).memslotForGpa(0x100000)!.flags, KVM_MEM_LOG_DIRTY_PAGES);
    assert.equal(vmm.gpaToHva(0x1234), hvas[0]! + 0x1234);
    assert.equal(vmm.gpaToHva(0x20000), undefined);
    assert.equal(vmm.files.get('dax.img')?.size, 0x4000);
    assert.equal(hostOf(vmm).describe(hvas[2]!).state, 'file');
    assert.deepEqual(hostOf(vmm).describe(hvas[3]!), {
      state: 'missing',
      prot: 3,
      start: hvas[3],
      end: hvas[3]! + 0x2000,
      populated: false,
    });
    assert.deepEqual(
      allocatorOf(vmm).live(),
      new Map([['dirty-bitmap', { count: 1, bytes: 16 }]]),
      "the 'dax' region's dirty bitmap (4 pages: two halves of one u64) is charged, nothing else",
    );
    vmm.destroy();
    assert.equal(allocatorOf(vmm).inUse(), 0);
    assert.equal(hostOf(vmm).describe(hvas[0]!).state, 'unmapped');
  });

  it('refuses bad descriptions with an errno, as values, leaving nothing charged', () => {
    const cases: [Parameters<typeof Vmm.create>[0], string][] = [
      [{ ram: [{ gpa: 0x800, size: 0x1000 }] }, 'EINVAL'],
      [{ ram: [{ gpa: 0, size: 0x1800 }] }, 'EINVAL'],
      [
        {
          ram: [
            { gpa: 0, size: 0x2000 },
            { gpa: 0x1000, size: 0x1000 },
          ],
        },
        'EEXIST',
      ],
      [{ ram: [{ gpa: 0, size: 0x2000 }], mmio: [{ kind: 'register', gpa: 0x1000, size: 8 }] }, 'EEXIST'],
      [{ ram: [{ gpa: 0, size: 0x1000 }], sev: { profile: 'seed', ghcbVersion: 2 } }, 'EINVAL'],
      [{ ram: [{ gpa: 0, size: 0x1000, readonly: true }], sev: { profile: 'current' } }, 'EINVAL'],
      [{ ram: [{ gpa: 0, size: 0x100000, logDirty: true }], host: { budget: 8 } }, 'ENOMEM'],
    ];
    for (const [config, errno] of cases) {
      const r = Vmm.create(config);
      assert.ok(isVmmError(r), JSON.stringify(config));
      assert.equal(r.errno, errno, r.message);
    }
  });

  it('lets a 5.17 kernel give an SEV-ES VM a read-only slot (the VMM passes KVM through)', () => {
    const vmm = mustCreate({ ram: [{ gpa: 0, size: 0x1000, readonly: true }], sev: { profile: 'seed' } });
    assert.equal(kvmVmOf(vmm).memslotForGpa(0)!.flags, KVM_MEM_READONLY);
    vmm.destroy();
  });

  it('limits vCPUs to the machine description', () => {
    const vmm = mustCreate({ ram: [{ gpa: 0, size: 0x1000 }], vcpus: 1 });
    mustAddVcpu(vmm, function* () {});
    const second = vmm.addVcpu(function* () {});
    assert.ok(isVmmError(second));
    assert.equal(second.errno, 'EINVAL');
    vmm.destroy();
  });
});

describe('an unprotected guest and the devices', () => {
  it('writes to the serial port, polls LSR, reads an unclaimed port as 0xff', () => {
    const vmm = mustCreate({ ram: [{ gpa: 0, size: 0x1000 }] });
    const v = mustAddVcpu(vmm, function* (cpu) {
      for (const c of 'hello\n') {
        while (((yield* cpu.in(0x3fd, 1)) & 0x20) === 0);
        yield* cpu.out(0x3f8, 1, c.charCodeAt(0));
      }
      cpu.notes.empty = yield* cpu.in(0x80, 2);
    });
    const r = vmm.run();
    expectStop(r.stop, 'guest-done');
    assert.equal(r.serial, 'hello\n');
    assert.equal(v.cpu.notes.empty, 0xffff);
    assert.deepEqual(vmm.pio.unclaimed, [{ addr: 0x80, size: 2, write: false }]);
    assert.equal(r.exits, 6 * 2 + 1 + 1, 'LSR + THR per character, the port 0x80 read, the final HLT');
    vmm.destroy();
  });

  it('reads MMIO registers, writes and reads back an MMIO RAM window; unclaimed MMIO reads 0', () => {
    // 8-byte loads: the guest runs in long mode (no single move does 8 bytes in real mode).
    const vmm = mustCreate({
      boot: 'long-mode',
      ram: [{ gpa: 0, size: 0x1000 }],
      mmio: [
        { name: 'regs', kind: 'register', gpa: 0xd000_0000, size: 0x10, value: 0x0123_4567_89ab_cdefn },
        { name: 'win', kind: 'ram-window', gpa: 0xe000_0000, size: 0x1000 },
      ],
    });
    const v = mustAddVcpu(vmm, function* (cpu) {
      cpu.notes.reg = yield* cpu.load(0xd000_0008, 8);
      cpu.notes.low = yield* cpu.load(0xd000_0000, 2);
      yield* cpu.store(0xe000_0010, 4, 0xcafef00dn);
      cpu.notes.back = yield* cpu.load(0xe000_0010, 4);
      cpu.notes.hole = yield* cpu.load(0xf000_0000, 4);
    });
    expectStop(vmm.run().stop, 'guest-done');
    assert.equal(v.cpu.notes.reg, 0x0123_4567_89ab_cdefn);
    assert.equal(v.cpu.notes.low, 0xcdefn);
    assert.equal(v.cpu.notes.back, 0xcafef00dn);
    assert.equal(v.cpu.notes.hole, 0n);
    assert.deepEqual(vmm.mmio.unclaimed, [{ addr: 0xf000_0000, size: 4, write: false }]);
    vmm.destroy();
  });

  it('reads a read-only region as RAM; its writes become MMIO exits that no device claims', () => {
    const vmm = mustCreate({
      ram: [
        { name: 'ram', gpa: 0, size: 0x1000 },
        { name: 'rom', gpa: 0xf000, size: 0x1000, readonly: true },
      ],
    });
    hostOf(vmm).write(vmm.gpaToHva(0xf000)!, Uint8Array.of(0xea, 0x5b));
    const v = mustAddVcpu(vmm, function* (cpu) {
      yield* cpu.store(0xf000, 2, 0x1234n);
      cpu.notes.rom = yield* cpu.load(0xf000, 2);
    });
    const r = vmm.run();
    expectStop(r.stop, 'guest-done');
    assert.equal(v.cpu.notes.rom, 0x5bean);
    assert.deepEqual(vmm.mmio.unclaimed, [{ addr: 0xf000, size: 2, write: true }]);
    assert.equal(r.exits, 2, 'the MMIO write and the final HLT; the read never leaves the CPU');
  });

  it('answers MSR exits with #GP by default and through the handler when given', () => {
    const program = function* (cpu: import('../cpu/scripted.js').ScriptedCpu) {
      try {
        cpu.notes.read = yield* cpu.rdmsr(0xc0ff_ee00);
      } catch (e) {
        cpu.notes.read = e instanceof GuestException ? `#${e.vector}` : String(e);
      }
      try {
        yield* cpu.wrmsr(0xc0ff_ee01, 5n);
        cpu.notes.write = 'ok';
      } catch (e) {
        cpu.notes.write = e instanceof GuestException ? `#${e.vector}` : String(e);
      }
    };
    const plain = mustCreate({ ram: [{ gpa: 0, size: 0x1000 }] });
    const a = mustAddVcpu(plain, program);
    expectStop(plain.run().stop, 'guest-done');
    assert.deepEqual(a.cpu.notes, { read: '#13', write: '#13' });
    const written: bigint[] = [];
    const handled = mustCreate(
      { ram: [{ gpa: 0, size: 0x1000 }] },
      {
        msr: {
          read: (index) => (index === 0xc0ff_ee00 ? 0x1_0000_0002n : undefined),
          write: (_index, value) => written.push(value) > 0,
        },
      },
    );
    const b = mustAddVcpu(handled, program);
    expectStop(handled.run().stop, 'guest-done');
    assert.deepEqual(b.cpu.notes, { read: 0x1_0000_0002n, write: 'ok' });
    assert.deepEqual(written, [5n]);
  });

  it('runs vCPUs round-robin, one exit each in turn', () => {
    const vmm = mustCreate({ ram: [{ gpa: 0, size: 0x1000 }] });
    for (const c of 'ab') {
      mustAddVcpu(vmm, function* (cpu) {
        for (let i = 0; i < 3; i++) yield* cpu.out(0x3f8, 1, c.charCodeAt(0));
      });
    }
    const r = vmm.run();
    expectStop(r.stop, 'guest-done');
    assert.equal(r.serial, 'ababab');
  });
});

describe('SEV-ES guests and the devices', () => {
  it('string I/O: every element of a REP OUTS reaches the serial port', () => {
    const vmm = mustCreate(sevMachine('current'));
    mustAddVcpu(vmm, function* (cpu) {
      const g = new GhcbClient(cpu, GHCB_GPA);
      g.register();
      yield* g.ioOutString(0x3f8, 1, new TextEncoder().encode('rep outsb\n'));
      yield* g.ioOut(0x3f8, 1, 0x21);
    });
    const r = vmm.run();
    expectStop(r.stop, 'guest-done');
    assert.equal(r.serial, 'rep outsb\n!');
    assert.deepEqual(
      r.vmgexits.map((x) => [x.exitCode, x.outcome]),
      [
        [BigInt(SVM_EXIT_IOIO), { kind: 'userspace', reasons: [KVM_EXIT_IO] }],
        [BigInt(SVM_EXIT_IOIO), { kind: 'userspace', reasons: [KVM_EXIT_IO] }],
      ],
      'the REP OUTS in one VMGEXIT (one KVM_EXIT_IO for its 10 bytes), then the OUT',
    );
  });

  it('MMIO through the GHCB reaches the register device', () => {
    const vmm = mustCreate(sevMachine('current', {}, 2));
    const v = mustAddVcpu(vmm, mmioReader(GHCB_GPA + 0x800));
    const r = vmm.run();
    expectStop(r.stop, 'guest-done');
    assert.deepEqual(v.cpu.notes.reads, [{ result: 'ok', value: 0xdeadbeefn }]);
    assert.deepEqual(
      r.vmgexits.map((x) => [x.exitCode, x.outcome.kind]),
      [[BigInt(SVM_VMGEXIT_MMIO_READ), 'userspace']],
    );
  });
});

describe('stop reasons', () => {
  it('debug-exit: the guest ends the run with (v << 1) | 1; the next run resumes it', () => {
    const vmm = mustCreate({ ram: [{ gpa: 0, size: 0x1000 }] });
    mustAddVcpu(vmm, function* (cpu) {
      yield* cpu.out(0x501, 1, 0x10);
      yield* cpu.out(0x3f8, 1, 0x2e);
    });
    const r = vmm.run();
    assert.deepEqual(r.stop, { kind: 'debug-exit', vcpu: 0, code: 0x21 });
    const again = vmm.run();
    expectStop(again.stop, 'guest-done');
    assert.equal(again.serial, '.');
  });

  it('debug-exit honours the configured port, and can be switched off', () => {
    const vmm = mustCreate({ ram: [{ gpa: 0, size: 0x1000 }], debugExitPort: 0xf4 });
    mustAddVcpu(vmm, function* (cpu) {
      yield* cpu.out(0x501, 1, 1);
      yield* cpu.out(0xf4, 1, 0);
    });
    assert.deepEqual(vmm.run().stop, { kind: 'debug-exit', vcpu: 0, code: 1 });
    const off = mustCreate({ ram: [{ gpa: 0, size: 0x1000 }], debugExitPort: false, serial: false });
    mustAddVcpu(off, function* (cpu) {
      yield* cpu.out(0x501, 1, 1);
      yield* cpu.out(0x3f8, 1, 0x41);
    });
    const r = off.run();
    expectStop(r.stop, 'guest-done');
    assert.equal(r.serial, '');
    assert.deepEqual(
      off.pio.unclaimed,
      [
        { addr: 0x501, size: 1, write: true },
        { addr: 0x3f8, size: 1, write: true },
      ],
      'with both devices off, both OUTs are unclaimed',
    );
  });

  it('shutdown: an exception nobody handles, with the crash text; a triple fault without', () => {
    const vmm = mustCreate({ ram: [{ gpa: 0, size: 0x1000 }] });
    mustAddVcpu(vmm, function* (cpu) {
      yield* cpu.out(0x3f8, 1, 0x41);
      throw new RangeError('guest bug');
    });
    const r = vmm.run();
    assert.deepEqual(r.stop, { kind: 'shutdown', vcpu: 0, crash: 'RangeError: guest bug' });
    const tf = mustCreate({ ram: [{ gpa: 0, size: 0x1000 }] });
    mustAddVcpu(tf, function* (cpu) {
      yield* cpu.tripleFault();
    });
    assert.deepEqual(tf.run().stop, { kind: 'shutdown', vcpu: 0 });
  });

  it('internal-error: KVM has no handler for an SEV-ES guest RDTSC request (as in Linux)', () => {
    const vmm = mustCreate(sevMachine('current'));
    mustAddVcpu(vmm, function* (cpu) {
      const g = new GhcbClient(cpu, GHCB_GPA);
      g.register();
      yield* g.rdtsc();
    });
    const s = expectStop(vmm.run().stop, 'internal-error');
    assert.equal(s.suberror, KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON);
  });

  it('limit: a guest that halts forever uses up the run', () => {
    const vmm = mustCreate({ ram: [{ gpa: 0, size: 0x1000 }] });
    mustAddVcpu(vmm, function* (cpu) {
      for (;;) yield* cpu.hlt();
    });
    const r = vmm.run({ maxKvmRuns: 25 });
    assert.deepEqual(r.stop, { kind: 'limit', kvmRuns: 25 });
    assert.equal(r.exits, 25);
  });

  it('ap-reset-hold: stops without an in-kernel APIC; with one, the VMM wakes the AP with SIPIs', () => {
    // As Linux's AP does: hold again until a SIPI says it was woken (at most 3 times).
    const program = function* (cpu: import('../cpu/scripted.js').ScriptedCpu) {
      const g = new GhcbClient(cpu, GHCB_GPA);
      g.register();
      const seen: boolean[] = [];
      for (let i = 0; i < 3 && !seen.at(-1); i++) seen.push((yield* g.apHltLoop()).woken);
      cpu.notes.woken = seen;
    };
    const vmm = mustCreate(sevMachine('current'));
    mustAddVcpu(vmm, program);
    assert.deepEqual(
      vmm.run().stop,
      { kind: 'ap-reset-hold', vcpu: 0 },
      'KVM_EXIT_AP_RESET_HOLD: no SIPI possible',
    );
    const held = mustCreate({ ...sevMachine('current'), irqchip: true });
    mustAddVcpu(held, program);
    assert.deepEqual(
      held.run().stop,
      { kind: 'ap-reset-hold', vcpu: 0 },
      'in the kernel, and the run says stop',
    );
    const woken = mustCreate({ ...sevMachine('current'), irqchip: true });
    const v = mustAddVcpu(woken, program);
    const r = woken.run({ apResetHold: 'sipi' });
    expectStop(r.stop, 'guest-done');
    // sev_vcpu_deliver_sipi_vector: the first SIPI only starts an AP; the next one wakes it.
    assert.deepEqual(v.cpu.notes.woken, [false, true]);
    assert.deepEqual(
      r.vmgexits.map((x) => [x.exitCode, x.outcome.kind]),
      [
        [BigInt(SVM_VMGEXIT_AP_HLT_LOOP), 'handled'],
        [BigInt(SVM_VMGEXIT_AP_HLT_LOOP), 'handled'],
      ],
      'two AP_HLT_LOOP VMGEXITs, each handled in the kernel (the wait never reached userspace)',
    );
  });

  it('kernel-oops: the seed kernel divides by a string I/O size of 0', () => {
    const vmm = mustCreate(sevMachine('seed'));
    mustAddVcpu(vmm, function* (cpu) {
      const g = new GhcbClient(cpu, GHCB_GPA);
      g.register();
      const info1 = BigInt(SVM_IOIO_STR_MASK | (0x3f8 << 16)); // OUTS, size field 0
      yield* g.vmgexit(SVM_EXIT_IOIO, info1, 1n, [[GHCB_OFF_SW_SCRATCH, BigInt(GHCB_GPA + 0x800)]]);
    });
    const s = expectStop(vmm.run().stop, 'kernel-oops');
    assert.match(s.message, /divide error in kvm_sev_es_outs/);
    vmm.destroy();
    assert.equal(allocatorOf(vmm).inUse(), 0);
  });

  it('kvm-error: an errno the policies do not cover stops the run (seed: TERM_REQ is EINVAL)', () => {
    const vmm = mustCreate(sevMachine('seed'));
    mustAddVcpu(vmm, function* (cpu) {
      yield* new GhcbClient(cpu, GHCB_GPA).terminateMsr(1, 4);
    });
    const r = vmm.run({
      policies: { enomem: { action: 'rerun', maxRetries: 5 }, efault: { action: 'rerun', maxRetries: 5 } },
    });
    assert.deepEqual(r.stop, { kind: 'kvm-error', vcpu: 0, errno: 'EINVAL' });
    assert.deepEqual(r.retried, []);
  });
});

describe('destroy', () => {
  it('returns every byte KVM charged, even with a bounce buffer live mid-VMGEXIT', () => {
    const vmm = mustCreate({
      ...sevMachine('seed'),
      ram: [
        { name: 'ram', gpa: 0, size: 0x10000 },
        { name: 'log', gpa: 0x100000, size: 0x10000, logDirty: true },
      ],
    });
    mustAddVcpu(vmm, mmioReader(0x4000));
    const r = vmm.run({ maxKvmRuns: 1 });
    expectStop(r.stop, 'limit');
    assert.ok(allocatorOf(vmm).live().has('ghcb-scratch'), 'the bounce buffer is held across the MMIO exit');
    vmm.destroy();
    assert.equal(allocatorOf(vmm).inUse(), 0);
    assert.equal(allocatorOf(vmm).liveCount(), 0);
    assert.deepEqual(
      vmm.run().stop,
      { kind: 'kvm-error', vcpu: 0, errno: 'EBADF' },
      'KVM_RUN on a closed vCPU fd',
    );
  });
});

describe('tracing', () => {
  it("forwards every event to the caller's sink and folds its own copy per run", () => {
    const seen: string[] = [];
    const vmm = mustCreate(sevMachine('current', {}, 2), { trace: (e) => seen.push(e.name) });
    // Two different VMGEXITs, so each run's fold shows whose events it holds.
    mustAddVcpu(vmm, function* (cpu) {
      const g = new GhcbClient(cpu, GHCB_GPA);
      g.register();
      yield* g.mmioRead(DEVICE_GPA, 4);
      yield* g.ioOut(0x3f8, 1, 0x21);
    });
    const first = vmm.run({ maxKvmRuns: 1 });
    const inFirst = seen.length;
    assert.deepEqual(
      first.vmgexits.map((x) => [x.exitCode, x.outcome]),
      [[BigInt(SVM_VMGEXIT_MMIO_READ), { kind: 'userspace', reasons: [KVM_EXIT_MMIO] }]],
    );
    const second = vmm.run();
    expectStop(second.stop, 'guest-done');
    assert.deepEqual(
      second.vmgexits.map((x) => [x.exitCode, x.outcome]),
      [[BigInt(SVM_EXIT_IOIO), { kind: 'userspace', reasons: [KVM_EXIT_IO] }]],
      'the second run folds only its own events: the OUT, not the MMIO read again',
    );
    assert.deepEqual(seen.slice(0, inFirst), ['kvm_vmgexit_enter', 'sevbox_scratch', 'kvm_userspace_exit']);
    assert.deepEqual(seen.slice(inFirst), [
      'kvm_vmgexit_exit',
      'kvm_vmgexit_enter',
      'kvm_userspace_exit',
      'kvm_vmgexit_exit',
      'kvm_userspace_exit',
    ]);
  });
});
