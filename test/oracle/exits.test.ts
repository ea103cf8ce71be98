/**
 * Differential test 2: the exit protocol. Each case is one guest written twice — tiny real-mode
 * machine code for the real /dev/kvm, and the equivalent scripted guest for the model — on the
 * same memory map, answered by the same VMM function. Both must produce the same sequence of
 * exits with the same data (port, size, count, bytes; MMIO address, length, written bytes; MSR
 * index, reason, value), the same guest-visible results (echoed to port 0xE9), and the same dirty
 * bitmaps.
 *
 * Memory map (both sides): slot 0 RAM at GPA 0 (64 KiB: IVT, code at 0x1000, #GP handler at
 * 0x1800, stack below 0x8000); slot 1 READONLY at 0x20000 (2 pages, pattern-filled by the host);
 * slot 2 LOG_DIRTY_PAGES at 0x30000 (8 pages); nothing at 0x40000 (MMIO).
 *
 * Where the real backend deviates from the architecture as the model follows it, the case records
 * a backend property (detected, printed as a diagnostic) instead of a model failure.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { GuestException, type GuestProgram, ScriptedCpu } from '../../src/cpu/scripted.js';
import {
  asm,
  detectBackend,
  type HostKvm,
  type RealModeAsm,
  type RealModeSize,
  WatchdogExpired,
} from '../../src/hostkvm/index.js';
import {
  KVM_MSR_FILTER_READ,
  KVM_MSR_FILTER_WRITE,
  Kvm,
  type MsrFilter,
  type VcpuExit,
} from '../../src/kvm/index.js';
import { KVM_CAP_X86_USER_SPACE_MSR } from '../../src/uapi/caps.js';
import {
  KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN,
} from '../../src/uapi/exit-reasons.js';
import { isKvmError } from '../../src/uapi/kvm-error.js';
import type { KvmRun } from '../../src/uapi/kvm-run.js';
import { KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY } from '../../src/uapi/memslot.js';
import { oracleHost } from './host.js';

const host = oracleHost();
const SEED = Number(process.env['SEVBOX_ORACLE_SEED'] ?? 0x5eb0c5);

const CODE = 0x1000;
const GP_HANDLER = 0x1800;
const STACK_TOP = 0x8000;
const RAM_SIZE = 0x1_0000;
const RO_GPA = 0x2_0000;
const RO_SIZE = 0x2000;
const DIRTY_GPA = 0x3_0000;
const DIRTY_PAGES = 8;
const MMIO_GPA = 0x4_0000;
const HOLE_GPA = 0x5_0000;
/** Where guests echo what they observed. */
const ECHO = 0xe9;
/** Where the #GP handler reports. */
const GP_PORT = 0xe0;
/** The GHCB MSR (MSR_AMD64_SEV_ES_GHCB). */
const MSR_GHCB = 0xc001_0130;
const MSR_PAT = 0x277;
const MSR_STAR = 0xc000_0081;

/** What the host puts in the read-only slot: byte i = (i * 7 + 3) & 0xff. */
function roPattern(): Uint8Array {
  return Uint8Array.from({ length: RO_SIZE }, (_, i) => (i * 7 + 3) & 0xff);
}

/** The part of a VcpuExit both sides must agree on (data as hex). */
type ExitRecord = Record<string, string | number>;

const hexBytes = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function record(e: VcpuExit): ExitRecord {
  switch (e.kind) {
    case 'IoIn':
    case 'IoOut':
      return { kind: e.kind, port: e.port, size: e.size, count: e.count, data: hexBytes(e.data) };
    case 'MmioRead':
      // The bytes of a read exit are the VMM's to fill: KVM leaves whatever was there.
      return { kind: e.kind, addr: e.addr, len: e.data.length };
    case 'MmioWrite':
      return { kind: e.kind, addr: e.addr, data: hexBytes(e.data) };
    case 'X86Rdmsr':
      return { kind: e.kind, index: e.index, msrReason: e.msrReason };
    case 'X86Wrmsr':
      return { kind: e.kind, index: e.index, msrReason: e.msrReason, value: `0x${e.value.toString(16)}` };
    case 'InternalError':
      return { kind: e.kind, suberror: e.suberror };
    case 'MemoryFault':
      return { kind: e.kind, gpa: `0x${e.gpa.toString(16)}`, size: `0x${e.size.toString(16)}` };
    default:
      return { kind: e.kind };
  }
}

