/**
 * The uapi codecs against the real C headers: compiles a small program that includes <linux/kvm.h>
 * and prints sizeof and offsetof for every struct in src/uapi (member designators from the
 * KVM_<STRUCT>_OFFSETS tables), the value of every ioctl number in KVM_IOCTLS and of the constants
 * below, then compares each with the TS value.
 *
 * Headers: the Linux 6.12 copy vendored under ../shared/vendor/kvm-selftests when it exists (or the
 * tree SEVBOX_KVM_HEADERS names; SEVBOX_KVM_HEADERS=system forces the system's), else the system's
 * <linux/kvm.h>. A probe the headers do not know (a member,
 * struct or ioctl newer than them) fails to compile; its line is dropped and the probe is reported as
 * skipped. With the vendored headers nothing may be skipped. Without `cc` or <linux/kvm.h> the test
 * skips.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as caps from './caps.js';
import * as clock from './clock.js';
import * as cpuid from './cpuid.js';
import * as debugregs from './debugregs.js';
import * as deviceAttr from './device-attr.js';
import * as dirtyLog from './dirty-log.js';
import * as enableCap from './enable-cap.js';
import * as fpu from './fpu.js';
import * as guestDebug from './guest-debug.js';
import * as gmem from './guest-memfd.js';
import { KVM_IOCTLS, KVMIO } from './ioctl.js';
import * as irq from './irq.js';
import * as run from './kvm-run.js';
import * as lapic from './lapic.js';
import * as memslot from './memslot.js';
import * as msrFilter from './msr-filter.js';
import * as msrs from './msrs.js';
import * as regs from './regs.js';
import * as sev from './sev-cmd.js';
import * as signalMask from './signal-mask.js';
import * as sregs from './sregs.js';
import * as translate from './translate.js';
import * as events from './vcpu-events.js';
import * as xsave from './xsave.js';

/** [C struct tag, sizeof per TS, offsetof per TS by C member designator]. */
const STRUCTS: readonly [string, number, Readonly<Record<string, number>>][] = [
  ['kvm_regs', regs.KVM_REGS_SIZE, regs.KVM_REGS_OFFSETS],
  ['kvm_segment', sregs.KVM_SEGMENT_SIZE, sregs.KVM_SEGMENT_OFFSETS],
  ['kvm_dtable', sregs.KVM_DTABLE_SIZE, sregs.KVM_DTABLE_OFFSETS],
  ['kvm_sregs', sregs.KVM_SREGS_SIZE, sregs.KVM_SREGS_OFFSETS],
  ['kvm_msr_entry', msrs.KVM_MSR_ENTRY_SIZE, msrs.KVM_MSR_ENTRY_OFFSETS],
  ['kvm_msrs', msrs.KVM_MSRS_SIZE, msrs.KVM_MSRS_OFFSETS],
  ['kvm_msr_list', msrs.KVM_MSR_LIST_SIZE, msrs.KVM_MSR_LIST_OFFSETS],
  ['kvm_cpuid_entry2', cpuid.KVM_CPUID_ENTRY2_SIZE, cpuid.KVM_CPUID_ENTRY2_OFFSETS],
  ['kvm_cpuid2', cpuid.KVM_CPUID2_SIZE, cpuid.KVM_CPUID2_OFFSETS],
  ['kvm_fpu', fpu.KVM_FPU_SIZE, fpu.KVM_FPU_OFFSETS],
  ['kvm_xsave', xsave.KVM_XSAVE_SIZE, xsave.KVM_XSAVE_OFFSETS],
  ['kvm_xcr', xsave.KVM_XCR_SIZE, xsave.KVM_XCR_OFFSETS],
  ['kvm_xcrs', xsave.KVM_XCRS_SIZE, xsave.KVM_XCRS_OFFSETS],
  ['kvm_vcpu_events', events.KVM_VCPU_EVENTS_SIZE, events.KVM_VCPU_EVENTS_OFFSETS],
  ['kvm_debugregs', debugregs.KVM_DEBUGREGS_SIZE, debugregs.KVM_DEBUGREGS_OFFSETS],
  ['kvm_enable_cap', enableCap.KVM_ENABLE_CAP_SIZE, enableCap.KVM_ENABLE_CAP_OFFSETS],
  ['kvm_dirty_log', dirtyLog.KVM_DIRTY_LOG_SIZE, dirtyLog.KVM_DIRTY_LOG_OFFSETS],
  ['kvm_clear_dirty_log', dirtyLog.KVM_CLEAR_DIRTY_LOG_SIZE, dirtyLog.KVM_CLEAR_DIRTY_LOG_OFFSETS],
  ['kvm_sev_cmd', sev.KVM_SEV_CMD_SIZE, sev.KVM_SEV_CMD_OFFSETS],
  ['kvm_sev_init', sev.KVM_SEV_INIT_SIZE, sev.KVM_SEV_INIT_OFFSETS],
  ['kvm_enc_region', sev.KVM_ENC_REGION_SIZE, sev.KVM_ENC_REGION_OFFSETS],
  ['kvm_sev_launch_start', sev.KVM_SEV_LAUNCH_START_SIZE, sev.KVM_SEV_LAUNCH_START_OFFSETS],
  ['kvm_sev_launch_update_data', sev.KVM_SEV_LAUNCH_UPDATE_DATA_SIZE, sev.KVM_SEV_LAUNCH_UPDATE_DATA_OFFSETS],
  ['kvm_sev_launch_secret', sev.KVM_SEV_LAUNCH_SECRET_SIZE, sev.KVM_SEV_LAUNCH_SECRET_OFFSETS],
  ['kvm_sev_launch_measure', sev.KVM_SEV_LAUNCH_MEASURE_SIZE, sev.KVM_SEV_LAUNCH_MEASURE_OFFSETS],
  ['kvm_sev_guest_status', sev.KVM_SEV_GUEST_STATUS_SIZE, sev.KVM_SEV_GUEST_STATUS_OFFSETS],
  ['kvm_sev_dbg', sev.KVM_SEV_DBG_SIZE, sev.KVM_SEV_DBG_OFFSETS],
  ['kvm_lapic_state', lapic.KVM_LAPIC_STATE_SIZE, lapic.KVM_LAPIC_STATE_OFFSETS],
  ['kvm_irq_level', irq.KVM_IRQ_LEVEL_SIZE, irq.KVM_IRQ_LEVEL_OFFSETS],
  ['kvm_interrupt', irq.KVM_INTERRUPT_SIZE, irq.KVM_INTERRUPT_OFFSETS],
  ['kvm_mp_state', irq.KVM_MP_STATE_SIZE, irq.KVM_MP_STATE_OFFSETS],
  ['kvm_irqchip', irq.KVM_IRQCHIP_SIZE, irq.KVM_IRQCHIP_OFFSETS],
  ['kvm_msr_filter_range', msrFilter.KVM_MSR_FILTER_RANGE_SIZE, msrFilter.KVM_MSR_FILTER_RANGE_OFFSETS],
  ['kvm_msr_filter', msrFilter.KVM_MSR_FILTER_SIZE, msrFilter.KVM_MSR_FILTER_OFFSETS],
  ['kvm_device_attr', deviceAttr.KVM_DEVICE_ATTR_SIZE, deviceAttr.KVM_DEVICE_ATTR_OFFSETS],
  ['kvm_translation', translate.KVM_TRANSLATION_SIZE, translate.KVM_TRANSLATION_OFFSETS],
  ['kvm_signal_mask', signalMask.KVM_SIGNAL_MASK_SIZE, signalMask.KVM_SIGNAL_MASK_OFFSETS],
  ['kvm_guest_debug', guestDebug.KVM_GUEST_DEBUG_SIZE, guestDebug.KVM_GUEST_DEBUG_OFFSETS],
  ['kvm_clock_data', clock.KVM_CLOCK_DATA_SIZE, clock.KVM_CLOCK_DATA_OFFSETS],
  ['kvm_create_guest_memfd', gmem.KVM_CREATE_GUEST_MEMFD_SIZE, gmem.KVM_CREATE_GUEST_MEMFD_OFFSETS],
  ['kvm_memory_attributes', gmem.KVM_MEMORY_ATTRIBUTES_SIZE, gmem.KVM_MEMORY_ATTRIBUTES_OFFSETS],
  // memslot.ts exports sizes only.
  ['kvm_userspace_memory_region', memslot.KVM_USERSPACE_MEMORY_REGION_SIZE, {}],
  ['kvm_userspace_memory_region2', memslot.KVM_USERSPACE_MEMORY_REGION2_SIZE, {}],
  // kvm-run.ts exports one constant per offset.
  [
    'kvm_run',
    run.KVM_RUN_SIZE,
    {
      request_interrupt_window: run.KVM_RUN_OFF_REQUEST_INTERRUPT_WINDOW,
      immediate_exit: run.KVM_RUN_OFF_IMMEDIATE_EXIT,
      exit_reason: run.KVM_RUN_OFF_EXIT_REASON,
      ready_for_interrupt_injection: run.KVM_RUN_OFF_READY_FOR_INTERRUPT_INJECTION,
      if_flag: run.KVM_RUN_OFF_IF_FLAG,
      flags: run.KVM_RUN_OFF_FLAGS,
      cr8: run.KVM_RUN_OFF_CR8,
      apic_base: run.KVM_RUN_OFF_APIC_BASE,
      hw: run.KVM_RUN_OFF_EXIT_UNION,
      kvm_valid_regs: run.KVM_RUN_OFF_KVM_VALID_REGS,
      kvm_dirty_regs: run.KVM_RUN_OFF_KVM_DIRTY_REGS,
      s: run.KVM_RUN_OFF_SYNC_REGS,
      's.regs.regs': run.KVM_SYNC_REGS_OFF_REGS,
      's.regs.sregs': run.KVM_SYNC_REGS_OFF_SREGS,
      's.regs.events': run.KVM_SYNC_REGS_OFF_EVENTS,
      'io.direction': run.KVM_RUN_OFF_IO_DIRECTION,
      'io.size': run.KVM_RUN_OFF_IO_SIZE,
      'io.port': run.KVM_RUN_OFF_IO_PORT,
      'io.count': run.KVM_RUN_OFF_IO_COUNT,
      'io.data_offset': run.KVM_RUN_OFF_IO_DATA_OFFSET,
      'mmio.phys_addr': run.KVM_RUN_OFF_MMIO_PHYS_ADDR,
      'mmio.data': run.KVM_RUN_OFF_MMIO_DATA,
      'mmio.len': run.KVM_RUN_OFF_MMIO_LEN,
      'mmio.is_write': run.KVM_RUN_OFF_MMIO_IS_WRITE,
      'hypercall.nr': run.KVM_RUN_OFF_HYPERCALL_NR,
      'hypercall.args': run.KVM_RUN_OFF_HYPERCALL_ARGS,
      'hypercall.ret': run.KVM_RUN_OFF_HYPERCALL_RET,
      'hypercall.flags': run.KVM_RUN_OFF_HYPERCALL_FLAGS,
      'internal.suberror': run.KVM_RUN_OFF_INTERNAL_SUBERROR,
      'internal.ndata': run.KVM_RUN_OFF_INTERNAL_NDATA,
      'internal.data': run.KVM_RUN_OFF_INTERNAL_DATA,
      'system_event.type': run.KVM_RUN_OFF_SYSTEM_EVENT_TYPE,
      'system_event.ndata': run.KVM_RUN_OFF_SYSTEM_EVENT_NDATA,
      'system_event.data': run.KVM_RUN_OFF_SYSTEM_EVENT_DATA,
      'msr.error': run.KVM_RUN_OFF_MSR_ERROR,
      'msr.reason': run.KVM_RUN_OFF_MSR_REASON,
      'msr.index': run.KVM_RUN_OFF_MSR_INDEX,
      'msr.data': run.KVM_RUN_OFF_MSR_DATA,
      'fail_entry.hardware_entry_failure_reason': run.KVM_RUN_OFF_FAIL_ENTRY_REASON,
      'fail_entry.cpu': run.KVM_RUN_OFF_FAIL_ENTRY_CPU,
      'ex.exception': run.KVM_RUN_OFF_EX_EXCEPTION,
      'ex.error_code': run.KVM_RUN_OFF_EX_ERROR_CODE,
      'debug.arch.exception': run.KVM_RUN_OFF_DEBUG_EXCEPTION,
      'debug.arch.pc': run.KVM_RUN_OFF_DEBUG_PC,
      'debug.arch.dr6': run.KVM_RUN_OFF_DEBUG_DR6,
      'debug.arch.dr7': run.KVM_RUN_OFF_DEBUG_DR7,
      'memory_fault.flags': run.KVM_RUN_OFF_MEMORY_FAULT_FLAGS,
      'memory_fault.gpa': run.KVM_RUN_OFF_MEMORY_FAULT_GPA,
      'memory_fault.size': run.KVM_RUN_OFF_MEMORY_FAULT_SIZE,
    },
  ],
];

