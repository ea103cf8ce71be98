/**
 * `sevbox hostkvm`: what this machine's /dev/kvm is, said honestly. Whether koffi loaded, whether
 * the device opens and speaks API 12, which backend serves it (hardware SVM/VMX via kvm_amd /
 * kvm_intel, or a software backend such as kvm_pvm, from /sys/module and the CPU flags), what
 * KVM_CHECK_EXTENSION says for the capabilities sevbox cares about (beside the model's answer),
 * the highest guest-physical address a memslot may reach, and whether a tiny guest actually runs
 * (KVM_RUN under the watchdog). SEV itself is never available to the oracle: it needs kvm_amd on
 * an AMD SEV host and a VM of type KVM_X86_SEV_ES_VM, which this reports as well.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import {
  KVM_CAP_DIRTY_LOG_RING,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_GUEST_MEMFD,
  KVM_CAP_IMMEDIATE_EXIT,
  KVM_CAP_MEMORY_ATTRIBUTES,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_READONLY_MEM,
  KVM_CAP_SYNC_MMU,
  KVM_CAP_USER_MEMORY,
  KVM_CAP_USER_MEMORY2,
  KVM_CAP_VM_TYPES,
  KVM_CAP_X86_MSR_FILTER,
  KVM_CAP_X86_SMM,
  KVM_CAP_X86_USER_SPACE_MSR,
  KVM_X86_SEV_ES_VM,
  kvmCapName,
  kvmVmTypeName,
} from '../uapi/caps.js';
import { Errno } from '../uapi/errno.js';
import { kvmExitReasonName } from '../uapi/exit-reasons.js';
import { type HostKvmFd, openHostKvm } from './fd.js';
import { loadLibc } from './libc.js';
import { asm } from './real-mode.js';
import { tinyRealModeGuest } from './tiny-guest.js';

/** What kind of machinery serves /dev/kvm. */
export type HostKvmBackendKind = 'hardware-svm' | 'hardware-vmx' | 'software' | 'unknown';

/** One capability: the kernel's answer and the model's. */
export interface CapabilityAnswer {
  readonly cap: number;
  readonly name: string;
  readonly host: number;
  readonly model: number;
}

/** Everything `sevbox hostkvm` knows, as data. */
export interface HostKvmData {
  /** True when the oracle can be used: bindings, device, API 12, and a guest that ran to HLT. */
  readonly usable: boolean;
  /** Why not, when not usable. */
  readonly reason?: string;
  readonly device: { readonly path: string; readonly exists: boolean };
  readonly koffi: { readonly ok: boolean; readonly version?: string; readonly reason?: string };
  readonly apiVersion?: number;
  readonly backend: {
    readonly kind: HostKvmBackendKind;
    /** Loaded KVM modules (/sys/module/kvm*). */
    readonly modules: readonly string[];
    readonly cpuFlags: { readonly svm: boolean; readonly vmx: boolean; readonly hypervisor: boolean };
    /** kvm_amd's `sev` / `sev_es` parameters, when kvm_amd is loaded. */
    readonly sev?: { readonly sev: boolean; readonly sevEs: boolean };
  };
  readonly vcpuMmapSize?: number;
  readonly capabilities: readonly CapabilityAnswer[];
  /** Bits of guest-physical address a memslot may span (kvm_mmu_max_gfn + 1), probed. */
  readonly maxGpaBits?: number;
  /** Whether KVM_X86_SEV_ES_VM can be created (real SEV-ES support). */
  readonly sevEsVm: boolean;
  /** The errno KVM_CREATE_VM(KVM_X86_SEV_ES_VM) failed with, when it did. */
  readonly sevEsVmErrno?: string;
  /** The smoke run: a real-mode `hlt` guest under the watchdog. */
  readonly run?: { readonly ok: boolean; readonly exit?: string; readonly reason?: string };
}

/** The capabilities reported, in order. */
export const REPORTED_CAPS: readonly number[] = [
  KVM_CAP_USER_MEMORY,
  KVM_CAP_NR_MEMSLOTS,
  KVM_CAP_SYNC_MMU,
  KVM_CAP_READONLY_MEM,
  KVM_CAP_X86_SMM,
  KVM_CAP_IMMEDIATE_EXIT,
  KVM_CAP_X86_USER_SPACE_MSR,
  KVM_CAP_X86_MSR_FILTER,
  KVM_CAP_DIRTY_LOG_RING,
  KVM_CAP_EXIT_HYPERCALL,
  KVM_CAP_USER_MEMORY2,
  KVM_CAP_MEMORY_FAULT_INFO,
  KVM_CAP_MEMORY_ATTRIBUTES,
  KVM_CAP_GUEST_MEMFD,
  KVM_CAP_VM_TYPES,
];

