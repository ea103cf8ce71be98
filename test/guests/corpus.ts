/**
 * The machine-code guest corpus of examples/guests/ for tests: each guest's expectations
 * (<name>.expect.json, format in examples/guests/README.md, checked here with zod), its built
 * images, and a tiny VMM over the fd interface (src/uapi/kvm-fd.ts) that boots a guest, runs it
 * answering its port and MMIO exits from the expectations, and reads back the final state. Any
 * backend behind the fd interface can run the corpus this way: the machine's /dev/kvm today, the
 * x86 interpreter later.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type { ProcessMemory } from '../../src/host/process.js';
import { resetRealMode } from '../../src/hostkvm/index.js';
import { Errno } from '../../src/uapi/errno.js';
import type { KvmFd, VcpuFd, VmFd } from '../../src/uapi/kvm-fd.js';
import { KVM_REGS_OFFSETS } from '../../src/uapi/regs.js';
import type { KvmSregs } from '../../src/uapi/sregs.js';
import {
  type GuestImage,
  GuestRam,
  isVmmError,
  type VmmError,
  writeGuestImage,
} from '../../src/vmm/index.js';

/** examples/guests/. */
export const GUESTS_DIR = resolve(import.meta.dirname, '../../examples/guests');
/** Where `npm run guests` puts the committed images. */
export const BUILD_DIR = join(GUESTS_DIR, 'build');

const hexNum = z.string().regex(/^0x[0-9a-f]+$/, 'a lower-case hex number such as 0x3f8');
const hexBytes = z.string().regex(/^(?:[0-9a-f]{2})*$/, 'bytes as lower-case hex, e.g. 7856');

/** One exit to userspace, as the VMM sees it (the VcpuExit kinds of src/uapi/vcpu-exit.ts). */
const exitSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('IoOut'),
    port: hexNum,
    size: z.number(),
    count: z.number(),
    data: hexBytes,
  }),
  z.strictObject({
    kind: z.literal('IoIn'),
    port: hexNum,
    size: z.number(),
    count: z.number(),
    reply: hexBytes,
  }),
  z.strictObject({ kind: z.literal('MmioWrite'), addr: hexNum, data: hexBytes }),
  z.strictObject({ kind: z.literal('MmioRead'), addr: hexNum, len: z.number(), reply: hexBytes }),
  z.strictObject({ kind: z.literal('Hlt') }),
  z.strictObject({ kind: z.literal('Shutdown') }),
]);

const REG_NAMES = Object.keys(KVM_REGS_OFFSETS) as (keyof typeof KVM_REGS_OFFSETS)[];
const CONTROL_NAMES = [
  'cr0',
  'cr2',
  'cr3',
  'cr4',
  'cr8',
  'efer',
] as const satisfies readonly (keyof KvmSregs)[];
const SEGMENT_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss'] as const satisfies readonly (keyof KvmSregs)[];

const expectSchema = z.strictObject({
  description: z.string(),
  loadGpa: hexNum,
  ram: z.array(z.strictObject({ gpa: hexNum, size: hexNum })).min(1),
  cpuid: z.literal('supported'),
  entry: z.strictObject({ mode: z.literal('real-flat'), rip: hexNum }),
  exits: z.array(exitSchema).min(1),
  final: z.strictObject({
    regs: z.partialRecord(z.enum(REG_NAMES), hexNum),
    sregs: z.partialRecord(z.enum([...CONTROL_NAMES, ...SEGMENT_NAMES]), hexNum),
    memory: z.array(z.strictObject({ gpa: hexNum, data: hexBytes })),
  }),
});

/** A guest's expectations (<name>.expect.json). */
export type GuestExpect = z.infer<typeof expectSchema>;
/** One expected (or recorded) exit. */
export type ExpectedExit = z.infer<typeof exitSchema>;
/** The final state, in the shape of `GuestExpect['final']`. */
export type FinalState = GuestExpect['final'];

/** The guests with an expectations file, sorted. */
export function guestNames(): string[] {
  return readdirSync(GUESTS_DIR)
    .filter((f) => f.endsWith('.expect.json'))
    .map((f) => f.slice(0, -'.expect.json'.length))
    .sort();
}

/** A guest's expectations, validated (throws with zod's report on a malformed file). */
export function loadExpect(name: string): GuestExpect {
  const file = join(GUESTS_DIR, `${name}.expect.json`);
  const r = expectSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!r.success) throw new Error(`${file}: ${z.prettifyError(r.error)}`);
  return r.data;
}