/** Macro and enum values, keyed by their C name (the TS export of the same name). */
const CONSTANTS: Readonly<Record<string, number>> = {
  KVMIO,
  KVM_NR_INTERRUPTS: sregs.KVM_NR_INTERRUPTS,
  KVM_CPUID_FLAG_SIGNIFCANT_INDEX: cpuid.KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
  KVM_CPUID_FLAG_STATEFUL_FUNC: cpuid.KVM_CPUID_FLAG_STATEFUL_FUNC,
  KVM_CPUID_FLAG_STATE_READ_NEXT: cpuid.KVM_CPUID_FLAG_STATE_READ_NEXT,
  KVM_MAX_XCRS: xsave.KVM_MAX_XCRS,
  KVM_SYNC_X86_REGS: run.KVM_SYNC_X86_REGS,
  KVM_SYNC_X86_SREGS: run.KVM_SYNC_X86_SREGS,
  KVM_SYNC_X86_EVENTS: run.KVM_SYNC_X86_EVENTS,
  KVM_VCPUEVENT_VALID_NMI_PENDING: events.KVM_VCPUEVENT_VALID_NMI_PENDING,
  KVM_VCPUEVENT_VALID_SIPI_VECTOR: events.KVM_VCPUEVENT_VALID_SIPI_VECTOR,
  KVM_VCPUEVENT_VALID_SHADOW: events.KVM_VCPUEVENT_VALID_SHADOW,
  KVM_VCPUEVENT_VALID_SMM: events.KVM_VCPUEVENT_VALID_SMM,
  KVM_VCPUEVENT_VALID_PAYLOAD: events.KVM_VCPUEVENT_VALID_PAYLOAD,
  KVM_VCPUEVENT_VALID_TRIPLE_FAULT: events.KVM_VCPUEVENT_VALID_TRIPLE_FAULT,
  KVM_X86_SHADOW_INT_MOV_SS: events.KVM_X86_SHADOW_INT_MOV_SS,
  KVM_X86_SHADOW_INT_STI: events.KVM_X86_SHADOW_INT_STI,
  KVM_APIC_REG_SIZE: lapic.KVM_APIC_REG_SIZE,
  KVM_MP_STATE_RUNNABLE: irq.KVM_MP_STATE_RUNNABLE,
  KVM_MP_STATE_UNINITIALIZED: irq.KVM_MP_STATE_UNINITIALIZED,
  KVM_MP_STATE_INIT_RECEIVED: irq.KVM_MP_STATE_INIT_RECEIVED,
  KVM_MP_STATE_HALTED: irq.KVM_MP_STATE_HALTED,
  KVM_MP_STATE_SIPI_RECEIVED: irq.KVM_MP_STATE_SIPI_RECEIVED,
  KVM_MP_STATE_STOPPED: irq.KVM_MP_STATE_STOPPED,
  KVM_MP_STATE_CHECK_STOP: irq.KVM_MP_STATE_CHECK_STOP,
  KVM_MP_STATE_OPERATING: irq.KVM_MP_STATE_OPERATING,
  KVM_MP_STATE_LOAD: irq.KVM_MP_STATE_LOAD,
  KVM_MP_STATE_AP_RESET_HOLD: irq.KVM_MP_STATE_AP_RESET_HOLD,
  KVM_MP_STATE_SUSPENDED: irq.KVM_MP_STATE_SUSPENDED,
  KVM_IRQCHIP_PIC_MASTER: irq.KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE: irq.KVM_IRQCHIP_PIC_SLAVE,
  KVM_IRQCHIP_IOAPIC: irq.KVM_IRQCHIP_IOAPIC,
  KVM_NR_IRQCHIPS: irq.KVM_NR_IRQCHIPS,
  KVM_MSR_FILTER_READ: msrFilter.KVM_MSR_FILTER_READ,
  KVM_MSR_FILTER_WRITE: msrFilter.KVM_MSR_FILTER_WRITE,
  KVM_MSR_FILTER_RANGE_VALID_MASK: msrFilter.KVM_MSR_FILTER_RANGE_VALID_MASK,
  KVM_MSR_FILTER_DEFAULT_ALLOW: msrFilter.KVM_MSR_FILTER_DEFAULT_ALLOW,
  KVM_MSR_FILTER_DEFAULT_DENY: msrFilter.KVM_MSR_FILTER_DEFAULT_DENY,
  KVM_MSR_FILTER_VALID_MASK: msrFilter.KVM_MSR_FILTER_VALID_MASK,
  KVM_MSR_FILTER_MAX_RANGES: msrFilter.KVM_MSR_FILTER_MAX_RANGES,
  KVM_MSR_FILTER_MAX_BITMAP_SIZE: msrFilter.KVM_MSR_FILTER_MAX_BITMAP_SIZE,
  KVM_X86_GRP_SYSTEM: deviceAttr.KVM_X86_GRP_SYSTEM,
  KVM_X86_XCOMP_GUEST_SUPP: deviceAttr.KVM_X86_XCOMP_GUEST_SUPP,
  KVM_X86_GRP_SEV: deviceAttr.KVM_X86_GRP_SEV,
  KVM_X86_SEV_VMSA_FEATURES: deviceAttr.KVM_X86_SEV_VMSA_FEATURES,
  KVM_VCPU_TSC_CTRL: deviceAttr.KVM_VCPU_TSC_CTRL,
  KVM_VCPU_TSC_OFFSET: deviceAttr.KVM_VCPU_TSC_OFFSET,
  KVM_GUESTDBG_ENABLE: guestDebug.KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_SINGLESTEP: guestDebug.KVM_GUESTDBG_SINGLESTEP,
  KVM_GUESTDBG_USE_SW_BP: guestDebug.KVM_GUESTDBG_USE_SW_BP,
  KVM_GUESTDBG_USE_HW_BP: guestDebug.KVM_GUESTDBG_USE_HW_BP,
  KVM_GUESTDBG_INJECT_DB: guestDebug.KVM_GUESTDBG_INJECT_DB,
  KVM_GUESTDBG_INJECT_BP: guestDebug.KVM_GUESTDBG_INJECT_BP,
  KVM_GUESTDBG_BLOCKIRQ: guestDebug.KVM_GUESTDBG_BLOCKIRQ,
  KVM_CLOCK_TSC_STABLE: clock.KVM_CLOCK_TSC_STABLE,
  KVM_CLOCK_REALTIME: clock.KVM_CLOCK_REALTIME,
  KVM_CLOCK_HOST_TSC: clock.KVM_CLOCK_HOST_TSC,
  KVM_MEMORY_ATTRIBUTE_PRIVATE: gmem.KVM_MEMORY_ATTRIBUTE_PRIVATE,
  KVM_MEM_LOG_DIRTY_PAGES: memslot.KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY: memslot.KVM_MEM_READONLY,
  KVM_MEM_GUEST_MEMFD: memslot.KVM_MEM_GUEST_MEMFD,
  KVM_API_VERSION: caps.KVM_API_VERSION,
  KVM_PIO_PAGE_OFFSET: caps.KVM_PIO_PAGE_OFFSET,
  KVM_COALESCED_MMIO_PAGE_OFFSET: caps.KVM_COALESCED_MMIO_PAGE_OFFSET,
  KVM_DIRTY_LOG_PAGE_OFFSET: caps.KVM_DIRTY_LOG_PAGE_OFFSET,
  // Linux capabilities and VM types (not sevbox's own caps; KVM_X86_TDX_VM is newer than 6.12).
  ...Object.fromEntries(
    Object.entries(caps).filter(
      ([name, v]) =>
        /^KVM_(CAP|X86)_[A-Z0-9_]+$/.test(name) &&
        !name.startsWith('KVM_CAP_SEVBOX_') &&
        name !== 'KVM_X86_TDX_VM' &&
        typeof v === 'number',
    ),
  ),
  ...Object.fromEntries(
    Object.entries(sev).filter(
      ([name, v]) => /^KVM_SEV_[A-Z0-9_]+$/.test(name) && !name.endsWith('_SIZE') && typeof v === 'number',
    ),
  ),
};