/** The VMM of a case: answers one exit in place (IN data, MMIO read data, MSR data/error, kvm_run). */
type Answer = (exit: VcpuExit, run: KvmRun) => void;

/** Fill an IN or MMIO read with 0x11, 0x22, ...; answer RDMSR with 0x1122334455667788. */
const defaultAnswer: Answer = (e) => {
  if (e.kind === 'IoIn' || e.kind === 'MmioRead') {
    for (let i = 0; i < e.data.length; i++) e.data[i] = 0x11 * (i + 1);
  }
  if (e.kind === 'X86Rdmsr') e.msr.setData(0x1122_3344_5566_7788n);
};

interface ExitCase {
  readonly name: string;
  /** Real-mode code placed at CODE (ends in HLT). */
  readonly code: (a: RealModeAsm) => RealModeAsm;
  /** The scripted guest doing the same. */
  readonly program: GuestProgram;
  readonly answer?: Answer;
  /** KVM_CAP_X86_USER_SPACE_MSR mask and MSR filter, on both sides. */
  readonly msr?: { readonly mask: number; readonly filter?: MsrFilter };
  /** Read and compare slot 2's dirty bitmap after the run (twice: the second must be clear). */
  readonly dirtyLog?: boolean;
}

/** Everything a run produced. */
interface Transcript {
  readonly exits: ExitRecord[];
  readonly dirty?: string[];
}

const MAX_EXITS = 64;

/**
 * Drive a vCPU to HLT (or an error), answering each exit; what the VMM saw. An EINTR (from
 * immediate_exit) is recorded with the exit_reason kvm_run kept, and the vCPU is run again.
 */
function drive(run: () => VcpuExit, area: KvmRun, answer: Answer): ExitRecord[] {
  const out: ExitRecord[] = [];
  for (let i = 0; i < MAX_EXITS; i++) {
    let e: VcpuExit;
    try {
      e = run();
    } catch (err) {
      if (isKvmError(err) && !(err instanceof WatchdogExpired)) {
        out.push({ error: err.code, exitReason: area.exitReason });
        if (err.code === 'EINTR') {
          area.immediateExit = 0;
          continue;
        }
        return out;
      }
      throw err;
    }
    out.push(record(e));
    if (e.kind === 'Hlt' || e.kind === 'Shutdown' || e.kind === 'InternalError') return out;
    answer(e, area);
  }
  out.push({ error: 'too many exits' });
  return out;
}

// ---- the two machines ----

function modelRun(c: ExitCase, extra?: (k: Kvm, vm: ReturnType<Kvm['createVm']>) => void): Transcript {
  const kvm = new Kvm();
  const vm = kvm.createVm();
  const HVA = 0x7f00_0000_0000;
  const slots = [
    { slot: 0, gpa: 0, size: RAM_SIZE, flags: 0 },
    { slot: 1, gpa: RO_GPA, size: RO_SIZE, flags: KVM_MEM_READONLY },
    { slot: 2, gpa: DIRTY_GPA, size: DIRTY_PAGES * 4096, flags: KVM_MEM_LOG_DIRTY_PAGES },
  ];
  for (const s of slots) {
    const hva = HVA + s.slot * 0x100_0000;
    kvm.host.mapAnonymous(hva, s.size);
    vm.setUserMemoryRegion({
      slot: s.slot,
      flags: s.flags,
      guestPhysAddr: BigInt(s.gpa),
      memorySize: BigInt(s.size),
      userspaceAddr: BigInt(hva),
    });
  }
  kvm.host.write(HVA + 0x100_0000, roPattern());
  extra?.(kvm, vm);
  if (c.msr) {
    vm.userSpaceMsrMask = c.msr.mask;
    vm.msrFilter = c.msr.filter;
  }
  const vcpu = vm.createVcpu(0, new ScriptedCpu(c.program));
  const exits = drive(() => vcpu.run(), vcpu.runArea, c.answer ?? defaultAnswer);
  const dirty = c.dirtyLog ? [0, 1].map(() => hexBytes(vm.getDirtyLog(2))) : undefined;
  return { exits, ...(dirty && { dirty }) };
}

