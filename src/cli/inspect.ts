/**
 * `sevbox inspect GHCB.bin`: decode a 4 KiB GHCB page (every field with its offset and valid bit,
 * usage and version) and say what KVM would do with it under each kernel profile, by handing the
 * page to the real VMGEXIT path of a throwaway SEV-ES VM and folding the trace.
 */
import { SEV_PROFILES, type SevProfileName } from '../sev/index.js';
import { describeReasons, type VmgexitOutcome } from '../trace/outcome.js';
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
import { svmExitCodeName } from '../uapi/svm.js';
import { isVmmError } from '../vmm/errors.js';
import { Vmm } from '../vmm/vmm.js';

/** RAM the throwaway VM gets: scratch areas below this are RAM, above it have no memslot. */
export const INSPECT_RAM_SIZE = 16 * 1024 * 1024;

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
      return `KVM_RUN fails: ${errnoName(o.errno)}`;
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
  const vmm = Vmm.create({
    ram: [{ name: 'ram', gpa: 0, size: INSPECT_RAM_SIZE }],
    serial: false,
    debugExitPort: false,
    sev: { profile, ghcbVersion: ghcbVersion as 1 | 2 },
  });
  if (isVmmError(vmm)) throw new Error(`inspect machine: ${vmm.errno}: ${vmm.message}`);
  const v = vmm.addVcpu(function* (cpu) {
    cpu.mem.write(ghcbGpa, page);
    cpu.ghcbMsr = BigInt(ghcbGpa);
    yield* cpu.vmgexit();
  });
  if (isVmmError(v)) throw new Error(`inspect vCPU: ${v.errno}: ${v.message}`);
  // One KVM_RUN: the VMGEXIT and whatever KVM does with it.
  const r = vmm.run({ maxKvmRuns: 1 });
  vmm.destroy();
  const outcome = r.vmgexits[0]?.outcome;
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