/** Enum members whose value changed across kernels: compared with the vendored 6.12 headers only. */
const VENDORED_ONLY = new Set(['KVM_SEV_NR_MAX']);

/** One printf per probe; `key` is what the output line starts with. */
interface Probe {
  key: string;
  c: string;
}

function probes(vendored: boolean): Probe[] {
  const out: Probe[] = [];
  for (const [tag, , offsets] of STRUCTS) {
    out.push({ key: `S ${tag}`, c: `printf("S ${tag} %zu\\n", sizeof(struct ${tag}));` });
    for (const member of Object.keys(offsets)) {
      out.push({
        key: `O ${tag} ${member}`,
        c: `printf("O ${tag} ${member} %zu\\n", offsetof(struct ${tag}, ${member}));`,
      });
    }
  }
  for (const name of Object.keys(KVM_IOCTLS)) {
    out.push({ key: `I ${name}`, c: `printf("I ${name} %llu\\n", (unsigned long long)(${name}));` });
  }
  for (const name of Object.keys(CONSTANTS)) {
    if (VENDORED_ONLY.has(name) && !vendored) continue;
    out.push({ key: `C ${name}`, c: `printf("C ${name} %llu\\n", (unsigned long long)(${name}));` });
  }
  return out;
}

interface Headers {
  label: string;
  vendored: boolean;
  includes: string[];
}

