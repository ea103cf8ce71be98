/**
 * KVM's emulation of an unprotected guest's INS/OUTS (src/kvm/pio-emulation.ts: io_interception →
 * kvm_emulate_instruction, emulate.c's em_in/em_out) with the x86 interpreter as the CPU, through
 * the fd as a VMM sees it: the exits (one count-1 KVM_EXIT_IO per OUTS element; INS reading ahead
 * up to min(what is left of the page from RDI, 1024 / size, RCX) elements in one exit), RSI/RDI/RCX
 * and RIP, RFLAGS.RF while a REP instruction is in progress, DF, REP with RCX = 0, and a buffer the
 * guest's page tables do not map (#PF, with CR2 and the error code, after the IN exit for INS).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { X86Cpu } from '../../src/cpu/x86/cpu.js';
import { resetRealMode } from '../../src/hostkvm/tiny-guest.js';
import type { ModelVcpuFd } from '../../src/kvm/fd.js';
import { expectExit, HVA, hostBytes, ok, vmWithRam } from '../../src/kvm/test-util.js';
import { flatSegment32 } from '../../src/vmm/long-mode-entry.js';
import { describeEngines, type Engine } from './engines.js';

const CODE = 0x1000;
const RF = 1n << 16n;
const DF = 1n << 10n;
const PORT = 0x3f8n;

/** A real-mode vCPU with `code` (then HLT) at 0x1000, ES = DS = 0x0200 (linear 0x2000 + offset). */
function realVcpu(
  engine: Engine,
  code: readonly number[],
  regs: { rsi?: bigint; rdi?: bigint; rcx?: bigint; rflags?: bigint },
  data: readonly number[] = [],
) {
  const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
  assert.equal(env.host.write(HVA + CODE, Uint8Array.from([...code, 0xf4])), undefined);
  assert.equal(env.host.write(HVA + 0x2000, Uint8Array.from(data)), undefined);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  ok(resetRealMode(vcpuFd, CODE, 0x8000));
  const s = ok(vcpuFd.getSregs());
  ok(
    vcpuFd.setSregs({
      ...s,
      es: { ...s.es, selector: 0x200, base: 0x2000n },
      ds: { ...s.ds, selector: 0x200, base: 0x2000n },
    }),
  );
  const r = ok(vcpuFd.getRegs());
  ok(
    vcpuFd.setRegs({
      ...r,
      rdx: PORT,
      rsi: regs.rsi ?? 0n,
      rdi: regs.rdi ?? 0n,
      rcx: regs.rcx ?? 0n,
      rflags: regs.rflags ?? 2n,
    }),
  );
  return { ...env, vcpuFd };
}

/** Run to the end: every exit as "out <size> x<count> <hex>" or "in <size> x<count>" (answered), then the last kind. */
function exits(vcpuFd: ModelVcpuFd, answer = (k: number) => 0x10 + k): string[] {
  const out: string[] = [];
  let k = 0;
  for (let i = 0; i < 64; i++) {
    const e = vcpuFd.run();
    if (e.kind === 'IoOut') out.push(`out ${e.size} x${e.count} ${Buffer.from(e.data).toString('hex')}`);
    else if (e.kind === 'IoIn') {
      assert.equal(BigInt(e.port), PORT);
      for (let j = 0; j < e.data.length; j++) e.data[j] = answer(k++);
      out.push(`in ${e.size} x${e.count}`);
    } else {
      out.push(e.kind);
      break;
    }
  }
  return out;
}

const bytesAt = (host: ReturnType<typeof vmWithRam>['host'], gpa: number, n: number): string =>
  Buffer.from(hostBytes(host, HVA + gpa, n)).toString('hex');