function realRun(
  kvm: HostKvm,
  c: ExitCase,
  extra?: (vm: ReturnType<HostKvm['createVm']>) => void,
): Transcript {
  const vm = kvm.createVm();
  const ram = kvm.mapAnonymous(RAM_SIZE);
  const ro = kvm.mapAnonymous(RO_SIZE);
  const dirtyMem = kvm.mapAnonymous(DIRTY_PAGES * 4096);
  try {
    ram.bytes.set(c.code(asm()).bytes(), CODE);
    ram.bytes.set(asm().out(GP_PORT, 1, 13).hlt().bytes(), GP_HANDLER);
    // IVT entry 13 (#GP) -> 0000:GP_HANDLER.
    new DataView(ram.bytes.buffer, ram.bytes.byteOffset).setUint16(13 * 4, GP_HANDLER, true);
    ro.bytes.set(roPattern());
    const slots = [
      { slot: 0, gpa: 0, m: ram, flags: 0 },
      { slot: 1, gpa: RO_GPA, m: ro, flags: KVM_MEM_READONLY },
      { slot: 2, gpa: DIRTY_GPA, m: dirtyMem, flags: KVM_MEM_LOG_DIRTY_PAGES },
    ];
    for (const s of slots) {
      vm.setUserMemoryRegion({
        slot: s.slot,
        flags: s.flags,
        guestPhysAddr: BigInt(s.gpa),
        memorySize: BigInt(s.m.length),
        userspaceAddr: s.m.hva,
      });
    }
    extra?.(vm);
    if (c.msr) {
      vm.enableCap(KVM_CAP_X86_USER_SPACE_MSR, [c.msr.mask]);
      if (c.msr.filter) vm.setMsrFilter(c.msr.filter);
    }
    const vcpu = vm.createVcpu(0);
    vcpu.timeoutMs = 1000;
    vcpu.resetRealMode(CODE, STACK_TOP);
    const exits = drive(() => vcpu.run(), vcpu.runArea, c.answer ?? defaultAnswer);
    const dirty = c.dirtyLog ? [0, 1].map(() => hexBytes(vm.getDirtyLog(2))) : undefined;
    return { exits, ...(dirty && { dirty }) };
  } finally {
    vm.destroy();
    ram.close();
    ro.close();
    dirtyMem.close();
  }
}

// ---- guest building blocks, written twice ----

const SIZES: readonly RealModeSize[] = [1, 2, 4];
const mask = (size: number): number => (size === 4 ? 0xffff_ffff : (1 << (size * 8)) - 1);

/** Real mode: echo A (size bytes) to ECHO. */
const echoA = (a: RealModeAsm, size: RealModeSize): RealModeAsm => a.movDx(ECHO).outDx(size);

/** Real mode: RDMSR index, echo EAX then EDX (4 bytes each). */
const rdmsrEcho = (a: RealModeAsm, index: number): RealModeAsm =>
  echoA(a.movEcx(index).rdmsr().mov32('ebx', 'edx'), 4).mov32('eax', 'ebx').outDx(4);

/** Scripted: RDMSR, echo the low then the high half; a #GP goes to the handler. */
function* scriptedRdmsrEcho(cpu: ScriptedCpu, index: number) {
  const v = yield* cpu.rdmsr(index);
  yield* cpu.out(ECHO, 4, Number(v & 0xffff_ffffn));
  yield* cpu.out(ECHO, 4, Number(v >> 32n));
}

