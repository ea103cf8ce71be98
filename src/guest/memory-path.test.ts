import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PFERR_WRITE_MASK } from '../cpu/backend.js';
import {
  GHCB_OFF_PROTOCOL_VERSION,
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
  GHCB_OFF_VALID_BITMAP,
  GHCB_OFF_XCR0,
  GHCB_SIZE,
} from '../uapi/ghcb.js';
import { SVM_EXIT_CPUID, SVM_EXIT_NPF, SVM_EXIT_WBINVD, SVM_VMGEXIT_MMIO_WRITE } from '../uapi/svm.js';
import { GhcbClient, type GhcbCpuidReply } from './ghcb-client.js';
import {
  bits,
  boot,
  type FakeTlbMemory,
  GHCB_GPA,
  type GhcbPage,
  runToEnd,
  runToVmgexit,
  vmrun,
} from './test-util.js';
import { ghcbVcHandler } from './vc-handler.js';

const GHCB_PAGE = GHCB_GPA / 4096;
const BITMAP = GHCB_OFF_VALID_BITMAP;

describe('GHCB page access', () => {
  /** What KVM reads of a request: sw_exit_*, the valid bitmap, usage, version and the given fields. */
  function expectRequest(
    page: GhcbPage,
    code: number,
    info1: bigint,
    info2: bigint,
    fields: readonly [number, bigint][],
    usage = 0,
    version = 1,
  ): void {
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
  }
  const W = (gpa: number, len: number) => ({ kind: 'write', gpa: GHCB_GPA + gpa, len });
  const R = (gpa: number, len: number) => ({ kind: 'read', gpa: GHCB_GPA + gpa, len });
  /** The answer fields and the valid bitmap, read back after every VMGEXIT without a TLB. */
  const ANSWER_READS = [
    R(GHCB_OFF_RAX, 8),
    R(GHCB_OFF_RCX, 24),
    R(GHCB_OFF_SW_EXIT_INFO_1, 16),
    R(BITMAP, 16),
  ];
  const TAIL = W(GHCB_OFF_PROTOCOL_VERSION, GHCB_SIZE - GHCB_OFF_PROTOCOL_VERSION);

  it('without a TLB: the whole page first, then one write per run of changed qwords, sw_exit_*, the bitmap and the version/usage tail; the answer fields read back', () => {
    const { cpu, mem, page } = boot(function* (cpu) {
      const c = new GhcbClient(cpu, GHCB_GPA);
      yield* c.cpuid(1);
      yield* c.cpuid(2);
      yield* c.wbinvd();
      c.setUsage(1);
      c.setProtocolVersion(0x77);
      yield* c.wbinvd();
      c.setUsage(0);
      c.setProtocolVersion(1);
      yield* c.mmioWrite(0xa000, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    });
    runToVmgexit(cpu);
    assert.deepEqual(
      mem.log,
      [W(0, GHCB_SIZE)],
      'first request: the whole page, as a kernel zeroes its GHCB',
    );
    expectRequest(page, SVM_EXIT_CPUID, 0n, 0n, [
      [GHCB_OFF_RAX, 1n],
      [GHCB_OFF_RCX, 0n],
    ]);
    page.reply({ rax: 1n });
    mem.log.length = 0;

    runToVmgexit(cpu);
    assert.deepEqual(mem.log, [
      ...ANSWER_READS,
      W(GHCB_OFF_RAX, 8),
      W(GHCB_OFF_RCX, 8),
      W(GHCB_OFF_SW_EXIT_CODE, 24),
      W(BITMAP, 16),
      TAIL,
    ]);
    expectRequest(page, SVM_EXIT_CPUID, 0n, 0n, [
      [GHCB_OFF_RAX, 2n],
      [GHCB_OFF_RCX, 0n],
    ]);
    page.reply();
    mem.log.length = 0;

    runToVmgexit(cpu);
    assert.deepEqual(mem.log.slice(4), [W(GHCB_OFF_SW_EXIT_CODE, 24), W(BITMAP, 16), TAIL]);
    expectRequest(page, SVM_EXIT_WBINVD, 0n, 0n, []);
    page.reply();
    runToVmgexit(cpu);
    expectRequest(page, SVM_EXIT_WBINVD, 0n, 0n, [], 1, 0x77);
    page.reply();
    mem.log.length = 0;

    runToVmgexit(cpu);
    assert.deepEqual(
      mem.log.slice(4),
      [W(GHCB_OFF_SW_EXIT_CODE, 32), W(BITMAP, 16), W(0x800, 8), TAIL],
      'sw_scratch joins the sw_exit_* run; the scratch data is written up to its end',
    );
    expectRequest(page, SVM_VMGEXIT_MMIO_WRITE, 0xa000n, 8n, [
      [GHCB_OFF_SW_SCRATCH, BigInt(GHCB_GPA + 0x800)],
    ]);
    assert.deepEqual(page.bytes(0x800, 8), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    page.reply();
    runToEnd(cpu);
  });

  it('with a TLB generation: the page view is kept across requests while it holds, asked for again when it changes', () => {
    const { cpu, mem, page } = boot(
      function* (cpu) {
        const c = new GhcbClient(cpu, GHCB_GPA);
        yield* c.cpuid(1);
        yield* c.cpuid(2);
        yield* c.cpuid(3);
      },
      { tlb: true },
    );
    (mem as FakeTlbMemory).generation = 1;
    const MAP_W = { kind: 'map-write', gpa: GHCB_GPA, len: GHCB_SIZE };
    runToVmgexit(cpu);
    assert.deepEqual(mem.log, [MAP_W]);
    page.reply({ rax: 1n });
    mem.log.length = 0;
    runToVmgexit(cpu);
    assert.deepEqual(mem.log, [], 'same generation: the writable view of the first request serves');
    page.reply({ rax: 2n });
    mem.log.length = 0;
    (mem as FakeTlbMemory).generation = 2; // KVM zapped the nested page table while the vCPU was out
    runToVmgexit(cpu);
    assert.deepEqual(mem.log, [{ kind: 'map-read', gpa: GHCB_GPA, len: GHCB_SIZE }, MAP_W]);
    page.reply({ rax: 3n });
    runToEnd(cpu);
  });

  it('with a TLB: the request is stored into the page mapped for writing, the answer loaded from it mapped for reading', () => {
    let got: GhcbCpuidReply | undefined;
    const { cpu, mem, page } = boot(
      function* (cpu) {
        const c = new GhcbClient(cpu, GHCB_GPA);
        yield* c.cpuid(1);
        got = yield* c.cpuid(0xd, 1, 7n);
      },
      { tlb: true },
    );
    const MAP_W = { kind: 'map-write', gpa: GHCB_GPA, len: GHCB_SIZE };
    const MAP_R = { kind: 'map-read', gpa: GHCB_GPA, len: GHCB_SIZE };
    runToVmgexit(cpu);
    assert.deepEqual(mem.log, [MAP_W]);
    expectRequest(page, SVM_EXIT_CPUID, 0n, 0n, [
      [GHCB_OFF_RAX, 1n],
      [GHCB_OFF_RCX, 0n],
    ]);
    page.reply({ rax: 1n });
    mem.log.length = 0;
    runToVmgexit(cpu);
    assert.deepEqual(mem.log, [MAP_R, MAP_W]);
    expectRequest(page, SVM_EXIT_CPUID, 0n, 0n, [
      [GHCB_OFF_RAX, 0xdn],
      [GHCB_OFF_RCX, 1n],
      [GHCB_OFF_XCR0, 7n],
    ]);
    page.reply({ rax: 0xan, rbx: 0xbn, rcx: 0xcn, rdx: 0xdn });
    mem.log.length = 0;
    runToEnd(cpu);
    assert.deepEqual(mem.log, [MAP_R]);
    assert.deepEqual(got, {
      result: { kind: 'ok', info1: 0n, info2: 0n },
      eax: 0xa,
      ebx: 0xb,
      ecx: 0xc,
      edx: 0xd,
      regsValid: true,
    });
  });

  for (const tlb of [false, true]) {
    const how = tlb ? 'with a TLB' : 'without a TLB';

    it(`${how}: the first request zeroes the page first, as a kernel zeroes its GHCB before use`, () => {
      const { cpu, mem, page } = boot(
        function* (cpu) {
          yield* new GhcbClient(cpu, GHCB_GPA).cpuid(1);
        },
        { tlb },
      );
      mem.bytes.fill(0xa5, GHCB_GPA, GHCB_GPA + GHCB_SIZE);
      runToVmgexit(cpu);
      expectRequest(page, SVM_EXIT_CPUID, 0n, 0n, [
        [GHCB_OFF_RAX, 1n],
        [GHCB_OFF_RCX, 0n],
      ]);
      const rest = page.bytes(0, GHCB_SIZE);
      for (const off of [GHCB_OFF_RAX, GHCB_OFF_RCX, GHCB_OFF_SW_EXIT_CODE, GHCB_OFF_SW_EXIT_INFO_1])
        rest.fill(0, off, off + 8);
      rest.fill(0, GHCB_OFF_SW_EXIT_INFO_2, GHCB_OFF_SW_EXIT_INFO_2 + 8);
      rest.fill(0, BITMAP, BITMAP + 16);
      rest.fill(0, GHCB_OFF_PROTOCOL_VERSION, GHCB_SIZE);
      assert.deepEqual(rest, new Uint8Array(GHCB_SIZE), 'every other byte is zero');
      page.reply();
      runToEnd(cpu);
    });

    it(`${how}: bytes a request does not set keep what guest memory holds (the host may have written them)`, () => {
      const { cpu, mem, page } = boot(
        function* (cpu) {
          const c = new GhcbClient(cpu, GHCB_GPA);
          yield* c.cpuid(1);
          yield* c.mmioWrite(0xa000, Uint8Array.of(9, 8, 7, 6), { in: 'ghcb', offset: 0x10 });
          yield* c.cpuid(2);
        },
        { tlb },
      );
      runToVmgexit(cpu);
      page.reply({ rax: 0x11n, rbx: 0x22n, rdx: 0x44n });
      // Someone else writes the page between requests: the save area below RAX, RBX (answer,
      // not an input), sw_scratch, the shared buffer around the scratch data, reserved bytes.
      const POISON = 0xa5;
      const poisoned = [0x0, 0x100, 0x1f0, GHCB_OFF_RBX, 0x3b0, 0x3e8, 0x800, 0x80f, 0x814, 0xff0, 0xff8];
      for (const off of poisoned) mem.bytes[GHCB_GPA + off] = POISON;
      runToVmgexit(cpu);
      expectRequest(page, SVM_VMGEXIT_MMIO_WRITE, 0xa000n, 4n, [
        [GHCB_OFF_SW_SCRATCH, BigInt(GHCB_GPA + 0x810)],
      ]);
      assert.deepEqual(page.bytes(0x810, 4), Uint8Array.of(9, 8, 7, 6));
      for (const off of poisoned) assert.equal(page.u8(off), POISON, `byte 0x${off.toString(16)} kept`);
      page.reply();
      runToVmgexit(cpu);
      expectRequest(page, SVM_EXIT_CPUID, 0n, 0n, [
        [GHCB_OFF_RAX, 2n],
        [GHCB_OFF_RCX, 0n],
      ]);
      assert.equal(
        page.u64(GHCB_OFF_SW_SCRATCH),
        BigInt(GHCB_GPA + 0x810),
        'sw_scratch is not an input of CPUID',
      );
      for (const off of poisoned.filter((o) => o !== GHCB_OFF_RBX)) assert.equal(page.u8(off), POISON);
      page.reply();
      runToEnd(cpu);
    });

    it(`${how}: scratch data a hostile guest places in the save area reaches the page, its neighbours kept`, () => {
      const { cpu, mem, page } = boot(
        function* (cpu) {
          const c = new GhcbClient(cpu, GHCB_GPA);
          yield* c.wbinvd();
          yield* c.mmioWrite(0xa000, Uint8Array.of(1, 2, 3), { in: 'ghcb', offset: 0x104 - 0x800 });
        },
        { tlb },
      );
      runToVmgexit(cpu);
      page.reply();
      mem.bytes.fill(0xee, GHCB_GPA + 0xf8, GHCB_GPA + 0x100);
      mem.bytes.fill(0xee, GHCB_GPA + 0x108, GHCB_GPA + 0x110);
      runToVmgexit(cpu);
      assert.deepEqual(page.bytes(0x104, 3), Uint8Array.of(1, 2, 3));
      assert.equal(page.u64(GHCB_OFF_SW_SCRATCH), BigInt(GHCB_GPA + 0x104));
      // Whole qwords go (a kernel's stores are at least that wide there); the ones around do not.
      assert.deepEqual(page.bytes(0xf8, 8), new Uint8Array(8).fill(0xee));
      assert.deepEqual(page.bytes(0x108, 8), new Uint8Array(8).fill(0xee));
      page.reply();
      runToEnd(cpu);
    });

    it(`${how}: an MMIO read in the shared buffer reads the answer fields and the data, nothing else`, () => {
      let got: Uint8Array | undefined;
      let scratch: bigint | undefined;
      const { cpu, mem, page } = boot(
        function* (cpu) {
          const c = new GhcbClient(cpu, GHCB_GPA);
          got = (yield* c.mmioRead(0xa000, 8)).data;
          scratch = c.getField(GHCB_OFF_SW_SCRATCH);
        },
        { tlb },
      );
      runToVmgexit(cpu);
      page.reply();
      mem.bytes.set([1, 2, 3, 4, 5, 6, 7, 8, 9], GHCB_GPA + 0x800);
      page.set64(GHCB_OFF_SW_SCRATCH, 0xdeadn); // not an answer field
      mem.log.length = 0;
      runToEnd(cpu);
      assert.deepEqual(got, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
      // With a TLB the guest reads its GHCB page itself; without one, only the answer fields are
      // loaded back and the rest is what the client staged.
      assert.equal(scratch, tlb ? 0xdeadn : BigInt(GHCB_GPA + 0x800));
      assert.deepEqual(
        mem.log,
        tlb ? [{ kind: 'map-read', gpa: GHCB_GPA, len: GHCB_SIZE }] : [...ANSWER_READS, R(0x800, 8)],
      );
    });
  }

  it('a GHCB page KVM has not mapped makes the vCPU exit with NPF, and the request retries', () => {
    let got: GhcbCpuidReply | undefined;
    const { cpu, mem, page } = boot(function* (cpu) {
      const c = new GhcbClient(cpu, GHCB_GPA);
      c.register();
      got = yield* c.cpuid(7, 0);
    });
    mem.faulting.add(GHCB_PAGE);
    let e = vmrun(cpu);
    assert.equal(e.exitCode, SVM_EXIT_NPF);
    assert.equal(e.exitInfo2, GHCB_GPA);
    assert.equal(e.exitInfo1 & PFERR_WRITE_MASK, PFERR_WRITE_MASK);
    e = vmrun(cpu); // still not mapped: the same store faults again
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
    e = vmrun(cpu);
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
        gpa: 0x8000n,
      });
    });
    mem.faulting.add(8);
    const e = vmrun(cpu);
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
      got = (yield* new GhcbClient(cpu, GHCB_GPA).mmioRead(0xa000, 16, { gpa: 0x8ff8n })).data;
    });
    runToVmgexit(cpu);
    assert.equal(page.u64(0x3a8), 0x8ff8n);
    mem.bytes.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 0x8ff8);
    page.reply();
    mem.faulting.add(9);
    const e = vmrun(cpu);
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
