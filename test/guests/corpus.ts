/**
 * The machine-code guest corpus of examples/guests/ for tests: each guest's expectations
 * (<name>.expect.json, format in examples/guests/README.md, checked here with zod), its built
 * images, and a tiny VMM over the fd interface (src/uapi/kvm-fd.ts) that boots a guest, runs it
 * answering its port and MMIO exits from the expectations, and reads back the final state. Any
 * backend behind the fd interface can run the corpus this way: the machine's /dev/kvm and the x86
 * interpreter (SEV-ES guests only the interpreter: a real /dev/kvm needs SEV hardware for them).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type { ProcessMemory } from '../../src/host/process.js';
import { resetRealMode } from '../../src/hostkvm/index.js';
import { KVM_X86_SEV_ES_VM } from '../../src/uapi/caps.js';
import { Errno } from '../../src/uapi/errno.js';
import { KVM_SYSTEM_EVENT_SEV_TERM } from '../../src/uapi/exit-reasons.js';
import type { KvmFd, VcpuFd, VmFd } from '../../src/uapi/kvm-fd.js';
import { KVM_REGS_OFFSETS } from '../../src/uapi/regs.js';
import { encodeSevInit, KVM_SEV_INIT2 } from '../../src/uapi/sev-cmd.js';
import type { KvmSregs } from '../../src/uapi/sregs.js';
import {
  flatImage,
  formatImageFormatError,
  type GuestImage,
  GuestRam,
  isImageFormatError,
  isVmmError,
  parseElfImage,
  type VmmError,
  writeGuestImage,
} from '../../src/vmm/index.js';
import { isSevLaunchError, launchSevEs } from '../../src/vmm/sev-launch.js';

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
  // KVM_EXIT_SYSTEM_EVENT / KVM_SYSTEM_EVENT_SEV_TERM: the GHCB MSR protocol's termination request
  // (data[0] = the GHCB MSR: 0x100 | set << 12 | code << 16).
  z.strictObject({ kind: z.literal('SevTermination'), set: z.number(), code: z.number() }),
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

const region = z.strictObject({ gpa: hexNum, size: hexNum });

const expectSchema = z
  .strictObject({
    description: z.string(),
    /** The VM type: `default` (KVM_X86_DEFAULT_VM, the default) or `sev-es`. */
    vm: z.enum(['default', 'sev-es']).optional(),
    /** sev-es only: KVM_SEV_INIT2's GHCB protocol version. */
    ghcbVersion: z.union([z.literal(1), z.literal(2)]).optional(),
    loadGpa: hexNum,
    ram: z.array(region).min(1),
    /** A memslot for the image outside RAM (a firmware ROM at the top of 4 GiB), after the RAM slots. */
    rom: region.optional(),
    cpuid: z.literal('supported'),
    entry: z.discriminatedUnion('mode', [
      z.strictObject({ mode: z.literal('real-flat'), rip: hexNum }),
      z.strictObject({ mode: z.literal('reset') }),
    ]),
    exits: z.array(exitSchema).min(1),
    final: z.strictObject({
      regs: z.partialRecord(z.enum(REG_NAMES), hexNum),
      sregs: z.partialRecord(z.enum([...CONTROL_NAMES, ...SEGMENT_NAMES]), hexNum),
      memory: z.array(z.strictObject({ gpa: hexNum, data: hexBytes })),
    }),
  })
  .superRefine((e, ctx) => {
    const sevEs = e.vm === 'sev-es';
    if (sevEs !== (e.ghcbVersion !== undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['ghcbVersion'],
        message: 'given for, and only for, "vm": "sev-es"',
      });
    // An SEV-ES vCPU's registers are the VMSA's: KVM_GET_REGS/SREGS fail (has_protected_state).
    if (sevEs && Object.keys(e.final.regs).length + Object.keys(e.final.sregs).length > 0)
      ctx.addIssue({ code: 'custom', path: ['final'], message: 'an SEV-ES guest has no readable registers' });
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

/**
 * The scenario twins (twin-<family>.c, SEV-ES guests on lib/): their expectations are not an
 * .expect.json but the scenario examples/machine-code/<family>.yaml that runs them
 * (test/x86/twins.test.ts); their image is the library's 64 KiB ROM at 0xffff0000. Sorted.
 */
export function twinNames(): string[] {
  return readdirSync(GUESTS_DIR)
    .filter((f) => f.startsWith('twin-') && f.endsWith('.c'))
    .map((f) => f.slice(0, -2))
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

/**
 * A guest's built image: the ELF, or the flat binary at the expectation's load GPA. A file that
 * does not load throws, with the reason.
 */
export function guestImage(name: string, format: 'elf' | 'bin', expect: GuestExpect): GuestImage {
  const file = `${name}.${format}`;
  const bytes = readFileSync(join(BUILD_DIR, file));
  const image = format === 'elf' ? parseElfImage(bytes) : flatImage(bytes, num(expect.loadGpa));
  if (isImageFormatError(image)) throw new Error(formatImageFormatError(image, file));
  if (image instanceof Errno) throw new Error(`${file}: ${image}`);
  return image;
}

/** The reset vector: where a vCPU in its RESET state starts (CS.base 0xffff0000 + IP 0xfff0). */
export const RESET_VECTOR = 0xffff_fff0;

/** Where the guest's first instruction is: the entry's RIP (flat real mode) or the reset vector. */
export function entryAddress(expect: GuestExpect): number {
  return expect.entry.mode === 'reset' ? RESET_VECTOR : num(expect.entry.rip);
}
const hex = (v: number | bigint): string => `0x${v.toString(16)}`;
const bytesHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A booted guest: its VM, vCPU and RAM (the VMM's GuestRam); `close()` releases all three. */
export interface BootedGuest {
  readonly vm: VmFd;
  readonly vcpu: VcpuFd;
  readonly ram: GuestRam;
  close(): void;
}

/**
 * What a VMM needs to boot a guest: a /dev/kvm and the process memory to map RAM in; for an SEV-ES
 * guest also a way to open /dev/sev (the launch's LAUNCH_START goes through it).
 */
export interface GuestPlatform {
  readonly kvm: KvmFd;
  readonly memory: ProcessMemory;
  readonly openSevDevice?: () => number;
}

/**
 * The SEV-ES launch (src/vmm/sev-launch.ts): LAUNCH_START, LAUNCH_UPDATE_DATA of every page the
 * image's segments touch (each page once: the update encrypts in place), LAUNCH_UPDATE_VMSA,
 * MEASURE, FINISH. The image is then ciphertext in memory, as a VMM's firmware is.
 */
function launch(p: GuestPlatform, vm: VmFd, ram: GuestRam, image: GuestImage): string | undefined {
  if (!p.openSevDevice) return 'an SEV-ES guest needs /dev/sev for its launch';
  const pages = new Set<number>();
  for (const seg of image.segments)
    for (let at = seg.gpa - (seg.gpa % 0x1000); at < seg.gpa + seg.memsz; at += 0x1000) pages.add(at);
  const measure: { hva: number; len: number }[] = [];
  for (const gpa of [...pages].sort((a, b) => a - b)) {
    const hva = ram.gpaToHva(gpa);
    if (hva === undefined) return `launch: GPA 0x${gpa.toString(16)} is not in a memslot`;
    const last = measure[measure.length - 1];
    if (last && last.hva + last.len === hva) last.len += 0x1000;
    else measure.push({ hva, len: 0x1000 });
  }
  const r = launchSevEs(vm, p.memory, { sevFd: p.openSevDevice(), measure });
  return isSevLaunchError(r) ? `${r.command}: ${r.errno}` : undefined;
}

/**
 * KVM_SEV_INIT2 with the GHCB version, its argument struct in a page of the VMM's memory (as
 * `ioctl(vm_fd, KVM_MEMORY_ENCRYPT_OP)` takes a pointer).
 */
function sevInit2(p: GuestPlatform, vm: VmFd, ghcbVersion: number): string | undefined {
  const hva = p.memory.mapAnonymous(0x1000);
  if (hva instanceof Errno) return `mmap: ${hva}`;
  try {
    const w = p.memory.write(hva, encodeSevInit({ vmsaFeatures: 0n, flags: 0, ghcbVersion }));
    if (w) return `writing kvm_sev_init: ${w.kind} at hva 0x${w.hva.toString(16)}`;
    const r = vm.memoryEncryptOp({ id: KVM_SEV_INIT2, data: BigInt(hva), error: 0, sevFd: 0 });
    return r instanceof Errno ? `KVM_SEV_INIT2: ${r}` : undefined;
  } finally {
    p.memory.unmap(hva, 0x1000);
  }
}

/**
 * Boot a guest as a VMM does: a VM (an SEV-ES one: KVM_X86_SEV_ES_VM and KVM_SEV_INIT2), the
 * expectation's RAM and ROM as memslots (anonymous memory), the image written into them, one vCPU
 * with the CPUID KVM supports, in the entry state: flat real mode at `entry` (resetRealMode, RSP
 * 0), or as KVM_CREATE_VCPU leaves it (`reset`). The first failure comes back as a message.
 */
export function bootGuest(
  p: GuestPlatform,
  expect: GuestExpect,
  image: GuestImage,
  entry: number,
): BootedGuest | string {
  const sevEs = expect.vm === 'sev-es';
  const vm = p.kvm.createVm(sevEs ? KVM_X86_SEV_ES_VM : undefined);
  if (vm instanceof Errno) return `KVM_CREATE_VM: ${vm}`;
  if (sevEs) {
    const e = sevInit2(p, vm, expect.ghcbVersion ?? 2);
    if (e) {
      vm.close();
      return e;
    }
  }
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
  if (expect.rom) {
    // An ordinary writable slot: a current kernel refuses KVM_MEM_READONLY for an SEV-ES VM.
    const e = ram.add(vm, expect.ram.length, { gpa: num(expect.rom.gpa), size: num(expect.rom.size) });
    if (e) return fail('ROM region', e);
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
  if (sevEs) {
    const e = launch(p, vm, ram, image);
    if (e) {
      close();
      return `SEV-ES launch: ${e}`;
    }
  }
  if (expect.entry.mode === 'real-flat') {
    const reset = resetRealMode(v, entry, 0);
    if (reset instanceof Errno) return fail('entry state', reset);
  }
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
      case 'SystemEvent':
        got = systemEvent(r.type, r.data);
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

/**
 * A KVM_EXIT_SYSTEM_EVENT in the expectation format: an SEV termination request as its reason
 * code set and code (with the whole GHCB MSR if it holds anything else), other events raw.
 */
function systemEvent(type: number, data: readonly bigint[]): ExpectedExit | Record<string, unknown> {
  const msr = data[0];
  if (type !== KVM_SYSTEM_EVENT_SEV_TERM || msr === undefined)
    return { kind: 'SystemEvent', type, data: data.map(hex) };
  const got = {
    kind: 'SevTermination',
    set: Number((msr >> 12n) & 0xfn),
    code: Number((msr >> 16n) & 0xffn),
  };
  return (msr & ~0xff_f000n) === 0x100n ? got : { ...got, ghcbMsr: hex(msr) };
}

/**
 * The vCPU's and RAM's state at the fields `expect` names, in its shape (values as hex). The
 * register ioctls run only when registers are asked for (an SEV-ES vCPU refuses them).
 */
export function finalState(guest: BootedGuest, expect: FinalState): FinalState | string {
  const out: FinalState = { regs: {}, sregs: {}, memory: [] };
  if (Object.keys(expect.regs).length > 0) {
    const regs = guest.vcpu.getRegs();
    if (regs instanceof Errno) return `KVM_GET_REGS: ${regs}`;
    for (const k of Object.keys(expect.regs) as (keyof FinalState['regs'])[]) out.regs[k] = hex(regs[k]);
  }
  if (Object.keys(expect.sregs).length > 0) {
    const sregs = guest.vcpu.getSregs();
    if (sregs instanceof Errno) return `KVM_GET_SREGS: ${sregs}`;
    for (const k of Object.keys(expect.sregs) as (keyof FinalState['sregs'])[]) {
      const v = sregs[k];
      out.sregs[k] = hex(typeof v === 'bigint' ? v : v.selector);
    }
  }
  for (const m of expect.memory) {
    const buf = new Uint8Array(m.data.length / 2);
    const e = guest.ram.read(num(m.gpa), buf);
    if (e) return `reading ${m.gpa}: ${e.message}`;
    out.memory.push({ gpa: m.gpa, data: bytesHex(buf) });
  }
  return out;
}