function findHeaders(stubDir: string): Headers | undefined {
  const forced = process.env.SEVBOX_KVM_HEADERS;
  const candidates = [
    forced,
    fileURLToPath(new URL('../../../shared/vendor/kvm-selftests', import.meta.url)),
    '/work/shared/vendor/kvm-selftests',
  ];
  for (const dir of forced === 'system' ? [] : candidates) {
    if (!dir || !existsSync(join(dir, 'tools/include/uapi/linux/kvm.h'))) continue;
    // The tools copy of kvm.h includes <linux/compiler.h> for __user only.
    mkdirSync(join(stubDir, 'linux'), { recursive: true });
    writeFileSync(join(stubDir, 'linux/compiler.h'), '#ifndef __user\n#define __user\n#endif\n');
    return {
      label: `${dir} (vendored)`,
      vendored: true,
      includes: [stubDir, join(dir, 'tools/include/uapi'), join(dir, 'tools/arch/x86/include/uapi')],
    };
  }
  if (existsSync('/usr/include/linux/kvm.h'))
    return { label: 'system <linux/kvm.h>', vendored: false, includes: [] };
  return undefined;
}

type Probed =
  | { ok: true; values: Map<string, bigint>; skipped: string[] }
  | { ok: false; skip: string }
  | { ok: false; fail: string };