/** Scripted equivalent of the real guest's #GP handler (IVT 13 -> OUT GP_PORT, 13; HLT). */
function withGpHandler(body: GuestProgram): GuestProgram {
  return function* (cpu) {
    try {
      yield* body(cpu);
    } catch (e) {
      if (!(e instanceof GuestException) || e.vector !== 13) throw e;
      yield* cpu.out(GP_PORT, 1, 13);
      yield* cpu.hlt();
      return;
    }
    yield* cpu.hlt();
  };
}

const ghcbFilter: MsrFilter = {
  defaultAllow: true,
  ranges: [
    {
      flags: KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
      base: MSR_GHCB,
      nmsrs: 1,
      bitmap: new Uint8Array(1),
    },
    { flags: KVM_MSR_FILTER_READ, base: MSR_STAR, nmsrs: 1, bitmap: new Uint8Array(1) },
  ],
};
const ALL_REASONS = KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN | KVM_MSR_EXIT_REASON_FILTER;

const CASES: readonly ExitCase[] = [
  {
    name: 'OUT then IN on one port, sizes 1/2/4: data out, IN data zeroed at the exit, completion in',
    code: (a) => {
      for (const s of SIZES) echoA(a.out(0x3f8, s, 0xa1b2c3d4 & mask(s)).inDx(s), s);
      return a.hlt();
    },
    program: withGpHandler(function* (cpu) {
      for (const s of SIZES) {
        yield* cpu.out(0x3f8, s, 0xa1b2c3d4 & mask(s));
        yield* cpu.out(ECHO, s, yield* cpu.in(0x3f8, s));
      }
    }),
  },
  {
    name: 'MMIO to a GPA without a slot: reads (answered) and writes, sizes 1/2/4',
    code: (a) => {
      a.setDs(MMIO_GPA >> 4);
      for (const s of SIZES) echoA(a.load(s, 0x10 * s), s);
      for (const s of SIZES) a.movA(s, 0x5a6b7c8d & mask(s)).store(s, 0x100 + s);
      return a.hlt();
    },
    program: withGpHandler(function* (cpu) {
      for (const s of SIZES) yield* cpu.out(ECHO, s, Number(yield* cpu.load(MMIO_GPA + 0x10 * s, s)));
      for (const s of SIZES) yield* cpu.store(MMIO_GPA + 0x100 + s, s, BigInt(0x5a6b7c8d & mask(s)));
    }),
  },
  {
    name: 'read-only slot: reads are plain memory, writes exit as MMIO and change nothing',
    code: (a) => {
      a.setDs(RO_GPA >> 4);
      echoA(a.load(4, 0x1234), 4);
      a.movA(2, 0xbeef).store(2, 0x1234);
      echoA(a.load(4, 0x1234), 4);
      a.movA(1, 0x77).store(1, 0x1fff);
      return a.hlt();
    },
    program: withGpHandler(function* (cpu) {
      yield* cpu.out(ECHO, 4, Number(yield* cpu.load(RO_GPA + 0x1234, 4)));
      yield* cpu.store(RO_GPA + 0x1234, 2, 0xbeefn);
      yield* cpu.out(ECHO, 4, Number(yield* cpu.load(RO_GPA + 0x1234, 4)));
      yield* cpu.store(RO_GPA + 0x1fff, 1, 0x77n);
    }),
  },
  {
    name: 'dirty log: guest writes set exactly their pages; reads do not; the log clears on fetch',
    dirtyLog: true,
    code: (a) => {
      a.setDs(DIRTY_GPA >> 4);
      a.movA(1, 1).store(1, 0x0000);
      a.movA(4, 0x12345678).store(4, 0x3ffc);
      a.movA(2, 0x4242).store(2, 0x3010);
      a.load(4, 0x7000).load(1, 0x6000);
      a.movA(1, 5).store(1, 0x5abc);
      return echoA(a.load(4, 0x3ffc), 4).hlt();
    },
    program: withGpHandler(function* (cpu) {
      yield* cpu.store(DIRTY_GPA + 0x0000, 1, 1n);
      yield* cpu.store(DIRTY_GPA + 0x3ffc, 4, 0x12345678n);
      yield* cpu.store(DIRTY_GPA + 0x3010, 2, 0x4242n);
      yield* cpu.load(DIRTY_GPA + 0x7000, 4);
      yield* cpu.load(DIRTY_GPA + 0x6000, 1);
      yield* cpu.store(DIRTY_GPA + 0x5abc, 1, 5n);
      yield* cpu.out(ECHO, 4, Number(yield* cpu.load(DIRTY_GPA + 0x3ffc, 4)));
    }),
  },
  {
    name: 'RDMSR/WRMSR of the GHCB MSR (unknown to KVM outside SEV-ES) exit to userspace: data in and out',
    msr: { mask: ALL_REASONS },
    code: (a) => {
      rdmsrEcho(a, MSR_GHCB);
      a.movEcx(MSR_GHCB).movEdx(0x0000_0001).movA(4, 0x0000_2002).wrmsr();
      return a.hlt();
    },
    program: withGpHandler(function* (cpu) {
      yield* scriptedRdmsrEcho(cpu, MSR_GHCB);
      yield* cpu.wrmsr(MSR_GHCB, 0x1_0000_2002n);
    }),
  },
  {
    name: 'RDMSR exit answered with error = 1 injects #GP',
    msr: { mask: ALL_REASONS },
    answer: (e) => {
      if (e.kind === 'X86Rdmsr') e.msr.setError(true);
    },
    code: (a) => rdmsrEcho(a, MSR_GHCB).hlt(),
    program: withGpHandler(function* (cpu) {
      yield* scriptedRdmsrEcho(cpu, MSR_GHCB);
    }),
  },
  {
    name: 'MSR filter: denied MSRs exit with reason FILTER (a known MSR too); allowed ones stay in the kernel',
    msr: { mask: ALL_REASONS, filter: ghcbFilter },
    code: (a) => {
      rdmsrEcho(a, MSR_GHCB);
      a.movEcx(MSR_GHCB).movEdx(0).movA(4, 0x1001).wrmsr();
      rdmsrEcho(a, MSR_STAR);
      return rdmsrEcho(a, MSR_PAT).hlt();
    },
    program: withGpHandler(function* (cpu) {
      yield* scriptedRdmsrEcho(cpu, MSR_GHCB);
      yield* cpu.wrmsr(MSR_GHCB, 0x1001n);
      yield* scriptedRdmsrEcho(cpu, MSR_STAR);
      yield* scriptedRdmsrEcho(cpu, MSR_PAT);
    }),
  },
  {
    name: 'immediate_exit after an IN: KVM completes the IN first, then returns EINTR keeping exit_reason',
    answer: (e, run) => {
      defaultAnswer(e, run);
      // Set for the run after the IN; the driver clears it after the EINTR, as a VMM does.
      if (e.kind === 'IoIn') run.immediateExit = 1;
    },
    code: (a) => echoA(a.movDx(0x60).inDx(1), 1).hlt(),
    program: withGpHandler(function* (cpu) {
      yield* cpu.out(ECHO, 1, yield* cpu.in(0x60, 1));
    }),
  },
  {
    name: 'without KVM_CAP_X86_USER_SPACE_MSR an unknown MSR is #GP in the guest, no exit',
    code: (a) => rdmsrEcho(a, MSR_GHCB).hlt(),
    program: withGpHandler(function* (cpu) {
      yield* scriptedRdmsrEcho(cpu, MSR_GHCB);
    }),
  },
];

