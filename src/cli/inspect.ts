/**
 * `sevbox inspect GHCB.bin`: decode a 4 KiB GHCB page (every field with its offset and valid bit,
 * usage and version) and say what KVM would do with it under each kernel profile, by handing the
 * page to the real VMGEXIT path of a throwaway SEV-ES VM and folding the trace.
 */
import { ScriptedCpu } from '../cpu/scripted.js';
import { HostAllocator } from '../host/allocator.js';
import { Kvm } from '../kvm/kvm.js';
import { SEV_PROFILES, type SevProfileName, sevEsVmType } from '../sev/index.js';
import type { TraceEvent } from '../trace/events.js';
import { describeReasons, foldVmgexits, type VmgexitOutcome } from '../trace/outcome.js';
import { KVM_X86_SEV_ES_VM } from '../uapi/caps.js';
import { errnoName } from '../uapi/errno.js';
import {
  GHCB_FIELDS,
  GHCB_OFF_PROTOCOL_VERSION,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_USAGE,
  GHCB_OFF_VALID_BITMAP,
  GHCB_SIZE,
  ghcbErrName,
} from '../uapi/ghcb.js';
import { isKvmError } from '../uapi/kvm-error.js';
import { svmExitCodeName } from '../uapi/svm.js';

/** RAM the throwaway VM gets: scratch areas below this are RAM, above it have no memslot. */
export const INSPECT_RAM_SIZE = 16 * 1024 * 1024;
const RAM_HVA = 0x7e00_0000_0000;

/** One decoded field. */
export interface InspectedField {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly validBit: number | undefined;
  readonly valid: boolean | undefined;
  readonly value: bigint;
}

/** What KVM does with the page under one profile and GHCB version. */
export interface InspectedVerdict {
  readonly profile: SevProfileName;
  readonly ghcbVersion: number;
  readonly verdict: string;
  readonly outcome: VmgexitOutcome | undefined;
}

/** The decoded page. */
export interface InspectReport {
  readonly fields: readonly InspectedField[];
  readonly exitCode: bigint;
  readonly exitCodeName: string;
  readonly usage: number;
  readonly protocolVersion: number;
  readonly verdicts: readonly InspectedVerdict[];
}

function readLe(page: Uint8Array, offset: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(page[offset + i]!);
  return v;
}

function isValid(page: Uint8Array, bit: number): boolean {
  return (page[GHCB_OFF_VALID_BITMAP + (bit >> 3)]! & (1 << (bit & 7))) !== 0;
}

/** Decode every named field of a GHCB page. */
export function decodeGhcb(page: Uint8Array): InspectedField[] {
  return GHCB_FIELDS.map((f) => ({
    name: f.name,
    offset: f.offset,
    size: f.size,
    validBit: f.validBit,
    valid: f.validBit === undefined ? undefined : isValid(page, f.validBit),
    value:
      f.size <= 8
        ? readLe(page, f.offset, f.size)
        : readLe(page, f.offset, 8) | (readLe(page, f.offset + 8, 8) << 64n),
  }));
}

/** In words, the way `sevbox run` prints outcomes. */
export function describeVmgexitOutcome(o: VmgexitOutcome | undefined): string {
  if (!o) return 'ignored: KVM wrote nothing';
  switch (o.kind) {
    case 'handled':
      return 'accepted: handled in the kernel';
    case 'ignored':
      return 'ignored: KVM wrote nothing';
    case 'reflected':
      return `reflected: ${ghcbErrName(o.error)} (sw_exit_info_1 = 2)`;
    case 'userspace':
      return `accepted: exit to userspace (${describeReasons(o.reasons)})`;
    case 'error':
      return `KVM_RUN fails: ${errnoName(o.errno) ?? `errno ${o.errno}`}`;
    case 'oops':
      return `host kernel crash: ${o.message}`;
    default: {
      const never: never = o;
      return String(never);
    }
  }
}

/** Hand `page` to KVM as the GHCB at `ghcbGpa` under one profile and report the first outcome. */
export function judgeGhcb(
  page: Uint8Array,
  profile: SevProfileName,
  ghcbVersion: number,
  ghcbGpa: number,
): InspectedVerdict {
  const events: TraceEvent[] = [];
  const allocator = new HostAllocator();
  const kvm = new Kvm({ vmTypes: [sevEsVmType], allocator, trace: (e) => events.push(e) });
  const vm = kvm.createVm(KVM_X86_SEV_ES_VM, { profile, ghcbVersion });
  kvm.host.mapAnonymous(RAM_HVA, INSPECT_RAM_SIZE);
  vm.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: 0n,
    memorySize: BigInt(INSPECT_RAM_SIZE),
    userspaceAddr: BigInt(RAM_HVA),
  });
  const cpu = new ScriptedCpu(
    function* (cpu) {
      cpu.mem.write(ghcbGpa, page);
      cpu.ghcbMsr = BigInt(ghcbGpa);
      yield* cpu.vmgexit();
    },
    { protectedState: true },
  );
  const vcpu = vm.createVcpu(0, cpu);
  try {
    vcpu.run();
  } catch (e) {
    if (!isKvmError(e)) throw e;
  }
  vm.destroy();
  const outcome = foldVmgexits(events)[0]?.outcome;
  return { profile, ghcbVersion, outcome, verdict: describeVmgexitOutcome(outcome) };
}

/** Decode the page and judge it under every profile (and, for current, both GHCB versions). */
export function inspectGhcb(page: Uint8Array, ghcbGpa = 0x1000): InspectReport {
  if (page.length !== GHCB_SIZE)
    throw new RangeError(`a GHCB page is ${GHCB_SIZE} bytes, got ${page.length}`);
  const exitCode = readLe(page, GHCB_OFF_SW_EXIT_CODE, 8);
  const verdicts: InspectedVerdict[] = [];
  for (const p of Object.values(SEV_PROFILES)) {
    for (let v = 1; v <= p.ghcbVersionMax; v++) verdicts.push(judgeGhcb(page, p.name, v, ghcbGpa));
  }
  return {
    fields: decodeGhcb(page),
    exitCode,
    exitCodeName: svmExitCodeName(exitCode),
    usage: Number(readLe(page, GHCB_OFF_USAGE, 4)),
    protocolVersion: Number(readLe(page, GHCB_OFF_PROTOCOL_VERSION, 2)),
    verdicts,
  };
}

/** The report as text lines. */
export function formatInspect(r: InspectReport): string[] {
  const hex = (v: bigint, size: number): string => `0x${v.toString(16).padStart(Math.min(size, 8) * 2, '0')}`;
  const lines = [
    `GHCB: sw_exit_code ${hex(r.exitCode, 8)} (${r.exitCodeName}), ghcb_usage ${r.usage}, protocol_version ${r.protocolVersion}`,
    '',
  ];
  lines.push('offset  field              valid  value');
  for (const f of r.fields) {
    const valid = f.valid === undefined ? '  -  ' : f.valid ? ' yes ' : ' no  ';
    lines.push(
      `0x${f.offset.toString(16).padStart(3, '0')}   ${f.name.padEnd(18)} ${valid}  ${hex(f.value, f.size)}`,
    );
  }
  lines.push('', 'what KVM does with it:');
  for (const v of r.verdicts)
    lines.push(`  ${`${v.profile} (GHCB v${v.ghcbVersion})`.padEnd(22)} ${v.verdict}`);
  return lines;
}