/** Parse `0x…` (safe-integer values only). */
export const num = (h: string): number => Number.parseInt(h, 16);
const hex = (v: number | bigint): string => `0x${v.toString(16)}`;
const bytesHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A booted guest: its VM, vCPU and RAM (the VMM's GuestRam); `close()` releases all three. */
export interface BootedGuest {
  readonly vm: VmFd;
  readonly vcpu: VcpuFd;
  readonly ram: GuestRam;
  close(): void;
}

/** What a VMM needs to boot a guest: a /dev/kvm and the process memory to map RAM in. */
export interface GuestPlatform {
  readonly kvm: KvmFd;
  readonly memory: ProcessMemory;
}

/**
 * Boot a guest as a VMM does: a VM, the expectation's RAM as memslots (anonymous memory), the image
 * written into it, one vCPU with the CPUID KVM supports, in the entry state (flat real mode at
 * `entry`: resetRealMode, RSP 0). The first failure comes back as a message.
 */
export function bootGuest(
  p: GuestPlatform,
  expect: GuestExpect,
  image: GuestImage,
  entry: number,
): BootedGuest | string {
  const vm = p.kvm.createVm();
  if (vm instanceof Errno) return `KVM_CREATE_VM: ${vm}`;
  const ram = new GuestRam(p.memory);
  let vcpu: VcpuFd | undefined;
  const close = (): void => {
    vcpu?.close();
    vm.close();
    ram.destroy();
  };
  const fail = (what: string, e: Errno | VmmError): string => {
    close();
    return `${what}: ${isVmmError(e) ? `${e.errno}: ${e.message}` : e}`;
  };
  for (const [slot, r] of expect.ram.entries()) {
    const e = ram.add(vm, slot, { gpa: num(r.gpa), size: num(r.size) });
    if (e) return fail(`RAM region ${slot}`, e);
  }
  const w = writeGuestImage(ram, image);
  if (w) return fail('writing the image', w);
  const v = vm.createVcpu(0);
  if (v instanceof Errno) return fail('KVM_CREATE_VCPU', v);
  vcpu = v;
  const cpuid = p.kvm.getSupportedCpuid(256);
  if (cpuid instanceof Errno) return fail('KVM_GET_SUPPORTED_CPUID', cpuid);
  const set = v.setCpuid2(cpuid);
  if (set instanceof Errno) return fail('KVM_SET_CPUID2', set);
  const reset = resetRealMode(v, entry, 0);
  if (reset instanceof Errno) return fail('entry state', reset);
  return { vm, vcpu: v, ram, close };
}

/** Fill an IN's or MMIO read's data with `reply` (as far as both go) and say what was given. */
function answer(data: Uint8Array, reply: string | undefined): string {
  data.fill(0);
  data.set(Buffer.from(reply ?? '', 'hex').subarray(0, data.length));
  return bytesHex(data);
}

/**
 * The tiny VMM loop: KVM_RUN until an exit other than port I/O or MMIO (or a failed KVM_RUN),
 * recording each exit in the expectation format. INs and MMIO reads get the reply the expectation
 * has at the same position (zeros if it expects something else there). Stops early at the first
 * exit that differs from the expectation, and after one exit more than expected.
 */
export function runGuest(
  vcpu: VcpuFd,
  expected: readonly ExpectedExit[],
): (ExpectedExit | Record<string, unknown>)[] {
  const seen: (ExpectedExit | Record<string, unknown>)[] = [];
  for (let i = 0; i <= expected.length; i++) {
    const want = expected[i];
    const r = vcpu.run();
    let got: ExpectedExit | Record<string, unknown>;
    let more = true;
    switch (r.kind) {
      case 'IoOut':
        got = { kind: r.kind, port: hex(r.port), size: r.size, count: r.count, data: bytesHex(r.data) };
        break;
      case 'IoIn': {
        const reply = answer(r.data, want?.kind === 'IoIn' ? want.reply : undefined);
        got = { kind: r.kind, port: hex(r.port), size: r.size, count: r.count, reply };
        break;
      }
      case 'MmioWrite':
        got = { kind: r.kind, addr: hex(r.addr), data: bytesHex(r.data) };
        break;
      case 'MmioRead': {
        const reply = answer(r.data, want?.kind === 'MmioRead' ? want.reply : undefined);
        got = { kind: r.kind, addr: hex(r.addr), len: r.data.length, reply };
        break;
      }
      case 'Failed':
        got = { kind: r.kind, errno: r.error.errno, left: r.left.kind };
        more = false;
        break;
      case 'InternalError':
        got = { kind: r.kind, suberror: r.suberror, data: r.data.map(hex) };
        more = false;
        break;
      default:
        got = { kind: r.kind };
        more = false;
    }
    seen.push(got);
    if (!more || !isDeepStrictEqual(got, want)) break;
  }
  return seen;
}

/** The vCPU's and RAM's state at the fields `expect` names, in its shape (values as hex). */
export function finalState(guest: BootedGuest, expect: FinalState): FinalState | string {
  const regs = guest.vcpu.getRegs();
  if (regs instanceof Errno) return `KVM_GET_REGS: ${regs}`;
  const sregs = guest.vcpu.getSregs();
  if (sregs instanceof Errno) return `KVM_GET_SREGS: ${sregs}`;
  const out: FinalState = { regs: {}, sregs: {}, memory: [] };
  for (const k of Object.keys(expect.regs) as (keyof FinalState['regs'])[]) out.regs[k] = hex(regs[k]);
  for (const k of Object.keys(expect.sregs) as (keyof FinalState['sregs'])[]) {
    const v = sregs[k];
    out.sregs[k] = hex(typeof v === 'bigint' ? v : v.selector);
  }
  for (const m of expect.memory) {
    const buf = new Uint8Array(m.data.length / 2);
    const e = guest.ram.read(num(m.gpa), buf);
    if (e) return `reading ${m.gpa}: ${e.message}`;
    out.memory.push({ gpa: m.gpa, data: bytesHex(buf) });
  }
  return out;
}