// ---- random guests: one op list, compiled to machine code and to a scripted program ----

/** One guest operation of a random program. Offsets never make an access cross a page. */
type GuestStep =
  | { op: 'out'; port: number; size: RealModeSize; value: number }
  | { op: 'in'; port: number; size: RealModeSize }
  | {
      op: 'load' | 'store';
      region: 'ram' | 'ro' | 'dirty' | 'mmio';
      off: number;
      size: RealModeSize;
      value: number;
    }
  | { op: 'rdmsr'; index: number }
  | { op: 'wrmsr'; index: number; value: bigint };

/** Where each region of the memory map starts, and its pages, for the random guests. */
const REGION_GPA = { ram: 0x9000, ro: RO_GPA, dirty: DIRTY_GPA, mmio: MMIO_GPA } as const;
const REGION_PAGES = { ram: 1, ro: 2, dirty: DIRTY_PAGES, mmio: 4 } as const;

const sizeArb = fc.constantFrom<RealModeSize>(1, 2, 4);
const portArb = fc.constantFrom(0x60, 0x3f8, 0x402, 0xcf8, 0xffff);
const stepArb: fc.Arbitrary<GuestStep> = fc.oneof(
  fc.record({ op: fc.constant('out' as const), port: portArb, size: sizeArb, value: fc.nat() }),
  fc.record({ op: fc.constant('in' as const), port: portArb, size: sizeArb }),
  fc
    .record({
      op: fc.constantFrom('load' as const, 'store' as const),
      region: fc.constantFrom('ram' as const, 'ro' as const, 'dirty' as const, 'mmio' as const),
      page: fc.nat({ max: 7 }),
      slotInPage: fc.nat({ max: 1023 }),
      size: sizeArb,
      value: fc.nat(),
    })
    .map(({ op, region, page, slotInPage, size, value }) => ({
      op,
      region,
      // Size-aligned inside one page: never a page-crossing access (that is M2, a todo below).
      off: (page % REGION_PAGES[region]) * 4096 + ((slotInPage * size) % 4096),
      size,
      value,
    })),
  fc.record({ op: fc.constant('rdmsr' as const), index: fc.constantFrom(MSR_GHCB, MSR_STAR, MSR_PAT) }),
  fc.record({
    op: fc.constant('wrmsr' as const),
    index: fc.constant(MSR_GHCB),
    value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  }),
);

