/**
 * Differential test 2: the exit protocol. One VMM (src/vmm's `Vmm`, unchanged) runs each case twice:
 * on the model (`modelPlatform()`, the vCPU running the case's scripted guest) and on the machine's
 * real /dev/kvm (`{ kvm, memory: kvm.processMemory() }`, the vCPU running the case's tiny real-mode
 * machine code, which the VMM wrote into guest RAM). The same VMM code lays out the same memory map,
 * writes the same image into it, puts the vCPU at the code with `resetRealMode` on both sides, and
 * answers every exit with the same devices; each side records every exit the VMM handled
 * (`run({ onExit })`). Both must produce the same sequence of exits with the same data (port, size,
 * count, bytes; MMIO address, length, written bytes; MSR index, reason, value), the same
 * guest-visible results (echoed to port 0xE9), the same end of the run and the same dirty bitmaps.
 *
 * Memory map (both sides, the VMM's RAM regions = memslots): slot 0 RAM at GPA 0 (64 KiB: IVT,
 * code at 0x1000, #GP handler at 0x1800, stack below 0x8000); slot 1 READONLY at 0x20000 (2 pages,
 * pattern-filled by the VMM); slot 2 LOG_DIRTY_PAGES at 0x30000 (8 pages); no slot at 0x40000, where
 * the VMM has an MMIO register bank. Port devices: one device on the whole port space answering an
 * IN with 0x11, 0x22, ... (the random guests: with bytes numbered by the exit). MSRs: the VMM's
 * handler answers RDMSR with 0x1122334455667788 and accepts WRMSR.
 *
 * How a run ends: the model's scripted program ends (the CPU halts for good, `ScriptedGuests` says
 * so); on the real machine the harness's monitor says the program ended when the vCPU halted at
 * the end of the code or of the #GP handler (its RIP, KVM_GET_REGS), as a harness reads a ucall.
 * Every KVM_RUN on the real machine runs under the watchdog (1 s): a hung guest ends that run
 * with EINTR, recorded as `watchdog`, and the case fails instead of the suite hanging.
 *
 * Where the real backend deviates from the architecture as the model follows it, the case records
 * a backend property (detected, printed as a diagnostic) instead of a model failure.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { GuestException, type GuestProgram, type ScriptedCpu } from '../../src/cpu/scripted.js';
import type { GuestMonitor } from '../../src/cpu/scripted-guests.js';
import {
  asm,
  detectBackend,
  type HostKvmFd,
  HostVcpuFd,
  type RealModeAsm,
  type RealModeSize,
  resetRealMode,
} from '../../src/hostkvm/index.js';
import { KVM_CAP_X86_USER_SPACE_MSR } from '../../src/uapi/caps.js';
import { Errno } from '../../src/uapi/errno.js';
import {
  KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN,
} from '../../src/uapi/exit-reasons.js';
import type { IoctlResult, MsrFilterSpec, RunFailure, VcpuFd } from '../../src/uapi/kvm-fd.js';
import {
  KVM_MSR_FILTER_DEFAULT_ALLOW,
  KVM_MSR_FILTER_READ,
  KVM_MSR_FILTER_WRITE,
} from '../../src/uapi/msr-filter.js';
import type { VcpuExit } from '../../src/uapi/vcpu-exit.js';
import type { BusDevice } from '../../src/vmm/bus.js';
import type { MsrHandler } from '../../src/vmm/dispatch.js';
import { isVmmError, type MachineConfig, Vmm, type VmmError } from '../../src/vmm/index.js';
import { modelPlatform, type Platform } from '../../src/vmm/platform.js';
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
const DIRTY_SLOT = 2;
const MMIO_GPA = 0x4_0000;
const MMIO_SIZE = 0x4000;
/** Every 8-byte register of the VMM's MMIO bank starts as this: reads see 0x11, 0x22, ... */
const MMIO_VALUE = 0x8877_6655_4433_2211n;
const HOLE_GPA = 0x5_0000;
/** Where guests echo what they observed. */
const ECHO = 0xe9;
/** Where the #GP handler reports. */
const GP_PORT = 0xe0;
/** The GHCB MSR (MSR_AMD64_SEV_ES_GHCB). */
const MSR_GHCB = 0xc001_0130;
const MSR_PAT = 0x277;
const MSR_STAR = 0xc000_0081;
/** KVM_RUN calls one case may make, over all its runs. */
const MAX_KVM_RUNS = 64;
/** The watchdog deadline of each KVM_RUN on the real machine. */
const HOST_RUN_TIMEOUT_MS = 1000;

