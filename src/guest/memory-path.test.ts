import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PFERR_WRITE_MASK } from '../cpu/backend.js';
import {
  GHCB_OFF_PROTOCOL_VERSION,
  GHCB_OFF_RAX,
  GHCB_OFF_RCX,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
  GHCB_OFF_VALID_BITMAP,
  GHCB_SIZE,
} from '../uapi/ghcb.js';
import { SVM_EXIT_CPUID, SVM_EXIT_NPF, SVM_EXIT_WBINVD, SVM_VMGEXIT_MMIO_WRITE } from '../uapi/svm.js';
import { GhcbClient, type GhcbCpuidReply } from './ghcb-client.js';
import { bits, boot, GHCB_GPA, runToEnd, runToVmgexit } from './test-util.js';
import { ghcbVcHandler } from './vc-handler.js';

const GHCB_PAGE = GHCB_GPA / 4096;

describe('GHCB page access', () => {
  it('one write of the changed range before, one read of RAX..bitmap after each VMGEXIT; the page holds all KVM reads', () => {
    const { cpu, mem, page } = boot(function* (cpu) {
      const c = new GhcbClient(cpu, GHCB_GPA);
      yield* c.cpuid(1);
      yield* c.cpuid(2);
      yield* c.wbinvd();
      c.setUsage(1);
      c.setProtocolVersion(0x77);
      yield* c.wbinvd();
      yield* c.cpuid(3);
      c.setUsage(0);
      c.setProtocolVersion(1);
      yield* c.mmioWrite(0xa000, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    });
    /** What KVM reads of a request: sw_exit_*, the valid bitmap, usage, version and the given fields. */
    const expectRequest = (
      code: number,
      info1: bigint,
      info2: bigint,
      fields: readonly [number, bigint][],
      usage: number,
      version: number,
    ): void => {
      assert.equal(page.exitCode(), BigInt(code));
      assert.equal(page.info1(), info1);
      assert.equal(page.info2(), info2);
      for (const [off, v] of fields) assert.equal(page.u64(off), v, `field 0x${off.toString(16)}`);
      assert.deepEqual(
        page.validBits(),
        bits(
          GHCB_OFF_SW_EXIT_CODE,
          GHCB_OFF_SW_EXIT_INFO_1,
          GHCB_OFF_SW_EXIT_INFO_2,
          ...fields.map((f) => f[0]),
        ),
      );
      assert.equal(page.usage(), usage);
      assert.equal(page.version(), version);
    };
    const BITMAP_END = GHCB_OFF_VALID_BITMAP + 16;

    runToVmgexit(cpu);
    assert.deepEqual(
      mem.log,
      [{ kind: 'write', gpa: GHCB_GPA, len: GHCB_SIZE }],
      'first request: whole page',
    );
    expectRequest(
      SVM_EXIT_CPUID,
      0n,
      0n,
      [
        [GHCB_OFF_RAX, 1n],
        [GHCB_OFF_RCX, 0n],
      ],
      0,
      1,
    );
    page.reply({ rax: 1n });
    mem.log.length = 0;

    runToVmgexit(cpu);
    assert.deepEqual(
      mem.log,
      [
        { kind: 'read', gpa: GHCB_GPA + GHCB_OFF_RAX, len: BITMAP_END - GHCB_OFF_RAX },
        { kind: 'write', gpa: GHCB_GPA + GHCB_OFF_RAX, len: BITMAP_END - GHCB_OFF_RAX },
        {
          kind: 'write',
          gpa: GHCB_GPA + GHCB_OFF_PROTOCOL_VERSION,
          len: GHCB_SIZE - GHCB_OFF_PROTOCOL_VERSION,
        },
      ],
      'the changed range up to the valid bitmap, then protocol_version and ghcb_usage, set with every request as Linux does',
    );
    expectRequest(
      SVM_EXIT_CPUID,
      0n,
      0n,
      [
        [GHCB_OFF_RAX, 2n],
        [GHCB_OFF_RCX, 0n],
      ],
      0,
      1,
    );
    page.reply();
    mem.log.length = 0;

    runToVmgexit(cpu);
    assert.deepEqual(mem.log.at(-2), {
      kind: 'write',
      gpa: GHCB_GPA + GHCB_OFF_SW_EXIT_CODE,
      len: BITMAP_END - GHCB_OFF_SW_EXIT_CODE,
    });
    expectRequest(SVM_EXIT_WBINVD, 0n, 0n, [], 0, 1);
    page.reply();
    mem.log.length = 0;

    runToVmgexit(cpu);
    assert.deepEqual(
      mem.log.slice(-2),
      [
        { kind: 'write', gpa: GHCB_GPA + GHCB_OFF_SW_EXIT_CODE, len: BITMAP_END - GHCB_OFF_SW_EXIT_CODE },
        {
          kind: 'write',
          gpa: GHCB_GPA + GHCB_OFF_PROTOCOL_VERSION,
          len: GHCB_SIZE - GHCB_OFF_PROTOCOL_VERSION,
        },
      ],
      'usage and version changed: they go in the tail write, as with every request',
    );
    expectRequest(SVM_EXIT_WBINVD, 0n, 0n, [], 1, 0x77);
    page.reply();
    mem.log.length = 0;

    runToVmgexit(cpu);
    assert.deepEqual(mem.log.at(-2), {
      kind: 'write',
      gpa: GHCB_GPA + GHCB_OFF_RAX,
      len: BITMAP_END - GHCB_OFF_RAX,
    });
    expectRequest(
      SVM_EXIT_CPUID,
      0n,
      0n,
      [
        [GHCB_OFF_RAX, 3n],
        [GHCB_OFF_RCX, 0n],
      ],
      1,
      0x77,
    );
    page.reply();
    mem.log.length = 0;

    runToVmgexit(cpu);
    assert.deepEqual(
      mem.log.slice(-2),
      [
        { kind: 'write', gpa: GHCB_GPA + GHCB_OFF_SW_EXIT_CODE, len: 0x808 - GHCB_OFF_SW_EXIT_CODE },
        {
          kind: 'write',
          gpa: GHCB_GPA + GHCB_OFF_PROTOCOL_VERSION,
          len: GHCB_SIZE - GHCB_OFF_PROTOCOL_VERSION,
        },
      ],
      'scratch data in the shared buffer up to its end, then the usage/version tail',
    );
    expectRequest(
      SVM_VMGEXIT_MMIO_WRITE,
      0xa000n,
      8n,
      [[GHCB_OFF_SW_SCRATCH, BigInt(GHCB_GPA + 0x800)]],
      0,
      1,
    );
    assert.deepEqual(page.bytes(0x800, 8), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    page.reply();
    runToEnd(cpu);
  });

  it('scratch data in the shared buffer is written up to its end, not to the page end', () => {
    const { cpu, mem, page } = boot(function* (cpu) {
      const c = new GhcbClient(cpu, GHCB_GPA);
      yield* c.wbinvd();
      yield* c.mmioWrite(0xa000, Uint8Array.of(9, 8, 7, 6), { in: 'ghcb', offset: 0x10 });
    });
    runToVmgexit(cpu);
    page.reply();
    mem.log.length = 0;
    runToVmgexit(cpu);
    assert.deepEqual(mem.log.slice(-2), [
      { kind: 'write', gpa: GHCB_GPA + GHCB_OFF_SW_EXIT_CODE, len: 0x814 - GHCB_OFF_SW_EXIT_CODE },
      {
        kind: 'write',
        gpa: GHCB_GPA + GHCB_OFF_PROTOCOL_VERSION,
        len: GHCB_SIZE - GHCB_OFF_PROTOCOL_VERSION,
      },
    ]);
    assert.deepEqual(page.bytes(0x810, 4), Uint8Array.of(9, 8, 7, 6));
    assert.equal(page.u64(GHCB_OFF_SW_SCRATCH), BigInt(GHCB_GPA + 0x810));
    assert.equal(page.usage(), 0);
    assert.equal(page.version(), 1);
    page.reply();
    runToEnd(cpu);
  });

  it('an MMIO read in the shared buffer reads registers, bitmap and data in one access', () => {
    const { cpu, mem, page } = boot(function* (cpu) {
      yield* new GhcbClient(cpu, GHCB_GPA).mmioRead(0xa000, 8);
    });
    runToVmgexit(cpu);
    page.reply();
    mem.log.length = 0;
    runToEnd(cpu);
    assert.deepEqual(mem.log, [{ kind: 'read', gpa: GHCB_GPA + 0x1f8, len: 0x808 - 0x1f8 }]);
  });

  it('a GHCB page KVM has not mapped makes the vCPU exit with NPF, and the request retries', () => {
    let got: GhcbCpuidReply | undefined;
    const { cpu, mem, page } = boot(function* (cpu) {
      const c = new GhcbClient(cpu, GHCB_GPA);
      c.register();
      got = yield* c.cpuid(7, 0);
    });
    mem.faulting.add(GHCB_PAGE);
    let e = cpu.vmrun();
    assert.equal(e.exitCode, SVM_EXIT_NPF);
    assert.equal(e.exitInfo2, GHCB_GPA);
    assert.equal(e.exitInfo1 & PFERR_WRITE_MASK, PFERR_WRITE_MASK);
    e = cpu.vmrun(); // still not mapped: the same store faults again
    assert.equal(e.exitCode, SVM_EXIT_NPF);
    mem.faulting.clear();
    runToVmgexit(cpu);
    assert.equal(page.exitCode(), BigInt(SVM_EXIT_CPUID));
    assert.equal(page.u64(GHCB_OFF_RAX), 7n);
    assert.equal(page.u64(GHCB_OFF_RCX), 0n);
    assert.equal(page.usage(), 0);
    assert.equal(page.version(), 1);
    page.reply({ rax: 0xan, rbx: 0xbn, rcx: 0xcn, rdx: 0xdn });
    // The page goes away again before the guest reads the answer.
    mem.faulting.add(GHCB_PAGE);
    e = cpu.vmrun();
    assert.equal(e.exitCode, SVM_EXIT_NPF);
    assert.equal(e.exitInfo2, GHCB_GPA + GHCB_OFF_RAX);
    assert.equal(e.exitInfo1 & PFERR_WRITE_MASK, 0);
    mem.faulting.clear();
    runToEnd(cpu);
    assert.deepEqual(got, {
      result: { kind: 'ok', info1: 0n, info2: 0n },
      eax: 0xa,
      ebx: 0xb,
      ecx: 0xc,
      edx: 0xd,
      regsValid: true,
    });
  });

  it('an outside scratch area that faults is written by trapping stores after the NPF', () => {
    const { cpu, mem, page } = boot(function* (cpu) {
      yield* new GhcbClient(cpu, GHCB_GPA).mmioWrite(0xa000, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9), {
        gpa: 0x8000,
      });
    });
    mem.faulting.add(8);
    const e = cpu.vmrun();
    assert.equal(e.exitCode, SVM_EXIT_NPF);
    assert.equal(e.exitInfo2, 0x8000);
    mem.faulting.clear();
    runToVmgexit(cpu);
    assert.deepEqual(mem.bytes.slice(0x8000, 0x8009), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9));
    page.reply();
    runToEnd(cpu);
  });

  it('MMIO read data outside the GHCB is read back piece by piece where a page faults', () => {
    let got: Uint8Array | undefined;
    const { cpu, mem, page } = boot(function* (cpu) {
      got = (yield* new GhcbClient(cpu, GHCB_GPA).mmioRead(0xa000, 16, { gpa: 0x8ff8 })).data;
    });
    runToVmgexit(cpu);
    assert.equal(page.u64(0x3a8), 0x8ff8n);
    mem.bytes.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 0x8ff8);
    page.reply();
    mem.faulting.add(9);
    const e = cpu.vmrun();
    assert.equal(e.exitCode, SVM_EXIT_NPF);
    assert.equal(e.exitInfo2, 0x9000);
    mem.faulting.clear();
    runToEnd(cpu);
    assert.deepEqual(got, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16));
  });

  it('a GHCB page that is not RAM raises #VC inside the request: a nested #VC fails the request', () => {
    let caught: unknown;
    const { cpu, mem } = boot(function* (cpu) {
      const c = new GhcbClient(cpu, GHCB_GPA);
      cpu.vcHandler = ghcbVcHandler(c);
      try {
        yield* c.cpuid(1);
      } catch (e) {
        caught = e;
      }
      assert.equal(c.busy, false);
    });
    mem.mmio.push([GHCB_GPA, GHCB_GPA + 4096]);
    runToEnd(cpu);
    assert.ok(caught instanceof Error);
    assert.match(caught.message, /nested #VC/);
  });
});