/** The steps as real-mode machine code (each memory step loads DS with its page's segment). */
function compileReal(steps: readonly GuestStep[]) {
  return (a: RealModeAsm): RealModeAsm => {
    for (const s of steps) {
      switch (s.op) {
        case 'out':
          a.out(s.port, s.size, s.value & mask(s.size));
          break;
        case 'in':
          echoA(a.movDx(s.port).inDx(s.size), s.size);
          break;
        case 'load':
          a.setDs((REGION_GPA[s.region] + (s.off & ~0xfff)) >> 4);
          echoA(a.load(s.size, s.off & 0xfff), s.size);
          break;
        case 'store':
          a.setDs((REGION_GPA[s.region] + (s.off & ~0xfff)) >> 4);
          a.movA(s.size, s.value & mask(s.size)).store(s.size, s.off & 0xfff);
          break;
        case 'rdmsr':
          rdmsrEcho(a, s.index);
          break;
        case 'wrmsr':
          a.movEcx(s.index)
            .movEdx(Number(s.value >> 32n))
            .movA(4, Number(s.value & 0xffff_ffffn))
            .wrmsr();
          break;
      }
    }
    return a.hlt();
  };
}

/** The same steps as a scripted guest. */
function compileScripted(steps: readonly GuestStep[]): GuestProgram {
  return withGpHandler(function* (cpu) {
    for (const s of steps) {
      switch (s.op) {
        case 'out':
          yield* cpu.out(s.port, s.size, s.value & mask(s.size));
          break;
        case 'in':
          yield* cpu.out(ECHO, s.size, yield* cpu.in(s.port, s.size));
          break;
        case 'load':
          yield* cpu.out(ECHO, s.size, Number(yield* cpu.load(REGION_GPA[s.region] + s.off, s.size)));
          break;
        case 'store':
          yield* cpu.store(REGION_GPA[s.region] + s.off, s.size, BigInt(s.value & mask(s.size)));
          break;
        case 'rdmsr':
          yield* scriptedRdmsrEcho(cpu, s.index);
          break;
        case 'wrmsr':
          yield* cpu.wrmsr(s.index, s.value);
          break;
      }
    }
  });
}

