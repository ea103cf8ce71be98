/**
 * Issue 16's "one small unmodified VMM booting a guest": Debian's QEMU (qemu-system-x86 7.2) on
 * -accel kvm, booting test/fixtures/qemu-hello/hello.S (built by scripts/build-qemu-hello.mjs) with
 * the least KVM surface found on this machine's /dev/kvm (docs/qemu-hello.md has the measurements):
 *
 * - `microvm` without option ROMs, PIT, PIC, RTC, ACPI or SMM, with one ISA serial port: no
 *   in-kernel device, no SMM address space (no memslots with as_id 1);
 * - `kernel-irqchip=off`: no KVM_CREATE_IRQCHIP, no in-kernel LAPIC (KVM_GET/SET_LAPIC,
 *   KVM_SET_GSI_ROUTING, KVM_TPR_ACCESS_REPORTING, KVM_SET_VAPIC_ADDR) — QEMU warns that a
 *   userspace LAPIC is deprecated, and still runs;
 * - `-cpu qemu64,-pni,-mce,-mca`: a named model (no host passthrough), without the SSE3 bit this
 *   host's kvm-pvm does not offer (QEMU would warn) and without MCE/MCA (no
 *   KVM_X86_GET_MCE_CAP_SUPPORTED, KVM_X86_SETUP_MCE, or MCG MSRs in KVM_SET_MSRS);
 * - 16 MiB, one vCPU, isa-debug-exit at 0xf4 (the firmware's last OUT ends QEMU with status
 *   (0x10 << 1) | 1 = 33), COM1 on stdout.
 *
 * `runQemuHello` spawns QEMU without blocking the event loop (a `sevbox serve` in the same process
 * can answer it) and returns how it ended with what the guest printed; `env` is added to the
 * environment, e.g. `{ LD_PRELOAD: libsevbox-kvm.so, SEVBOX_SOCKET: … }` for the /dev/kvm shim.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { buildQemuHello, QEMU_HELLO_OUT } from '../../scripts/build-qemu-hello.mjs';
import { findQemu } from '../ovmf/qemu-reference.js';

/** What the firmware writes to COM1, one line per CPU mode. */
export const QEMU_HELLO_LINES = [
  'sevbox: hello from the guest (real mode)',
  'sevbox: 32-bit protected mode',
  'sevbox: 64-bit long mode, bye',
] as const;

/** QEMU's exit status after the firmware's isa-debug-exit write of 0x10. */
export const QEMU_HELLO_STATUS = (0x10 << 1) | 1;

/** The machine: microvm with every optional device and SMM off, the irqchip in QEMU. */
export const QEMU_HELLO_MACHINE =
  'microvm,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=on,acpi=off,smm=off,kernel-irqchip=off';

/** The CPU model (see the file comment). */
export const QEMU_HELLO_CPU = 'qemu64,-pni,-mce,-mca';

/** QEMU's arguments for `image` (the 64 KiB firmware). */
export function qemuHelloArgs(image: string, opts: { machine?: string; cpu?: string } = {}): string[] {
  return [
    ...['-M', opts.machine ?? QEMU_HELLO_MACHINE, '-accel', 'kvm', '-cpu', opts.cpu ?? QEMU_HELLO_CPU],
    ...['-m', '16M', '-smp', '1', '-nodefaults', '-no-user-config', '-display', 'none'],
    ...['-bios', image, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-serial', 'stdio'],
  ];
}

/** Why QEMU cannot run the firmware on KVM here (one line), or undefined when it can. */
export function qemuHelloSkip(): string | undefined {
  if (!findQemu()) return 'no qemu-system-x86_64 on PATH';
  try {
    closeSync(openSync('/dev/kvm', constants.O_RDWR));
  } catch (e) {
    return `no usable /dev/kvm (${(e as NodeJS.ErrnoException).code ?? e})`;
  }
  return undefined;
}

export interface QemuHelloOptions {
  /** Added to the environment (LD_PRELOAD, SEVBOX_SOCKET, …). */
  readonly env?: Readonly<Record<string, string>>;
  /** Kill QEMU (SIGKILL) after this long (default 20 s). */
  readonly timeoutMs?: number;
  /** The image (default: built by scripts/build-qemu-hello.mjs into .cache/qemu-hello/). */
  readonly image?: string;
  /** The QEMU binary (default: findQemu()). */
  readonly qemu?: string;
  /** -M and -cpu, to compare configurations (default QEMU_HELLO_MACHINE, QEMU_HELLO_CPU). */
  readonly machine?: string;
  readonly cpu?: string;
}

export interface QemuHelloResult {
  readonly argv: readonly string[];
  /** QEMU's exit status (QEMU_HELLO_STATUS when the firmware got to the end), null if killed. */
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Whether the timeout killed it. */
  readonly timedOut: boolean;
  /** COM1's bytes as text. */
  readonly serial: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * Build the firmware if needed (throws without gcc/as/ld/objcopy: check qemuHelloSkip and
 * buildQemuHello first) and run QEMU on it.
 */
export async function runQemuHello(opts: QemuHelloOptions = {}): Promise<QemuHelloResult> {
  const qemu = opts.qemu ?? findQemu();
  if (!qemu) throw new Error('no qemu-system-x86_64 on PATH');
  let image = opts.image;
  if (!image) {
    const built = buildQemuHello(QEMU_HELLO_OUT);
    if (!built.image) throw new Error(`cannot build the qemu-hello firmware: ${built.reason}`);
    image = built.image;
  }
  const args = qemuHelloArgs(image, {
    ...(opts.machine ? { machine: opts.machine } : {}),
    ...(opts.cpu ? { cpu: opts.cpu } : {}),
  });
  const start = performance.now();
  const child = spawn(qemu, args, {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 20_000);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({
        argv: [qemu, ...args],
        status,
        signal,
        timedOut,
        serial: Buffer.concat(out).toString('latin1'),
        stderr: Buffer.concat(err).toString('latin1'),
        ms: performance.now() - start,
      });
    });
  });
}