function capName(cap: number): string {
  return kvmCapName(cap);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function paramOn(path: string): boolean {
  const v = readText(path)?.trim();
  return v === 'Y' || v === '1';
}

/** The backend from /sys/module and /proc/cpuinfo (no /dev/kvm needed). */
export function detectBackend(): HostKvmData['backend'] {
  let modules: string[] = [];
  try {
    modules = readdirSync('/sys/module')
      .filter((m) => m === 'kvm' || m.startsWith('kvm_'))
      .sort();
  } catch {
    // no sysfs
  }
  const flagsLine = (readText('/proc/cpuinfo') ?? '').split('\n').find((l) => l.startsWith('flags')) ?? '';
  const flags = new Set(flagsLine.split(':')[1]?.trim().split(/\s+/) ?? []);
  const cpuFlags = { svm: flags.has('svm'), vmx: flags.has('vmx'), hypervisor: flags.has('hypervisor') };
  let kind: HostKvmBackendKind = 'unknown';
  if (modules.includes('kvm_amd')) kind = 'hardware-svm';
  else if (modules.includes('kvm_intel')) kind = 'hardware-vmx';
  else if (modules.includes('kvm_pvm')) kind = 'software';
  const sev = modules.includes('kvm_amd')
    ? {
        sev: paramOn('/sys/module/kvm_amd/parameters/sev'),
        sevEs: paramOn('/sys/module/kvm_amd/parameters/sev_es'),
      }
    : undefined;
  return { kind, modules, cpuFlags, ...(sev && { sev }) };
}

/**
 * The highest GPA width a memslot may reach: the largest `b` (36..64) for which a one-page slot
 * ending at 2^b is accepted. kvm_mmu_max_gfn is MAXPHYADDR with TDP, 52 with shadow paging. The
 * hva is never touched (KVM does not check that it is mapped), and the probe VM is destroyed.
 */
export function probeMaxGpaBits(kvm: HostKvmFd): number | undefined {
  const vm = kvm.createVm();
  if (vm instanceof Errno) return undefined;
  try {
    let best: number | undefined;
    for (let b = 36; b <= 63; b++) {
      const r = vm.setUserMemoryRegionRaw(
        {
          slot: 0,
          flags: 0,
          guestPhysAddr: (1n << BigInt(b)) - 4096n,
          memorySize: 4096n,
          userspaceAddr: 0x7f00_0000_0000n,
        },
        true,
      );
      if (r !== 0) break;
      best = b;
      vm.setUserMemoryRegionRaw(
        { slot: 0, flags: 0, guestPhysAddr: 0n, memorySize: 0n, userspaceAddr: 0n },
        true,
      );
    }
    return best;
  } finally {
    vm.close();
  }
}

/** Run `hlt` in real mode under the watchdog: the exit name, or why it did not work. */
export function smokeTestHostKvm(kvm: HostKvmFd): NonNullable<HostKvmData['run']> {
  const guest = tinyRealModeGuest(kvm, asm().hlt().bytes());
  if (guest instanceof Errno) return { ok: false, reason: `building the guest: ${guest}` };
  try {
    guest.vcpu.timeoutMs = 1000;
    const exit = guest.vcpu.run();
    if (exit.kind === 'Failed') {
      const left = kvmExitReasonName(exit.left.reason);
      return { ok: false, exit: left, reason: `KVM_RUN failed: ${exit.error}` };
    }
    const name = kvmExitReasonName(exit.reason);
    return exit.kind === 'Hlt' ? { ok: true, exit: name } : { ok: false, exit: name, reason: 'expected HLT' };
  } finally {
    guest.close();
  }
}

/** Collect {@link HostKvmData} (opens /dev/kvm, creates and destroys a few small VMs). */
export function describeHostKvmData(
  path = '/dev/kvm',
  modelCap: (cap: number) => number = () => 0,
): HostKvmData {
  const backend = detectBackend();
  const device = { path, exists: existsSync(path) && statSync(path).isCharacterDevice() };
  const l = loadLibc();
  const koffi = l.ok ? { ok: true, version: l.libc.koffiVersion } : { ok: false, reason: l.reason };
  const base = { device, koffi, backend, capabilities: [] as CapabilityAnswer[], sevEsVm: false };
  if (!l.ok) return { ...base, usable: false, reason: l.reason };
  if (!device.exists) return { ...base, usable: false, reason: `${path} does not exist` };
  const opened = openHostKvm(path);
  if (!opened.ok) return { ...base, usable: false, reason: opened.reason };
  const kvm = opened.kvm;
  try {
    const capabilities = REPORTED_CAPS.map((cap) => ({
      cap,
      name: capName(cap),
      host: kvm.checkExtension(cap),
      model: modelCap(cap),
    }));
    const sev = kvm.createVm(KVM_X86_SEV_ES_VM);
    const sevEsVm = !(sev instanceof Errno);
    if (!(sev instanceof Errno)) sev.close();
    const maxGpaBits = probeMaxGpaBits(kvm);
    const run = smokeTestHostKvm(kvm);
    return {
      ...base,
      usable: run.ok,
      ...(!run.ok && { reason: `KVM_RUN smoke test failed: ${run.reason}` }),
      apiVersion: kvm.getApiVersion(),
      vcpuMmapSize: kvm.vcpuMmapSize,
      capabilities,
      ...(maxGpaBits !== undefined && { maxGpaBits }),
      sevEsVm,
      ...(sev instanceof Errno && { sevEsVmErrno: sev.errno }),
      run,
    };
  } catch (e) {
    return { ...base, usable: false, reason: e instanceof Error ? e.message : String(e) };
  } finally {
    kvm.close();
  }
}

function backendLine(b: HostKvmData['backend']): string {
  const flags = (['svm', 'vmx', 'hypervisor'] as const).filter((f) => b.cpuFlags[f]).join(' ') || 'none';
  const what: Record<HostKvmBackendKind, string> = {
    'hardware-svm': 'hardware (AMD SVM, kvm_amd)',
    'hardware-vmx': 'hardware (Intel VMX, kvm_intel)',
    software: b.modules.includes('kvm_pvm')
      ? 'software (kvm_pvm: pagetable-based, no SVM/VMX; SEV impossible)'
      : 'software',
    unknown: 'unknown',
  };
  return `${what[b.kind]}; modules: ${b.modules.join(', ') || 'none'}; cpu flags: ${flags}`;
}

/** Render {@link HostKvmData} for people: one fact per line. */
export function formatHostKvm(d: HostKvmData): string {
  const lines: string[] = [];
  lines.push(`oracle:        ${d.usable ? 'usable' : `unavailable (${d.reason})`}`);
  lines.push(`device:        ${d.device.path} ${d.device.exists ? 'present' : 'absent'}`);
  lines.push(`koffi:         ${d.koffi.ok ? d.koffi.version : `unavailable (${d.koffi.reason})`}`);
  lines.push(`backend:       ${backendLine(d.backend)}`);
  if (d.backend.sev) lines.push(`kvm_amd:       sev=${d.backend.sev.sev} sev_es=${d.backend.sev.sevEs}`);
  if (d.apiVersion !== undefined) lines.push(`api version:   ${d.apiVersion}`);
  if (d.vcpuMmapSize !== undefined) lines.push(`vcpu mmap:     ${d.vcpuMmapSize} bytes`);
  if (d.maxGpaBits !== undefined) lines.push(`max gpa:       2^${d.maxGpaBits} (memslot limit)`);
  if (d.run) lines.push(`KVM_RUN:       ${d.run.ok ? `ok (${d.run.exit})` : `failed (${d.run.reason})`}`);
  if (d.apiVersion !== undefined) {
    lines.push(
      `SEV-ES VM:     ${d.sevEsVm ? `${kvmVmTypeName(KVM_X86_SEV_ES_VM)} can be created` : `not available (${d.sevEsVmErrno ?? 'no'}; SEV, #VC and VMGEXIT stay model-only)`}`,
    );
  }
  if (d.capabilities.length > 0) {
    lines.push('capabilities:  host / model');
    const w = Math.max(...d.capabilities.map((c) => c.name.length));
    for (const c of d.capabilities) {
      const diff = c.host === c.model ? '' : '   (differs)';
      lines.push(`  ${c.name.padEnd(w)}  ${String(c.host).padStart(8)} / ${String(c.model)}${diff}`);
    }
  }
  return lines.join('\n');
}

/** `sevbox hostkvm`: the text to print and the data behind it. */
export function describeHostKvm(
  path = '/dev/kvm',
  modelCap: (cap: number) => number = () => 0,
): { text: string; data: HostKvmData } {
  const data = describeHostKvmData(path, modelCap);
  return { text: formatHostKvm(data), data };
}