describeEngines('KVM emulates string I/O of an unprotected guest', (engine) => {
  it('REP OUTSB: one KVM_EXIT_IO of count 1 per element, RIP on the instruction and RF set between them', () => {
    const { vcpuFd } = realVcpu(engine, [0xf3, 0x6e], { rcx: 3n }, [0x61, 0x62, 0x63]);
    const seen: string[] = [];
    for (const ch of ['61', '62', '63']) {
      const e = expectExit(vcpuFd, 'IoOut');
      assert.deepEqual([e.port, e.size, e.count, Buffer.from(e.data).toString('hex')], [0x3f8, 1, 1, ch]);
      const r = ok(vcpuFd.getRegs());
      seen.push(`${r.rip.toString(16)} ${r.rsi} ${r.rcx} ${(r.rflags & RF) !== 0n}`);
    }
    assert.deepEqual(seen, ['1000 1 2 true', '1000 2 1 true', '1000 3 0 true']);
    expectExit(vcpuFd, 'Hlt');
    const r = ok(vcpuFd.getRegs());
    // The re-run with CX = 0 retires it (RF cleared); HLT follows.
    assert.deepEqual([r.rip, r.rsi, r.rcx, r.rflags & RF], [0x1003n, 3n, 0n, 0n]);
  });

  it('OUTSW and OUTSD without REP: one element, RIP past, RSI by the size; with DF set, down', () => {
    const words = realVcpu(engine, [0x6f], { rsi: 2n }, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(exits(words.vcpuFd), ['out 2 x1 0304', 'Hlt']);
    assert.equal(ok(words.vcpuFd.getRegs()).rsi, 4n);
    const dwords = realVcpu(engine, [0x66, 0x6f], { rsi: 4n, rflags: 2n | DF }, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(exits(dwords.vcpuFd), ['out 4 x1 05060708', 'Hlt']);
    const r = ok(dwords.vcpuFd.getRegs());
    assert.deepEqual([r.rsi, r.rip], [0n, 0x1003n]);
    const down = realVcpu(engine, [0xf3, 0x6f], { rsi: 4n, rcx: 3n, rflags: 2n | DF }, [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(exits(down.vcpuFd), ['out 2 x1 0506', 'out 2 x1 0304', 'out 2 x1 0102', 'Hlt']);
    assert.equal(ok(down.vcpuFd.getRegs()).rsi, 0xfffen);
  });

  it('INSB, INSW, INSD without REP: one IN of count 1, the element at ES:DI, DI by the size', () => {
    for (const [code, size] of [
      [[0x6c], 1],
      [[0x6d], 2],
      [[0x66, 0x6d], 4],
    ] as const) {
      const { vcpuFd, host } = realVcpu(engine, code, { rdi: 8n });
      assert.deepEqual(exits(vcpuFd), [`in ${size} x1`, 'Hlt']);
      const want = Buffer.from([0x10, 0x11, 0x12, 0x13].slice(0, size)).toString('hex');
      assert.equal(bytesAt(host, 0x2008, size), want);
      const r = ok(vcpuFd.getRegs());
      assert.deepEqual(
        [r.rdi, r.rip, r.rflags & RF],
        [8n + BigInt(size), BigInt(CODE + code.length + 1), 0n],
      );
    }
  });

  it('REP INSB reads ahead: one IN of count RCX, written at once; RCX 0 and RF clear at the end', () => {
    const { vcpuFd, host } = realVcpu(engine, [0xf3, 0x6c], { rdi: 0x10n, rcx: 5n });
    assert.deepEqual(exits(vcpuFd), ['in 1 x5', 'Hlt']);
    assert.equal(bytesAt(host, 0x2010, 6), '101112131400');
    const r = ok(vcpuFd.getRegs());
    assert.deepEqual([r.rdi, r.rcx, r.rip, r.rflags & RF], [0x15n, 0n, 0x1003n, 0n]);
  });

  it('the read-ahead stops at the end of the page (what is left of it from DI, in bytes), then goes on', () => {
    // DI = 0xffd: 3 bytes left in the page, then 5 more from DI = 0x1000.
    const b = realVcpu(engine, [0xf3, 0x6c], { rdi: 0xffdn, rcx: 8n });
    assert.deepEqual(exits(b.vcpuFd), ['in 1 x3', 'in 1 x5', 'Hlt']);
    assert.equal(bytesAt(b.host, 0x2ffd, 8), '1011121314151617');
    // emulate.c's in_page is a byte count: 8 bytes left allow 8 dwords (here RCX = 4), which cross the page.
    const d = realVcpu(engine, [0xf3, 0x66, 0x6d], { rdi: 0xff8n, rcx: 4n });
    assert.deepEqual(exits(d.vcpuFd), ['in 4 x4', 'Hlt']);
    assert.equal(ok(d.vcpuFd.getRegs()).rdi, 0x1008n);
  });

  it('REP INSW with DF set: the read-ahead reaches down to the page start, elements written one by one downwards', () => {
    // DI = 0x1004 (linear 0x3004): offset_in_page(DI) = 4 bytes allow 4 elements, then DI = 0xffc.
    const { vcpuFd, host } = realVcpu(engine, [0xf3, 0x6d], { rdi: 0x1004n, rcx: 6n, rflags: 2n | DF });
    assert.deepEqual(exits(vcpuFd), ['in 2 x4', 'in 2 x2', 'Hlt']);
    assert.equal(bytesAt(host, 0x2ffa, 12), '1a1b18191617141512131011');
    const r = ok(vcpuFd.getRegs());
    assert.deepEqual([r.rdi, r.rcx], [0xff8n, 0n]);
  });

  it('REP with RCX = 0: no exit, RIP past the instruction', () => {
    for (const code of [
      [0xf3, 0x6c],
      [0xf3, 0x6e],
    ]) {
      const { vcpuFd } = realVcpu(engine, code, { rcx: 0n, rflags: 2n | RF });
      assert.deepEqual(exits(vcpuFd), ['Hlt']);
      const r = ok(vcpuFd.getRegs());
      assert.deepEqual([r.rip, r.rflags & RF], [0x1003n, 0n]);
    }
  });

  it('a 32-bit address size (67h) uses ECX and EDI, whatever their upper halves', () => {
    const { vcpuFd, host } = realVcpu(engine, [0xf3, 0x67, 0x6c], { rdi: 0x20n, rcx: 2n });
    assert.deepEqual(exits(vcpuFd), ['in 1 x2', 'Hlt']);
    assert.equal(bytesAt(host, 0x2020, 2), '1011');
    assert.deepEqual([ok(vcpuFd.getRegs()).rdi, ok(vcpuFd.getRegs()).rcx], [0x22n, 0n]);
  });
});

const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];

/**
 * 32-bit protected mode with 4 KiB paging identity-mapping 0..0xffff except page 0x5000 (not
 * present), a GDT at 0x7000, an IDT whose #PF gate (vector 14) goes to a HLT at 0x1800, `code` at 0x1000.
 */
function pagedVcpu(engine: Engine, code: number[], regs: { rsi?: bigint; rdi?: bigint; rcx?: bigint }) {
  const env = vmWithRam(16, { cpus: (_id, p) => new X86Cpu(p, engine.options) });
  const w = (gpa: number, bytes: number[]) =>
    assert.equal(env.host.write(HVA + gpa, Uint8Array.from(bytes)), undefined);
  w(0x3000, le32(0x4003));
  w(0x4000, Array.from({ length: 16 }, (_, i) => le32(i === 5 ? 0 : i * 0x1000 + 3)).flat());
  w(0x6000 + 14 * 8, [0x00, 0x18, 0x08, 0x00, 0x00, 0x8e, 0x00, 0x00]);
  w(0x1800, [0xf4]);
  // GDT: null, flat 32-bit code (8), flat data (0x10).
  w(0x7000, [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0x9a, 0xcf, 0, 0xff, 0xff, 0, 0, 0, 0x92, 0xcf, 0]);
  w(CODE, [...code, 0xf4]);
  const vcpuFd = ok(env.vmFd.createVcpu(0));
  const s = ok(vcpuFd.getSregs());
  ok(
    vcpuFd.setSregs({
      ...s,
      cr0: 0x8000_0011n,
      cr3: 0x3000n,
      cr4: 0n,
      efer: 0n,
      cs: flatSegment32(8, true),
      ds: flatSegment32(0x10, false),
      es: flatSegment32(0x10, false),
      ss: flatSegment32(0x10, false),
      idt: { base: 0x6000n, limit: 0xff },
      gdt: { base: 0x7000n, limit: 0x17 },
    }),
  );
  ok(
    vcpuFd.setRegs({
      ...ok(vcpuFd.getRegs()),
      rip: BigInt(CODE),
      rsp: 0x8000n,
      rdx: PORT,
      rsi: regs.rsi ?? 0n,
      rdi: regs.rdi ?? 0n,
      rcx: regs.rcx ?? 0n,
      rflags: 2n,
    }),
  );
  return { ...env, vcpuFd };
}

describeEngines('KVM emulates string I/O through the guest page tables', (engine) => {
  it('OUTSB from an unmapped page: #PF (not present, read) with CR2, before any exit; accessed bits set on a mapped one', () => {
    const { vcpuFd, host } = pagedVcpu(engine, [0xf3, 0x6e], { rsi: 0x5010n, rcx: 2n });
    assert.deepEqual(exits(vcpuFd), ['Hlt']);
    const r = ok(vcpuFd.getRegs());
    assert.equal(r.rip, 0x1801n, 'in the #PF handler');
    assert.deepEqual([r.rsi, r.rcx], [0x5010n, 2n], 'the instruction did not run');
    assert.equal(ok(vcpuFd.getSregs()).cr2, 0x5010n);
    // The frame: error code 0 (not present, read, supervisor), then EIP at the OUTSB.
    assert.equal(bytesAt(host, 0x8000 - 16, 8), `00000000${'00100000'}`);
    const ok2 = pagedVcpu(engine, [0x6e], { rsi: 0x2000n });
    assert.deepEqual(exits(ok2.vcpuFd), ['out 1 x1 00', 'Hlt']);
    assert.equal(
      hostBytes(ok2.host, HVA + 0x4000 + 2 * 4, 1)[0]! & 0x60,
      0x20,
      'PTE of 0x2000: accessed, not dirty',
    );
  });

  it('REP INSD into an unmapped page: the IN exit first, then #PF (write) and nothing written; dirty bit on a mapped one', () => {
    const { vcpuFd, host } = pagedVcpu(engine, [0xf3, 0x6d], { rdi: 0x5ffcn, rcx: 2n });
    assert.deepEqual(exits(vcpuFd), ['in 4 x2', 'Hlt']);
    const r = ok(vcpuFd.getRegs());
    assert.deepEqual([r.rip, r.rdi, r.rcx], [0x1801n, 0x5ffcn, 2n]);
    assert.equal(ok(vcpuFd.getSregs()).cr2, 0x5ffcn);
    assert.equal(bytesAt(host, 0x8000 - 16, 4), '02000000', 'error code: not present, write');
    const mapped = pagedVcpu(engine, [0xf3, 0x6d], { rdi: 0x2000n, rcx: 2n });
    assert.deepEqual(exits(mapped.vcpuFd), ['in 4 x2', 'Hlt']);
    assert.equal(bytesAt(mapped.host, 0x2000, 8), '1011121314151617');
    assert.equal(
      hostBytes(mapped.host, HVA + 0x4000 + 2 * 4, 1)[0]! & 0x60,
      0x60,
      'PTE of 0x2000: accessed and dirty',
    );
  });
});