/** Compiles and runs the probe program, dropping the lines the headers cannot compile. */
function runProbes(cc: string, dir: string, headers: Headers): Probed {
  const all = probes(headers.vendored);
  const prologue = [
    '#include <stdio.h>',
    '#include <stddef.h>',
    '#include <linux/kvm.h>',
    'int main(void) {',
  ];
  const first = prologue.length + 1; // 1-based line of all[0]
  const live = new Set(all.map((_, i) => i));
  const src = join(dir, 'probe.c');
  const exe = join(dir, 'probe');
  const args = [...headers.includes.flatMap((d) => ['-I', d]), '-w', '-o', exe, src];
  for (let attempt = 0; attempt < 30; attempt++) {
    const lines = all.map((p, i) => (live.has(i) ? p.c : ';'));
    writeFileSync(src, [...prologue, ...lines, 'return 0; }', ''].join('\n'));
    const r = spawnSync(cc, args, { encoding: 'utf8' });
    if (r.status === 0) {
      const ran = spawnSync(exe, { encoding: 'utf8' });
      if (ran.status !== 0) return { ok: false, fail: `probe exited ${ran.status}: ${ran.stderr}` };
      const values = new Map<string, bigint>();
      for (const line of ran.stdout.trim().split('\n')) {
        const at = line.lastIndexOf(' ');
        values.set(line.slice(0, at), BigInt(line.slice(at + 1)));
      }
      const skipped = all.filter((_, i) => !live.has(i)).map((p) => p.key);
      return { ok: true, values, skipped };
    }
    if (/fatal error: .*No such file/.test(r.stderr)) return { ok: false, skip: 'no linux/kvm.h' };
    const bad = new Set<number>();
    for (const m of r.stderr.matchAll(/probe\.c:(\d+):\d+: error:/g)) {
      const i = Number(m[1]) - first;
      if (i >= 0 && i < all.length && live.has(i)) bad.add(i);
    }
    if (bad.size === 0) return { ok: false, fail: `cc failed:\n${r.stderr}` };
    for (const i of bad) live.delete(i);
  }
  return { ok: false, fail: 'probe program still does not compile after 30 rounds' };
}