/** The VMM of the random guests: answers depend only on the exit's position, so both sides get the same. */
function numberedAnswer(): Answer {
  let n = 0;
  return (e) => {
    n++;
    if (e.kind === 'IoIn' || e.kind === 'MmioRead') {
      for (let i = 0; i < e.data.length; i++) e.data[i] = (n * 0x10 + i) & 0xff;
    }
    if (e.kind === 'X86Rdmsr') {
      if (n % 7 === 6) e.msr.setError(true);
      else e.msr.setData(BigInt(n) * 0x0101_0101_0101_0101n);
    }
  };
}

const RANDOM_GUESTS = Number(process.env['SEVBOX_ORACLE_GUESTS'] ?? 300);
const bigintHex = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v);

/** Cases where the model once disagreed with the kernel (found by this suite, since fixed), kept as regressions. */
const KNOWN_MISMATCH_CASES: readonly (ExitCase & { readonly id: string })[] = [
  {
    id: 'M2',
    name: 'an MMIO read crossing a page boundary (no slot on either page)',
    code: (a) => echoA(a.setDs((MMIO_GPA + 0xf00) >> 4).load(4, 0xfe), 4).hlt(),
    program: withGpHandler(function* (cpu) {
      yield* cpu.out(ECHO, 4, Number(yield* cpu.load(MMIO_GPA + 0xffe, 4)));
    }),
  },
];