/** What the VMM puts in the read-only slot: byte i = (i * 7 + 3) & 0xff. */
function roPattern(): Uint8Array {
  return Uint8Array.from({ length: RO_SIZE }, (_, i) => (i * 7 + 3) & 0xff);
}

/** The part of a VcpuExit both sides must agree on (data as hex). */
type ExitRecord = Record<string, string | number>;

const hexBytes = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * One exit as recorded after the VMM handled it. `inLeft` is what KVM left in an IN's data (the
 * port device saw it before answering), `mmioLeft` in an MMIO read's (seen as KVM_RUN returned):
 * both KVMs must zero them, or leave the same bytes.
 */
function record(e: VcpuExit, inLeft: string, mmioLeft: string): ExitRecord {
  switch (e.kind) {
    case 'IoIn':
      return { kind: e.kind, port: e.port, size: e.size, count: e.count, data: inLeft };
    case 'IoOut':
      return { kind: e.kind, port: e.port, size: e.size, count: e.count, data: hexBytes(e.data) };
    case 'MmioRead':
      // The bytes of a read exit are the VMM's to fill: KVM leaves whatever was there.
      return { kind: e.kind, addr: e.addr, len: e.data.length, left: mmioLeft };
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

// ---- the VMM's answers ----

/**
 * How the VMM answers: byte `i` of an IN, and RDMSR's value (undefined: error = 1, #GP in the
 * guest). `n` is the exit's number in the run (1-based), so an answer depends only on the position
 * of its exit and both sides get the same.
 */
interface Answers {
  readonly inByte: (n: number, i: number) => number;
  readonly rdmsr: (n: number, index: number) => bigint | undefined;
}

/** IN: 0x11, 0x22, ...; RDMSR: 0x1122334455667788. */
const FIXED_ANSWERS: Answers = {
  inByte: (_n, i) => (0x11 * (i + 1)) & 0xff,
  rdmsr: () => 0x1122_3344_5566_7788n,
};

/** Answers numbered by the exit (the random guests): every 7th exit's RDMSR fails. */
const NUMBERED_ANSWERS: Answers = {
  inByte: (n, i) => (n * 0x10 + i) & 0xff,
  rdmsr: (n) => (n % 7 === 6 ? undefined : BigInt(n) * 0x0101_0101_0101_0101n),
};

/** The VMM's exits handled so far (the numbering of {@link Answers}). */
interface ExitCounter {
  n: number;
}

/** The port device on the whole port space: answers INs, records what KVM left in each IN's data. */
interface PortDevice extends BusDevice {
  /** What KVM left in the data of the INs since the last call (hex), and forget it. */
  takeLeft(): string;
}

function portDevice(answers: Answers, count: ExitCounter): PortDevice {
  let left = '';
  return {
    name: 'oracle-ports',
    read(_port, data) {
      left += hexBytes(data);
      for (let i = 0; i < data.length; i++) data[i] = answers.inByte(count.n + 1, i);
    },
    write() {},
    takeLeft() {
      const s = left;
      left = '';
      return s;
    },
  };
}

/** The VMM's MSR handler: RDMSR as the answers say, WRMSR accepted. */
function msrHandler(answers: Answers, count: ExitCounter): MsrHandler {
  return {
    read: (index) => answers.rdmsr(count.n + 1, index),
    write: () => true,
  };
}

// ---- the case, the machine, the VMM ----

interface ExitCase {
  readonly name: string;
  /** Real-mode code placed at CODE (ends in HLT). */
  readonly code: (a: RealModeAsm) => RealModeAsm;
  /** The scripted guest doing the same (its end is the CPU's final halt). */
  readonly program: GuestProgram;
  /** How the VMM answers (default {@link FIXED_ANSWERS}). */
  readonly answers?: Answers;
  /** VMM setup on top of the common machine (MSR exits and filters, host-side unmaps), before the vCPU. */
  readonly setup?: (vmm: Vmm) => void;
  /** Read and compare slot 2's dirty bitmap after the run (twice: the second must be clear). */
  readonly dirtyLog?: boolean;
  /** A RAM region 'hole' (slot 3) at HOLE_GPA. */
  readonly hole?: boolean;
  /** After the VMM handled an exit, before the next KVM_RUN (the VMM's own vCPU fd). */
  readonly onExit?: (exit: VcpuExit, vcpu: VcpuFd) => void;
}

/** Everything a run produced. */
interface Transcript {
  readonly exits: ExitRecord[];
  /** How the VMM's last run ended (its StopReason kind). */
  readonly stop: string;
  readonly dirty?: string[];
}

/** The memory map: RAM, the read-only and dirty-logged slots, the MMIO bank in a hole of its own. */
function machineConfig(c: ExitCase): MachineConfig {
  return {
    ram: [
      { name: 'ram', gpa: 0, size: RAM_SIZE },
      { name: 'ro', gpa: RO_GPA, size: RO_SIZE, readonly: true },
      { name: 'dirty', gpa: DIRTY_GPA, size: DIRTY_PAGES * 4096, logDirty: true },
      ...(c.hole ? [{ name: 'hole', gpa: HOLE_GPA, size: 0x1000 }] : []),
    ],
    mmio: [{ name: 'mmio', kind: 'register', gpa: MMIO_GPA, size: MMIO_SIZE, value: MMIO_VALUE }],
    serial: false,
    debugExitPort: false,
    vcpus: 1,
  };
}

/** The real-mode image: the case's code and the #GP handler (IVT 13 -> OUT GP_PORT, 13; HLT). */
interface GuestImage {
  readonly code: Uint8Array;
  readonly gpHandler: Uint8Array;
}

function guestImage(c: ExitCase): GuestImage {
  return { code: c.code(asm()).bytes(), gpHandler: asm().out(GP_PORT, 1, 13).hlt().bytes() };
}

/** One machine of one side: its platform, the vCPU's guest, and what the side does around a run. */
interface SideMachine {
  readonly platform: Platform;
  /** The model's scripted guest; undefined on the real machine (the guest is the code in RAM). */
  readonly program: GuestProgram | undefined;
  /** The VMM created its vCPU. */
  vcpuAdded(fd: VcpuFd): void;
  /** The last KVM_RUN on `fd` ended because the watchdog's deadline passed. */
  timedOut(fd: VcpuFd): boolean;
  /** After the VMM was destroyed. */
  close(): void;
}

/** A backend the VMM runs on. */
interface Side {
  readonly name: 'model' | 'kernel';
  open(c: ExitCase, image: GuestImage): SideMachine;
}

/** The model: a fresh model platform per machine; the vCPU runs the case's scripted program. */
const MODEL: Side = {
  name: 'model',
  open: (c) => ({
    platform: modelPlatform(),
    program: c.program,
    vcpuAdded: () => {},
    timedOut: () => false,
    close: () => {},
  }),
};

/**
 * What the harness knows of a real-mode guest without KVM's help: its program ended when the vCPU
 * halted right after the last instruction of the code or of the #GP handler (both end in HLT).
 */
class RealModeEndMonitor implements GuestMonitor {
  readonly fds = new Map<number, VcpuFd>();

  constructor(readonly ends: readonly number[]) {}

  finished(id: number): boolean {
    const regs = this.fds.get(id)?.getRegs();
    return regs !== undefined && !(regs instanceof Errno) && this.ends.includes(Number(regs.rip));
  }

  crash(): string | undefined {
    return undefined;
  }
}

/** The machine's /dev/kvm: a fresh process memory per machine, the watchdog on every KVM_RUN. */
function hostSide(kvm: HostKvmFd): Side {
  return {
    name: 'kernel',
    open: (_c, image) => {
      const memory = kvm.processMemory();
      const monitor = new RealModeEndMonitor([CODE + image.code.length, GP_HANDLER + image.gpHandler.length]);
      return {
        platform: { kvm, memory, guests: monitor },
        program: undefined,
        vcpuAdded: (fd) => {
          assert.ok(fd instanceof HostVcpuFd);
          fd.timeoutMs = HOST_RUN_TIMEOUT_MS;
          monitor.fds.set(fd.id, fd);
        },
        timedOut: (fd) => fd instanceof HostVcpuFd && fd.lastRunTimedOut,
        close: () => memory.close(),
      };
    },
  };
}

/** The value, failing the test when it is an errno or a VmmError. */
function must<T>(what: string, v: T | VmmError | Errno): T {
  if (v instanceof Errno) assert.fail(`${what}: ${v}`);
  if (isVmmError(v)) assert.fail(`${what}: ${v.errno}: ${v.message}`);
  return v;
}

/** A call that returns nothing or its failure: fail the test on a failure. */
function mustDo(what: string, v: IoctlResult<void> | VmmError): void {
  must(what, v);
}

/**
 * The VMM of the oracle, identical on both sides: build the machine, write the image, add the vCPU
 * at CODE in real mode, run it to its end answering every exit, read the dirty log. An EINTR
 * (immediate_exit) is recorded with the exit_reason kvm_run kept, immediate_exit is cleared and the
 * VMM runs again, as a VMM does.
 */
function runMachine(side: Side, c: ExitCase): Transcript {
  const image = guestImage(c);
  const m = side.open(c, image);
  const count: ExitCounter = { n: 0 };
  const answers = c.answers ?? FIXED_ANSWERS;
  const ports = portDevice(answers, count);
  const vmm = Vmm.create(machineConfig(c), { platform: m.platform, msr: msrHandler(answers, count) });
  if (isVmmError(vmm)) {
    m.close();
    assert.fail(`Vmm.create on the ${side.name}: ${vmm.errno}: ${vmm.message}`);
  }
  try {
    mustDo('pio.register', vmm.pio.register(0, 0x1_0000, ports));
    const ivt13 = new Uint8Array(4);
    new DataView(ivt13.buffer).setUint16(0, GP_HANDLER, true); // IVT entry 13 (#GP) -> 0000:GP_HANDLER
    for (const [gpa, bytes] of [
      [CODE, image.code],
      [GP_HANDLER, image.gpHandler],
      [13 * 4, ivt13],
      [RO_GPA, roPattern()],
    ] as const) {
      mustDo(`writeGpa 0x${gpa.toString(16)}`, vmm.writeGpa(gpa, bytes));
    }
    c.setup?.(vmm);
    const v = must('addVcpu', vmm.addVcpu(m.program));
    m.vcpuAdded(v.fd);
    mustDo('resetRealMode', resetRealMode(v.fd, CODE, STACK_TOP));
    const exits: ExitRecord[] = [];
    let mmioLeft = '';
    const onKvmRun = (_id: number, r: VcpuExit | RunFailure): void => {
      mmioLeft = r.kind === 'MmioRead' ? hexBytes(r.data) : '';
    };
    const onExit = (_id: number, e: VcpuExit): void => {
      exits.push(record(e, ports.takeLeft(), mmioLeft));
      count.n++;
      c.onExit?.(e, v.fd);
    };
    // A KVM_RUN the VMM's kick (immediate_exit) ended: the VMM runs on, the record keeps it.
    const onRunFailure = (_id: number, f: RunFailure): void => {
      if (f.error.errno === 'EINTR' && v.fd.runArea.immediateExit)
        exits.push({ error: f.error.errno, exitReason: f.left.reason });
    };
    let kvmRuns = 0;
    let stop: string;
    for (;;) {
      const r = vmm.run({ onExit, onKvmRun, onRunFailure, maxKvmRuns: MAX_KVM_RUNS - kvmRuns });
      kvmRuns += r.kvmRuns;
      stop = r.stop.kind;
      if (r.stop.kind === 'limit') {
        exits.push({ error: 'too many exits' });
      } else if (r.stop.kind === 'kvm-error') {
        if (m.timedOut(v.fd)) {
          exits.push({ error: 'watchdog' });
          break;
        }
        exits.push({ error: r.stop.errno, exitReason: v.fd.runArea.exitReason });
        if (r.stop.errno === 'EINTR' && kvmRuns < MAX_KVM_RUNS) {
          v.fd.runArea.immediateExit = 0;
          continue;
        }
      }
      break;
    }
    const dirty = c.dirtyLog
      ? [0, 1].map(() => hexBytes(must('KVM_GET_DIRTY_LOG', vmm.vm.getDirtyLog(DIRTY_SLOT))))
      : undefined;
    return { exits, stop, ...(dirty && { dirty }) };
  } finally {
    vmm.destroy();
    m.close();
  }
}

/** KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR) with another mask than the VMM's. */
const userSpaceMsr =
  (mask: number) =>
  (vmm: Vmm): void => {
    const r = vmm.vm.enableCap({ cap: KVM_CAP_X86_USER_SPACE_MSR, flags: 0, args: [BigInt(mask)] });
    mustDo('KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)', r);
  };

/** KVM_X86_SET_MSR_FILTER. */
const msrFilter =
  (filter: MsrFilterSpec) =>
  (vmm: Vmm): void => {
    mustDo('KVM_X86_SET_MSR_FILTER', vmm.vm.setMsrFilter(filter));
  };

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

/**
 * Scripted equivalent of the real guest's #GP handler (IVT 13 -> OUT GP_PORT, 13; HLT). The final
 * HLT of the real code (or handler) is the scripted program's end: its CPU then halts for good.
 */
function withGpHandler(body: GuestProgram): GuestProgram {
  return function* (cpu) {
    try {
      yield* body(cpu);
    } catch (e) {
      if (!(e instanceof GuestException) || e.vector !== 13) throw e;
      yield* cpu.out(GP_PORT, 1, 13);
    }
  };
}

/** Denies RDMSR/WRMSR of the GHCB MSR and RDMSR of STAR; everything else allowed (bitmaps of one long each). */
const ghcbFilter: MsrFilterSpec = {
  flags: KVM_MSR_FILTER_DEFAULT_ALLOW,
  ranges: [
    {
      flags: KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
      base: MSR_GHCB,
      nmsrs: 1,
      bitmap: new Uint8Array(8),
    },
    { flags: KVM_MSR_FILTER_READ, base: MSR_STAR, nmsrs: 1, bitmap: new Uint8Array(8) },
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
    setup: userSpaceMsr(ALL_REASONS),
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
    setup: userSpaceMsr(ALL_REASONS),
    answers: { ...FIXED_ANSWERS, rdmsr: () => undefined },
    code: (a) => rdmsrEcho(a, MSR_GHCB).hlt(),
    program: withGpHandler(function* (cpu) {
      yield* scriptedRdmsrEcho(cpu, MSR_GHCB);
    }),
  },
  {
    name: 'MSR filter: denied MSRs exit with reason FILTER (a known MSR too); allowed ones stay in the kernel',
    setup: (vmm) => {
      userSpaceMsr(ALL_REASONS)(vmm);
      msrFilter(ghcbFilter)(vmm);
    },
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
    onExit: (e, vcpu) => {
      // Set for the run after the IN; the VMM clears it after the EINTR and runs again.
      if (e.kind === 'IoIn') vcpu.runArea.immediateExit = 1;
    },
    code: (a) => echoA(a.movDx(0x60).inDx(1), 1).hlt(),
    program: withGpHandler(function* (cpu) {
      yield* cpu.out(ECHO, 1, yield* cpu.in(0x60, 1));
    }),
  },
  {
    name: 'without KVM_CAP_X86_USER_SPACE_MSR an unknown MSR is #GP in the guest, no exit',
    // The VMM asks for MSR exits; this case takes the capability back (mask 0).
    setup: userSpaceMsr(0),
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
      // Size-aligned inside one page: never a page-crossing access (that is M2, below).
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

describe('oracle: exit protocol, one VMM on the model (scripted guests) and on /dev/kvm (real-mode guests)', {
  skip: host.skip,
}, () => {
  const kernel = hostSide(host.kvm!);

  /** The case on both sides, and their transcripts compared whole. */
  function both(c: ExitCase): { model: Transcript; real: Transcript } {
    const model = runMachine(MODEL, c);
    const real = runMachine(kernel, c);
    return { model, real };
  }

  test(`${RANDOM_GUESTS} random guests (port I/O, MMIO, read-only and dirty-logged memory, MSRs) agree (seed ${SEED})`, (t) => {
    const seen = new Set<string>();
    let exits = 0;
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 16 }), (steps) => {
        const c: ExitCase = {
          name: 'random',
          code: compileReal(steps),
          program: compileScripted(steps),
          answers: NUMBERED_ANSWERS,
          setup: (vmm) => {
            userSpaceMsr(ALL_REASONS)(vmm);
            msrFilter(ghcbFilter)(vmm);
          },
          dirtyLog: true,
        };
        const { model, real } = both(c);
        exits += real.exits.length;
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
    t.diagnostic(
      `${RANDOM_GUESTS} random guests: ${exits} exits compared (kinds seen: ${[...seen].join(', ')})`,
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
      const { model, real } = both(c);
      assert.deepEqual(model, real, `model:\n${JSON.stringify(model)}\nkernel:\n${JSON.stringify(real)}`);
      // Every case ends with HLT on both sides, and the VMM saw the guest's end: the whole guest ran.
      assert.deepEqual(real.exits.at(-1), { kind: 'Hlt' });
      assert.equal(real.stop, 'guest-done');
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
    const { model, real } = both(c);
    assert.deepEqual(model, {
      exits: [{ kind: 'IoOut', port: ECHO, size: 4, count: 1, data: '18fcffff' }, { kind: 'Hlt' }],
      stop: 'guest-done',
    });
    const emulationFailure = { exits: [{ kind: 'InternalError', suberror: 1 }], stop: 'internal-error' };
    if (detectBackend().kind === 'software' && isDeepStrictEqual(real, emulationFailure)) {
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
      hole: true,
      // The VMM unmaps the pages behind the slot (munmap; the memslot stays).
      setup: (vmm) => mustDo('unmapGpa', vmm.unmapGpa(HOLE_GPA, 0x1000)),
      code: (a) => echoA(a.setDs(HOLE_GPA >> 4).load(4, 0x10), 4).hlt(),
      program: function* (cpu) {
        yield* cpu.out(ECHO, 4, Number(yield* cpu.load(HOLE_GPA + 0x10, 4)));
      },
    };
    const { model, real } = both(c);
    assert.deepEqual(
      model,
      { exits: [{ error: 'EFAULT', exitReason: 39 }], stop: 'kvm-error' },
      'the model: EFAULT + KVM_EXIT_MEMORY_FAULT',
    );
    const first = real.exits[0];
    if (first?.['kind'] === 'MmioRead') {
      t.diagnostic('backend property: an unfaultable hva is emulated as MMIO (KVM_EXIT_MMIO read)');
      assert.deepEqual(real.exits[0], { kind: 'MmioRead', addr: HOLE_GPA + 0x10, len: 4, left: '00000000' });
    } else {
      t.diagnostic(`backend follows the hardware path: ${JSON.stringify(real.exits)}`);
      assert.deepEqual(real, model);
    }
  });

  for (const c of KNOWN_MISMATCH_CASES) {
    test(`${c.id} (fixed): ${c.name}`, () => {
      const { model, real } = both(c);
      assert.deepEqual(model, real, `model:\n${JSON.stringify(model)}\nkernel:\n${JSON.stringify(real)}`);
      // The guest ran to its end on both sides (not two equally empty transcripts).
      assert.deepEqual(real.exits.at(-1), { kind: 'Hlt' });
      assert.equal(real.stop, 'guest-done');
    });
  }

  test('a guest that never exits is ended by the watchdog on the real machine, not left hanging', () => {
    // `jmp $` on the real machine; the scripted side is just the shape of the transcript.
    const c: ExitCase = { name: 'hang', code: (a) => a.jmpSelf(), program: function* () {} };
    const t0 = performance.now();
    const real = runMachine(kernel, c);
    const dt = performance.now() - t0;
    assert.deepEqual(real, { exits: [{ error: 'watchdog' }], stop: 'kvm-error' });
    assert.ok(dt < HOST_RUN_TIMEOUT_MS * 3, `ended after ${dt.toFixed(0)} ms`);
  });
});