function hasCc(cc: string): boolean {
  const r = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

test('uapi structs, ioctl numbers and constants match <linux/kvm.h>', async (t) => {
  const cc = process.env.CC ?? 'cc';
  if (!hasCc(cc)) {
    t.skip('no C compiler');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sevbox-layout-'));
  try {
    const headers = findHeaders(join(dir, 'stub'));
    if (!headers) {
      t.skip('no linux/kvm.h');
      return;
    }
    const probed = runProbes(cc, dir, headers);
    if (!probed.ok) {
      if ('skip' in probed) {
        t.skip(probed.skip);
        return;
      }
      assert.fail(probed.fail);
    }
    const { values, skipped } = probed;
    t.diagnostic(`headers: ${headers.label}`);
    if (skipped.length) t.diagnostic(`not in these headers, skipped: ${skipped.join(', ')}`);
    const c = (key: string): bigint | undefined => values.get(key);

    for (const [tag, size, offsets] of STRUCTS) {
      await t.test(`struct ${tag}`, () => {
        const cSize = c(`S ${tag}`);
        if (cSize !== undefined) assert.equal(BigInt(size), cSize, `sizeof(struct ${tag})`);
        for (const [member, off] of Object.entries(offsets)) {
          const cOff = c(`O ${tag} ${member}`);
          if (cOff !== undefined) assert.equal(BigInt(off), cOff, `offsetof(struct ${tag}, ${member})`);
        }
      });
    }

    await t.test('ioctl numbers', () => {
      for (const [name, cmd] of Object.entries(KVM_IOCTLS)) {
        const v = c(`I ${name}`);
        if (v !== undefined) assert.equal(`0x${cmd.toString(16)}`, `0x${v.toString(16)}`, name);
      }
    });

    await t.test('constants', () => {
      for (const [name, value] of Object.entries(CONSTANTS)) {
        const v = c(`C ${name}`);
        if (v !== undefined) assert.equal(BigInt(value), v, name);
      }
    });

    if (headers.vendored) {
      await t.test('the vendored 6.12 headers know every probe', () => {
        assert.deepEqual(skipped, []);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