describe('oracle: exit protocol, scripted guests vs real-mode guests on /dev/kvm', {
  skip: host.skip,
}, () => {
  const kvm = host.kvm!;

  test(`${RANDOM_GUESTS} random guests (port I/O, MMIO, read-only and dirty-logged memory, MSRs) agree (seed ${SEED})`, () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 16 }), (steps) => {
        const base = {
          name: 'random',
          code: compileReal(steps),
          program: compileScripted(steps),
          msr: { mask: ALL_REASONS, filter: ghcbFilter },
          dirtyLog: true,
        };
        const model = modelRun({ ...base, answer: numberedAnswer() });
        const real = realRun(kvm, { ...base, answer: numberedAnswer() });
        for (const e of real.exits) seen.add(String(e['kind'] ?? e['error']));
        if (real.dirty?.[0]?.match(/[^0]/)) seen.add('dirty pages');
        assert.deepEqual(
          model,
          real,
          `guest ${JSON.stringify(steps, bigintHex)}\nmodel:  ${JSON.stringify(model)}\nkernel: ${JSON.stringify(real)}`,
        );
      }),
      { seed: SEED, numRuns: RANDOM_GUESTS, includeErrorInReport: true },
    );
    // The guests reached every kind of exit (and dirtied pages), not just the easy ones.
    const kinds = ['IoIn', 'IoOut', 'MmioRead', 'MmioWrite', 'X86Rdmsr', 'X86Wrmsr', 'Hlt', 'dirty pages'];
    if (RANDOM_GUESTS >= 100)
      assert.deepEqual(
        kinds.filter((k) => !seen.has(k)),
        [],
        [...seen].join(', '),
      );
  });

  for (const c of CASES) {
    test(c.name, () => {
      const model = modelRun(c);
      const real = realRun(kvm, c);
      assert.deepEqual(model, real, `model:\n${JSON.stringify(model)}\nkernel:\n${JSON.stringify(real)}`);
      // Every case ends with HLT on both sides, so the whole guest ran.
      assert.deepEqual(real.exits.at(-1), { kind: 'Hlt' });
    });
  }

  test('VMMCALL with an unknown hypercall number: no exit, -KVM_ENOSYS in EAX (or a backend property)', (t) => {
    const c: ExitCase = {
      name: 'vmmcall',
      code: (a) => echoA(a.movA(4, 0x1234).vmmcall(), 4).hlt(),
      program: withGpHandler(function* (cpu) {
        yield* cpu.out(ECHO, 4, Number((yield* cpu.vmmcall(0x1234n)) & 0xffff_ffffn));
      }),
    };
    const model = modelRun(c);
    const real = realRun(kvm, c);
    assert.deepEqual(model.exits, [
      { kind: 'IoOut', port: ECHO, size: 4, count: 1, data: '18fcffff' },
      { kind: 'Hlt' },
    ]);
    const emulationFailure = [{ kind: 'InternalError', suberror: 1 }];
    if (detectBackend().kind === 'software' && isDeepStrictEqual(real.exits, emulationFailure)) {
      // kvm_pvm runs real mode in KVM's instruction emulator, whose VMMCALL goes through
      // fix_hypercall (patching in the vendor's instruction); this backend cannot, so the guest
      // stops with KVM_INTERNAL_ERROR_EMULATION instead of getting -KVM_ENOSYS. Not the model's.
      t.diagnostic('backend property: VMMCALL from an emulated (real-mode) guest is an emulation failure');
      return;
    }
    assert.deepEqual(real, model);
  });

  test('backend property: a guest access to a slot whose hva cannot be faulted in', (t) => {
    // The model follows the hardware path (NPF -> hva not faultable -> KVM_RUN fails with EFAULT
    // and KVM_EXIT_MEMORY_FAULT). KVM's instruction emulator - which runs every real-mode
    // instruction on a software backend such as kvm_pvm - treats a failed guest read as MMIO
    // instead. Either is a correct KVM; which one this backend does is recorded, not judged.
    const c: ExitCase = {
      name: 'hole',
      code: (a) => echoA(a.setDs(HOLE_GPA >> 4).load(4, 0x10), 4).hlt(),
      program: function* (cpu) {
        yield* cpu.out(ECHO, 4, Number(yield* cpu.load(HOLE_GPA + 0x10, 4)));
        yield* cpu.hlt();
      },
    };
    const HOLE_HVA = 0x7e00_0000_0000;
    const model = modelRun(c, (_k, vm) => {
      vm.setUserMemoryRegion({
        slot: 3,
        flags: 0,
        guestPhysAddr: BigInt(HOLE_GPA),
        memorySize: 0x1000n,
        userspaceAddr: BigInt(HOLE_HVA),
      });
    });
    const hole = kvm.reserveHole(0x1000);
    try {
      const real = realRun(kvm, c, (vm) => {
        vm.setUserMemoryRegion({
          slot: 3,
          flags: 0,
          guestPhysAddr: BigInt(HOLE_GPA),
          memorySize: 0x1000n,
          userspaceAddr: hole.hva,
        });
      });
      assert.deepEqual(
        model.exits,
        [{ error: 'EFAULT', exitReason: 39 }],
        'the model: EFAULT + KVM_EXIT_MEMORY_FAULT',
      );
      const first = real.exits[0];
      if (first?.['kind'] === 'MmioRead') {
        t.diagnostic('backend property: an unfaultable hva is emulated as MMIO (KVM_EXIT_MMIO read)');
        assert.deepEqual(real.exits[0], { kind: 'MmioRead', addr: HOLE_GPA + 0x10, len: 4 });
      } else {
        t.diagnostic(`backend follows the hardware path: ${JSON.stringify(real.exits)}`);
        assert.deepEqual(real.exits, model.exits);
      }
    } finally {
      hole.close();
    }
  });

  for (const c of KNOWN_MISMATCH_CASES) {
    test(`${c.id} (fixed): ${c.name}`, () => {
      const model = modelRun(c);
      const real = realRun(kvm, c);
      assert.deepEqual(model, real, `model:\n${JSON.stringify(model)}\nkernel:\n${JSON.stringify(real)}`);
    });
  }
});
