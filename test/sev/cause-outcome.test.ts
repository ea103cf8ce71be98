/**
 * shared/spec/vmgexit.md section 5, "Cause -> outcome": every row, for every kernel profile.
 *
 * A row is the spec's cause (its words), one or more guest programs that produce it (variants), the
 * host faults that go with it, and per profile what KVM must do with the VMGEXIT (handled, ignored,
 * reflected with the exact GHCB_ERR_*, exits to userspace, KVM_RUN errno) and what the guest must
 * see afterwards. Unless a cell says otherwise the guest's view follows from KVM's outcome:
 * reflected → sw_exit_info_1 = 2 and sw_exit_info_2 = the code; handled / userspace → success;
 * -EFAULT / -ENOMEM → after the re-run, success with sw_exit_info_2 = 0 (section 6).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GhcbResult } from '../../src/guest/result.js';
import { PROT_READ } from '../../src/host/address-space.js';
import type { ModelVcpuFd, ModelVmFd } from '../../src/kvm/fd.js';
import { KVM_CAP_VM_TYPES, KVM_X86_SEV_ES_VM, KVM_X86_SNP_VM } from '../../src/uapi/caps.js';
import type { Errno } from '../../src/uapi/errno.js';
import {
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_IO,
  KVM_EXIT_MMIO,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
  KVM_SYSTEM_EVENT_SEV_TERM,
} from '../../src/uapi/exit-reasons.js';
import {
  GHCB_ERR_INVALID_EVENT,
  GHCB_ERR_INVALID_INPUT,
  GHCB_ERR_INVALID_SCRATCH_AREA,
  GHCB_ERR_INVALID_USAGE,
  GHCB_ERR_MISSING_INPUT,
  GHCB_FIELDS,
  GHCB_HV_FT_SUPPORTED,
  GHCB_OFF_CPL,
  GHCB_OFF_RAX,
  GHCB_OFF_RBX,
  GHCB_OFF_RCX,
  GHCB_OFF_RDX,
  GHCB_OFF_SW_EXIT_CODE,
  GHCB_OFF_SW_EXIT_INFO_1,
  GHCB_OFF_SW_EXIT_INFO_2,
  GHCB_OFF_SW_SCRATCH,
  GHCB_OFF_VALID_BITMAP,
  GHCB_OFF_XCR0,
  ghcbMsrTermReq,
} from '../../src/uapi/ghcb.js';
import {
  encodeIoioInfo,
  SVM_EXIT_CPUID,
  SVM_EXIT_IOIO,
  SVM_EXIT_MONITOR,
  SVM_EXIT_MSR,
  SVM_EXIT_MWAIT,
  SVM_EXIT_NPF,
  SVM_EXIT_RDPMC,
  SVM_EXIT_RDTSC,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_WRITE_DR7,
  SVM_VMGEXIT_AP_CREATION,
  SVM_VMGEXIT_AP_JUMP_TABLE,
  SVM_VMGEXIT_EXT_GUEST_REQUEST,
  SVM_VMGEXIT_GUEST_REQUEST,
  SVM_VMGEXIT_MMIO_READ,
  SVM_VMGEXIT_MMIO_WRITE,
  SVM_VMGEXIT_PSC,
  SVM_VMGEXIT_SNP_RUN_VMPL,
} from '../../src/uapi/svm.js';
import {
  assertGuestSaw,
  assertOutcome,
  type DriveOptions,
  type DriveReport,
  drive,
  type Expected,
  exitsOf,
  fails,
  finish,
  GHCB_GPA,
  type GuestFn,
  handled,
  ignored,
  le64,
  leakGuard,
  type Machine,
  type MachineOptions,
  MMIO_GPA,
  mmioBytes,
  NO_SLOT_GPA,
  oops,
  openSevKvm,
  PAGE,
  PORT,
  PROFILES,
  type Profile,
  rawMmio,
  rawStringIo,
  reflected,
  request,
  runFails,
  SCRATCH_GPA,
  SHARED_GPA,
  SPARE_GPA,
  SPARE_HVA,
  SPARE_SIZE,
  sevEsInit,
  sevInit2,
  sevMachine,
  userspace,
} from './kit.js';

leakGuard();

/** What one profile expects of a variant. */
type Cell =
  | {
      /** What KVM did with the VMGEXIT. */
      kvm: Expected;
      /** What the guest saw; 'derive' (default) from kvm, 'none' when the guest never resumes. */
      guest?: 'derive' | 'none';
      /** More checks on the run. */
      check?: (r: DriveReport<unknown>, m: Machine<unknown>) => void;
      todo?: string;
    }
  | { na: string };

/** One guest program producing the cause. */
interface Variant {
  name: string;
  guest: GuestFn<unknown>;
  setup?: Omit<MachineOptions<unknown>, 'profile' | 'guest'>;
  drive?: DriveOptions;
  expect: Record<Profile, Cell>;
}

/** A row of section 5. */
interface Row {
  cause: string;
  variants: Variant[];
}

/** Same cell for all three profiles. */
const all = (cell: Cell): Record<Profile, Cell> => ({ prefix: cell, seed: cell, current: cell });
const v1Only = (why = 'prefix and seed kernels have no GHCB v2 (GHCB_VERSION_MAX = 1)') => ({ na: why });

function isGhcbResult(x: unknown): x is GhcbResult {
  return typeof x === 'object' && x !== null && 'kind' in x && 'info1' in x && 'info2' in x;
}

/** The guest's view that follows from KVM's outcome. */
function deriveGuest(r: DriveReport<unknown>, kvm: Expected): void {
  const result = isGhcbResult(r.guest) ? r.guest : undefined;
  switch (kvm.kind) {
    case 'reflected':
      assertGuestSaw(result, { reflected: kvm.error });
      return;
    case 'handled':
    case 'userspace':
      assertGuestSaw(result, { ok: true });
      return;
    case 'error':
      if (kvm.errno === 'EFAULT' || kvm.errno === 'ENOMEM') assertGuestSaw(result, { ok: true, info2: 0n });
      return;
    default:
      return;
  }
}

const MMIO_READ_4_IN_GHCB: GuestFn<unknown> = function* (c) {
  return (yield* c.mmioRead(MMIO_GPA, 4)).result;
};

const CPUID_FIELDS: [number, bigint][] = [
  [GHCB_OFF_RAX, 0n],
  [GHCB_OFF_RCX, 0n],
];

/** A request of `code` with all of `fields` valid except the one at `drop`. */
function missing(
  name: string,
  code: number,
  info1: bigint,
  fields: [number, bigint][],
  drop: number,
): Variant {
  return {
    name,
    guest: (c) => request(c, code, info1, 0n, fields, [drop]),
    expect: all({ kvm: reflected(GHCB_ERR_MISSING_INPUT) }),
  };
}

/** One `missing` variant per field of a complete request, each named after the field it drops. */
function missingEach(label: string, code: number, info1: bigint, fields: [number, bigint][]): Variant[] {
  return fields.map(([off]) => {
    const field = GHCB_FIELDS.find((f) => f.offset === off);
    if (!field) throw new Error(`no GHCB field at 0x${off.toString(16)}`);
    return missing(`${label} without ${field.name}`, code, info1, fields, off);
  });
}

const ROWS: Row[] = [
  {
    cause: 'GHCB GPA = 0',
    variants: [
      {
        name: 'a complete CPUID request in the GHCB page, GHCB MSR = 0',
        guest: function* (c, cpu) {
          // The request is in the page, but the MSR names GPA 0.
          yield* c.writeRaw(GHCB_OFF_RAX, le64(0n));
          yield* c.writeRaw(GHCB_OFF_RCX, le64(0n));
          yield* c.writeRaw(GHCB_OFF_SW_EXIT_CODE, le64(BigInt(SVM_EXIT_CPUID)));
          yield* c.writeRaw(GHCB_OFF_SW_EXIT_INFO_1, le64(0n));
          yield* c.writeRaw(GHCB_OFF_SW_EXIT_INFO_2, le64(0n));
          yield* c.writeRaw(GHCB_OFF_VALID_BITMAP, new Uint8Array(16).fill(0xff));
          const before = yield* c.readRaw(0, PAGE);
          const page0Before = new Uint8Array(PAGE);
          cpu.mem.read(0, page0Before);
          cpu.ghcbMsr = 0n;
          yield* cpu.vmgexit();
          const after = yield* c.readRaw(0, PAGE);
          const page0After = new Uint8Array(PAGE);
          cpu.mem.read(0, page0After);
          cpu.notes.unchanged = Buffer.compare(before, after) === 0;
          cpu.notes.page0Unchanged = Buffer.compare(page0Before, page0After) === 0;
          cpu.notes.msrAfter = cpu.ghcbMsr;
          return 'resumed';
        },
        expect: all({
          kvm: ignored(),
          check: (r, m) => {
            assert.equal(r.guest, 'resumed', 'the guest resumed after its VMGEXIT');
            assert.equal(m.cpu.notes.unchanged, true, 'nothing written into the GHCB page');
            assert.equal(m.cpu.notes.page0Unchanged, true, 'nothing written at GPA 0');
            assert.equal(m.cpu.notes.msrAfter, 0n, 'the GHCB MSR is left as it was');
            assert.deepEqual(
              exitsOf(r).map((x) => 'exit' in x && x.exit),
              ['Hlt'],
              'no exit but the final HLT',
            );
          },
        }),
      },
    ],
  },
  {
    cause: 'GHCB page cannot be mapped',
    variants: [
      {
        name: 'GHCB MSR names a GPA with no memslot',
        guest: function* (_c, cpu) {
          cpu.ghcbMsr = BigInt(NO_SLOT_GPA);
          yield* cpu.vmgexit();
          return 'resumed';
        },
        expect: all({ kvm: ignored(), check: (r) => assert.equal(r.guest, 'resumed') }),
      },
      {
        name: 'GHCB MSR names a page whose hva the VMM unmapped',
        setup: { host: (host) => host.unmap(SPARE_HVA, PAGE) },
        guest: function* (_c, cpu) {
          cpu.ghcbMsr = BigInt(SPARE_GPA);
          yield* cpu.vmgexit();
          return 'resumed';
        },
        expect: all({ kvm: ignored(), check: (r) => assert.equal(r.guest, 'resumed') }),
      },
    ],
  },
  {
    cause: 'SNP: GHCB GPA not registered',
    variants: [
      {
        name: 'an SNP guest VMGEXITs with a GHCB it did not register',
        guest: MMIO_READ_4_IN_GHCB,
        expect: {
          prefix: { na: 'no SNP in the prefix kernel' },
          seed: { na: 'no SNP in the seed kernel' },
          current: { na: 'sevbox has no SNP VM type (KVM_X86_SNP_VM is not registered; see snp-scope test)' },
        },
      },
    ],
  },
  {
    cause: 'ghcb_usage != 0',
    variants: [1, 0xffff_ffff].map(
      (usage): Variant => ({
        name: `ghcb_usage = 0x${usage.toString(16)} on a CPUID request`,
        guest: function* (c) {
          c.setUsage(usage);
          return (yield* c.cpuid(0)).result;
        },
        expect: all({ kvm: reflected(GHCB_ERR_INVALID_USAGE) }),
      }),
    ),
  },
  {
    cause: 'sw_exit_code / info_1 / info_2 not valid',
    variants: (
      [
        ['sw_exit_code', GHCB_OFF_SW_EXIT_CODE],
        ['sw_exit_info_1', GHCB_OFF_SW_EXIT_INFO_1],
        ['sw_exit_info_2', GHCB_OFF_SW_EXIT_INFO_2],
      ] as const
    ).map(
      ([field, off]): Variant => ({
        name: `CPUID request with ${field} not marked valid`,
        guest: (c) => request(c, SVM_EXIT_CPUID, 0n, 0n, CPUID_FIELDS, [off]),
        expect: all({ kvm: reflected(GHCB_ERR_MISSING_INPUT) }),
      }),
    ),
  },
  {
    cause: 'per-exit required field missing',
    variants: [
      missing('WRITE_DR7 without rax', SVM_EXIT_WRITE_DR7, 0n, [[GHCB_OFF_RAX, 0x400n]], GHCB_OFF_RAX),
      missing('RDPMC without rcx', SVM_EXIT_RDPMC, 0n, [[GHCB_OFF_RCX, 0n]], GHCB_OFF_RCX),
      missing('CPUID without rax', SVM_EXIT_CPUID, 0n, CPUID_FIELDS, GHCB_OFF_RAX),
      missing('CPUID without rcx', SVM_EXIT_CPUID, 0n, CPUID_FIELDS, GHCB_OFF_RCX),
      missing(
        'CPUID leaf 0xD without xcr0',
        SVM_EXIT_CPUID,
        0n,
        [
          [GHCB_OFF_RAX, 0xdn],
          [GHCB_OFF_RCX, 0n],
          [GHCB_OFF_XCR0, 1n],
        ],
        GHCB_OFF_XCR0,
      ),
      missing(
        'IOIO OUT without rax',
        SVM_EXIT_IOIO,
        BigInt(encodeIoioInfo({ port: PORT, size: 1, in: false })),
        [[GHCB_OFF_RAX, 0x41n]],
        GHCB_OFF_RAX,
      ),
      missing(
        'IOIO string (OUTS) without sw_scratch',
        SVM_EXIT_IOIO,
        BigInt(encodeIoioInfo({ port: PORT, size: 1, in: false, string: true })),
        [[GHCB_OFF_SW_SCRATCH, BigInt(SHARED_GPA)]],
        GHCB_OFF_SW_SCRATCH,
      ),
      missing(
        'IOIO string (INS) without sw_scratch',
        SVM_EXIT_IOIO,
        BigInt(encodeIoioInfo({ port: PORT, size: 1, in: true, string: true })),
        [[GHCB_OFF_SW_SCRATCH, BigInt(SHARED_GPA)]],
        GHCB_OFF_SW_SCRATCH,
      ),
      missing('RDMSR without rcx', SVM_EXIT_MSR, 0n, [[GHCB_OFF_RCX, 0xc0000080n]], GHCB_OFF_RCX),
      ...missingEach('WRMSR', SVM_EXIT_MSR, 1n, [
        [GHCB_OFF_RCX, 0xc0000082n],
        [GHCB_OFF_RAX, 0n],
        [GHCB_OFF_RDX, 0n],
      ]),
      ...missingEach('VMMCALL', SVM_EXIT_VMMCALL, 0n, [
        [GHCB_OFF_RAX, 1n],
        [GHCB_OFF_CPL, 0n],
      ]),
      ...missingEach('MONITOR', SVM_EXIT_MONITOR, 0n, [
        [GHCB_OFF_RAX, 0x8000n],
        [GHCB_OFF_RCX, 0n],
        [GHCB_OFF_RDX, 0n],
      ]),
      ...missingEach('MWAIT', SVM_EXIT_MWAIT, 0n, [
        [GHCB_OFF_RAX, 0n],
        [GHCB_OFF_RCX, 0n],
      ]),
      ...[SVM_VMGEXIT_MMIO_READ, SVM_VMGEXIT_MMIO_WRITE].map((code) => ({
        ...missing(
          `MMIO_${code === SVM_VMGEXIT_MMIO_READ ? 'READ' : 'WRITE'} without sw_scratch`,
          code,
          BigInt(MMIO_GPA),
          [[GHCB_OFF_SW_SCRATCH, BigInt(SHARED_GPA)]],
          GHCB_OFF_SW_SCRATCH,
        ),
        guest: (c: Parameters<GuestFn<unknown>>[0]) =>
          request(
            c,
            code,
            BigInt(MMIO_GPA),
            4n,
            [[GHCB_OFF_SW_SCRATCH, BigInt(SHARED_GPA)]],
            [GHCB_OFF_SW_SCRATCH],
          ),
      })),
    ],
  },
  {
    cause: 'unknown exit code',
    variants: [
      ['SVM_EXIT_NPF (0x400), a hardware-only code', BigInt(SVM_EXIT_NPF)],
      ['SNP_RUN_VMPL (0x80000018), never accepted', BigInt(SVM_VMGEXIT_SNP_RUN_VMPL)],
      ['0x80000006, unassigned', 0x8000_0006n],
      ['0x1_00000072: CPUID with high bits set', 0x1_0000_0072n],
      ['all ones', 0xffff_ffff_ffff_ffffn],
    ].map(
      ([name, code]): Variant => ({
        name: name as string,
        guest: (c) => request(c, code as bigint, 0n, 0n, CPUID_FIELDS),
        expect: all({ kvm: reflected(GHCB_ERR_INVALID_EVENT) }),
      }),
    ),
  },
  {
    cause: 'SNP-only exit code, non-SNP guest',
    variants: [
      {
        name: 'PSC with a scratch area in the GHCB',
        code: SVM_VMGEXIT_PSC,
        info1: 0n,
        info2: 0n,
        fields: [[GHCB_OFF_SW_SCRATCH, BigInt(SHARED_GPA)]] as [number, bigint][],
      },
      {
        name: 'GUEST_REQUEST with page-aligned, different request/response GPAs',
        code: SVM_VMGEXIT_GUEST_REQUEST,
        info1: 0x6000n,
        info2: 0x7000n,
        fields: [],
      },
      {
        name: 'EXT_GUEST_REQUEST with page-aligned GPAs and rax/rbx',
        code: SVM_VMGEXIT_EXT_GUEST_REQUEST,
        info1: 0x6000n,
        info2: 0x7000n,
        fields: [
          [GHCB_OFF_RAX, 0x8000n],
          [GHCB_OFF_RBX, 1n],
        ] as [number, bigint][],
      },
      {
        name: 'AP_CREATION (CREATE, APIC ID 1) with rax',
        code: SVM_VMGEXIT_AP_CREATION,
        info1: (1n << 32n) | 1n,
        info2: 0x9000n,
        fields: [[GHCB_OFF_RAX, 0n]] as [number, bigint][],
      },
    ].map(
      (x): Variant => ({
        name: x.name,
        guest: (c) => request(c, x.code, x.info1, x.info2, x.fields),
        expect: {
          prefix: { kvm: reflected(GHCB_ERR_INVALID_EVENT) },
          seed: { kvm: reflected(GHCB_ERR_INVALID_EVENT) },
          current: { kvm: reflected(GHCB_ERR_MISSING_INPUT) },
        },
      }),
    ),
  },
  {
    cause: 'scratch GPA 0, wrap, bad GHCB sub-range, > 16 pages',
    variants: [
      ['sw_scratch = 0', 0n, 4n],
      ['wraps past 2^64 (GPA 2^64-4, 8 bytes)', 0xffff_ffff_ffff_fffcn, 8n],
      ['ends exactly at 2^64 (GPA 2^64-8, 8 bytes)', 0xffff_ffff_ffff_fff8n, 8n],
      ['in the GHCB page, in the save area (GHCB+0x10)', BigInt(GHCB_GPA + 0x10), 4n],
      ['in the GHCB page, starting 8 bytes before the shared buffer', BigInt(SHARED_GPA - 8), 16n],
      ['in the GHCB page, running 8 bytes past the shared buffer', BigInt(GHCB_GPA + 0xfe8), 16n],
      ['in the GHCB page, at GHCB+0xFF0 (after the shared buffer)', BigInt(GHCB_GPA + 0xff0), 1n],
      ['outside the GHCB, 65537 bytes (> 16 pages)', BigInt(SCRATCH_GPA), 65537n],
    ].map(
      ([name, scratch, len]): Variant => ({
        name: name as string,
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, len as bigint, scratch as bigint),
        expect: all({ kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) }),
      }),
    ),
  },
  {
    cause: 'scratch area outside the GHCB page on a GHCB v2+ VM',
    variants: [
      {
        name: 'MMIO read of 8 bytes with sw_scratch in RAM outside the GHCB',
        setup: { ghcbVersion: 2 },
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 8, SCRATCH_GPA),
        expect: {
          prefix: v1Only(),
          seed: v1Only(),
          current: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
        },
      },
      {
        name: 'OUTS of 16 bytes with sw_scratch in RAM outside the GHCB',
        setup: { ghcbVersion: 2 },
        guest: (c) => rawStringIo(c, 'out', 1, 16, SCRATCH_GPA),
        expect: {
          prefix: v1Only(),
          seed: v1Only(),
          current: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
        },
      },
    ],
  },
  {
    cause: 'bounce buffer allocation fails',
    variants: [
      {
        name: 'allocator budget 0, MMIO read of 4 bytes into RAM outside the GHCB',
        setup: { budget: 0 },
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 4, SCRATCH_GPA),
        expect: {
          prefix: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          seed: { kvm: fails('ENOMEM') },
          current: { kvm: fails('ENOMEM') },
        },
      },
      {
        name: 'first allocation fails (failslab), OUTS of 100 bytes from RAM outside the GHCB',
        setup: { allocFaults: { failNth: 1 } },
        guest: (c) => c.ioOutString(PORT, 1, new Uint8Array(100).fill(0x55), { gpa: BigInt(SCRATCH_GPA) }),
        expect: {
          prefix: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          seed: { kvm: fails('ENOMEM') },
          current: { kvm: fails('ENOMEM') },
        },
      },
    ],
  },
  {
    cause: 'guest read of scratch area fails',
    variants: [
      {
        name: 'sw_scratch has no memslot',
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 4, NO_SLOT_GPA),
        expect: {
          prefix: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          seed: { kvm: fails('EFAULT') },
          current: { kvm: fails('EFAULT') },
        },
      },
      {
        name: "the scratch slot's hva was unmapped by the VMM",
        setup: { host: (host) => host.unmap(SPARE_HVA, SPARE_SIZE) },
        guest: (c) => rawMmio(c, 'write', MMIO_GPA, 4, SPARE_GPA),
        expect: {
          prefix: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          seed: { kvm: fails('EFAULT') },
          current: { kvm: fails('EFAULT') },
        },
      },
      {
        name: 'the scratch area runs from RAM into an unmapped page (partial read)',
        setup: { host: (host) => host.unmap(SPARE_HVA, PAGE) },
        guest: (c) => rawStringIo(c, 'in', 1, 16, SPARE_GPA - 8),
        expect: {
          prefix: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          seed: { kvm: fails('EFAULT') },
          current: { kvm: fails('EFAULT') },
        },
      },
    ],
  },
  {
    cause: 'write-back of bounce buffer fails',
    variants: [
      {
        name: 'scratch page is read-only in the VMM (mprotect PROT_READ): read works, write-back fails',
        setup: {
          host: (host) => {
            host.write(SPARE_HVA, new Uint8Array(8).fill(0xcc));
            host.protect(SPARE_HVA, PAGE, PROT_READ);
          },
        },
        guest: function* (c) {
          const r = yield* c.mmioRead(MMIO_GPA, 8, { gpa: BigInt(SPARE_GPA) });
          return { ...r.result, data: [...r.data] };
        },
        expect: all({
          kvm: userspace(KVM_EXIT_MMIO),
          check: (r) =>
            assert.deepEqual(
              (r.guest as { data: number[] }).data,
              Array(8).fill(0xcc),
              'nothing written back',
            ),
        }),
      },
      {
        name: 'the VMM unmaps the scratch hva while the MMIO read is out in userspace',
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 8, SPARE_GPA),
        drive: {
          onExit: (exit, m) => {
            if (exit.kind === 'MmioRead') m.host.unmap(SPARE_HVA, PAGE);
            return undefined;
          },
        },
        expect: all({ kvm: userspace(KVM_EXIT_MMIO) }),
      },
    ],
  },
  {
    cause: 'string I/O count > INT_MAX or count*size overflow',
    variants: [
      ['count 0x80000000, size 1', 1, 0x8000_0000n],
      ['count 2^32, size 1', 1, 0x1_0000_0000n],
      ['count 0x40000000, size 2 (2^31 bytes)', 2, 0x4000_0000n],
      ['count 0x20000000, size 4 (2^31 bytes)', 4, 0x2000_0000n],
    ].map(
      ([name, size, count]): Variant => ({
        name: name as string,
        guest: (c) => rawStringIo(c, 'out', size as number, count as bigint, SHARED_GPA),
        expect: all({ kvm: fails('EINVAL') }),
      }),
    ),
  },
  {
    cause: 'MMIO not claimed in kernel',
    variants: [
      {
        name: 'MMIO read of 4 bytes: one exit',
        guest: function* (c) {
          const r = yield* c.mmioRead(MMIO_GPA, 4);
          return { ...r.result, data: [...r.data] };
        },
        expect: all({
          kvm: userspace(KVM_EXIT_MMIO),
          check: (r) => assert.deepEqual((r.guest as { data: number[] }).data, mmioBytes(MMIO_GPA, 4)),
        }),
      },
      {
        name: 'MMIO read of 20 bytes: three exits (8 + 8 + 4)',
        guest: function* (c) {
          const r = yield* c.mmioRead(MMIO_GPA, 20);
          return { ...r.result, data: [...r.data] };
        },
        expect: {
          ...all({
            kvm: userspace(KVM_EXIT_MMIO, KVM_EXIT_MMIO, KVM_EXIT_MMIO),
            check: (r) => assert.deepEqual((r.guest as { data: number[] }).data, mmioBytes(MMIO_GPA, 20)),
          }),
        },
      },
      {
        name: 'MMIO write of 8 bytes: one exit carrying the bytes',
        guest: (c) => c.mmioWrite(MMIO_GPA, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)),
        expect: all({
          kvm: userspace(KVM_EXIT_MMIO),
          check: (r) =>
            assert.deepEqual(exitsOf(r)[0], {
              exit: 'MmioWrite',
              reason: KVM_EXIT_MMIO,
              addr: MMIO_GPA,
              len: 8,
              data: [1, 2, 3, 4, 5, 6, 7, 8],
            }),
        }),
      },
      {
        name: 'GHCB v2 VM: MMIO read of 8 bytes in the GHCB, at most one exit',
        setup: { ghcbVersion: 2 },
        guest: function* (c) {
          const r = yield* c.mmioRead(MMIO_GPA, 8);
          return { ...r.result, data: [...r.data] };
        },
        expect: {
          prefix: v1Only(),
          seed: v1Only(),
          current: {
            kvm: userspace(KVM_EXIT_MMIO),
            check: (r) => assert.deepEqual((r.guest as { data: number[] }).data, mmioBytes(MMIO_GPA, 8)),
          },
        },
      },
    ],
  },
  {
    cause: 'MMIO with exit_info_2 = 0',
    variants: [
      {
        name: 'read, sw_scratch = 0',
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 0, 0),
        expect: {
          prefix: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          seed: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          current: { kvm: handled() },
        },
      },
      {
        name: 'write, sw_scratch = 0',
        guest: (c) => rawMmio(c, 'write', MMIO_GPA, 0, 0),
        expect: {
          prefix: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          seed: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          current: { kvm: handled() },
        },
      },
      {
        name: 'read, sw_scratch in the GHCB save area (GHCB+0x10)',
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 0, GHCB_GPA + 0x10),
        expect: {
          prefix: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          seed: { kvm: reflected(GHCB_ERR_INVALID_SCRATCH_AREA) },
          current: { kvm: handled() },
        },
      },
      {
        name: 'read, sw_scratch at the start of the shared buffer',
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 0, SHARED_GPA),
        expect: all({ kvm: handled() }),
      },
      {
        name: 'read, sw_scratch in RAM outside the GHCB (0-byte bounce buffer)',
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 0, SCRATCH_GPA),
        expect: all({ kvm: handled() }),
      },
      {
        name: 'read, sw_scratch with no memslot (0-byte guest read succeeds)',
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 0, NO_SLOT_GPA),
        expect: all({ kvm: handled() }),
      },
      {
        name: 'GHCB v2 VM, read, sw_scratch outside the GHCB',
        setup: { ghcbVersion: 2 },
        guest: (c) => rawMmio(c, 'read', MMIO_GPA, 0, SCRATCH_GPA),
        expect: { prefix: v1Only(), seed: v1Only(), current: { kvm: handled() } },
      },
    ],
  },
  {
    cause: 'MMIO with exit_info_2 > 8 on a GHCB v2+ VM',
    variants: [
      ['MMIO read of 16 bytes in the GHCB', 'read', 16],
      ['MMIO write of 9 bytes in the GHCB', 'write', 9],
    ].map(
      ([name, dir, len]): Variant => ({
        name: name as string,
        setup: { ghcbVersion: 2 },
        guest: (c) => rawMmio(c, dir as 'read' | 'write', MMIO_GPA, len as number, SHARED_GPA),
        expect: {
          prefix: v1Only(),
          seed: v1Only(),
          current: {
            kvm: reflected(GHCB_ERR_INVALID_INPUT),
            check: (r) =>
              assert.deepEqual(
                exitsOf(r).map((x) => 'exit' in x && x.exit),
                ['Hlt'],
              ),
          },
        },
      }),
    ),
  },
  {
    cause: 'IOIO with size field 0',
    variants: [
      {
        name: 'OUTS, size field 0, 4 elements, scratch in the GHCB',
        guest: (c) => rawStringIo(c, 'out', 0, 4, SHARED_GPA),
        expect: {
          prefix: { kvm: oops(), guest: 'none', check: assertVmDead },
          seed: { kvm: oops(), guest: 'none', check: assertVmDead },
          current: { kvm: handled() },
        },
      },
      {
        name: 'INS, size field 0, 4 elements, scratch in RAM outside the GHCB (0-byte bounce buffer)',
        guest: (c) => rawStringIo(c, 'in', 0, 4, SCRATCH_GPA),
        expect: {
          prefix: { kvm: oops(), guest: 'none', check: assertVmDead },
          seed: { kvm: oops(), guest: 'none', check: assertVmDead },
          current: { kvm: handled() },
        },
      },
      {
        name: 'OUT (not string), size field 0',
        guest: (c) => request(c, SVM_EXIT_IOIO, BigInt((PORT << 16) >>> 0), 0n, [[GHCB_OFF_RAX, 0x41n]]),
        expect: {
          prefix: { na: 'the spec gives an outcome only for the string form under prefix/seed' },
          seed: { na: 'the spec gives an outcome only for the string form under prefix/seed' },
          current: { kvm: handled() },
        },
      },
    ],
  },
  {
    cause: 'port I/O not claimed in kernel',
    variants: [
      {
        name: 'OUT of one byte: KVM_EXIT_IO carrying it',
        guest: (c) => c.ioOut(PORT, 1, 0x41),
        expect: all({
          kvm: userspace(KVM_EXIT_IO),
          check: (r) =>
            assert.deepEqual(exitsOf(r)[0], {
              exit: 'IoOut',
              reason: KVM_EXIT_IO,
              port: PORT,
              size: 1,
              count: 1,
              data: [0x41],
            }),
        }),
      },
      {
        name: 'IN of two bytes: the VMM answer lands in RAX',
        guest: function* (c) {
          const r = yield* c.ioIn(PORT, 2);
          return { ...r.result, value: r.value, regsValid: r.regsValid };
        },
        expect: all({
          kvm: userspace(KVM_EXIT_IO),
          check: (r) => {
            const g = r.guest as { value: number; regsValid: boolean };
            assert.equal(g.value, 0x30 | (0x31 << 8));
            assert.equal(g.regsValid, true);
          },
        }),
      },
    ],
  },
  {
    cause: 'MSR access faults',
    variants: [
      {
        name: 'RDMSR of an MSR KVM does not emulate',
        guest: function* (c) {
          return (yield* c.rdmsr(0xc001_0999)).result;
        },
        expect: all({ kvm: handled(), guest: 'none', check: (r) => assertGp(r.guest) }),
      },
      {
        name: 'WRMSR of an MSR KVM does not emulate',
        guest: (c) => c.wrmsr(0xc001_0999, 5n),
        expect: all({ kvm: handled(), guest: 'none', check: (r) => assertGp(r.guest) }),
      },
    ],
  },
  {
    cause: 'RDTSC via GHCB',
    variants: [
      {
        name: 'RDTSC request',
        guest: function* (c) {
          return (yield* c.rdtsc()).result;
        },
        expect: all({
          kvm: userspace(KVM_EXIT_INTERNAL_ERROR),
          guest: 'none',
          check: (r) =>
            assert.deepEqual(exitsOf(r)[0], {
              exit: 'InternalError',
              reason: KVM_EXIT_INTERNAL_ERROR,
              suberror: KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
              words: [BigInt(SVM_EXIT_RDTSC), 0n],
            }),
        }),
      },
    ],
  },
  {
    cause: 'AP_JUMP_TABLE bad sub-code',
    variants: [2n, 0xffff_ffff_ffff_ffffn].map(
      (sub): Variant => ({
        name: `exit_info_1 = 0x${sub.toString(16)}`,
        guest: (c) => c.vmgexit(SVM_VMGEXIT_AP_JUMP_TABLE, sub, 0x9000n),
        expect: all({ kvm: reflected(GHCB_ERR_INVALID_INPUT) }),
      }),
    ),
  },
  {
    cause: 'UNSUPPORTED_EVENT',
    variants: [
      {
        name: 'UNSUPPORTED_EVENT naming the #VC error code',
        guest: (c) => c.unsupportedEvent(0x6en, 0n),
        expect: all({ kvm: fails('EINVAL'), guest: 'none' }),
      },
    ],
  },
  {
    cause: 'TERM_REQUEST via GHCB',
    variants: [1, 2].map(
      (version): Variant => ({
        name: `TERM_REQUEST (set 1, code 4) on a GHCB v${version} VM`,
        setup: { ghcbVersion: version },
        guest: (c) => c.termRequest(1, 4),
        expect: {
          prefix: version === 1 ? { kvm: reflected(GHCB_ERR_INVALID_EVENT) } : v1Only(),
          seed: version === 1 ? { kvm: reflected(GHCB_ERR_INVALID_EVENT) } : v1Only(),
          current: {
            kvm: userspace(KVM_EXIT_SYSTEM_EVENT),
            guest: 'none',
            check: (r) =>
              assert.deepEqual(exitsOf(r)[0], {
                exit: 'SystemEvent',
                reason: KVM_EXIT_SYSTEM_EVENT,
                type: KVM_SYSTEM_EVENT_SEV_TERM,
                words: [BigInt(GHCB_GPA)],
              }),
          },
        },
      }),
    ),
  },
  {
    cause: 'HV_FEATURES via GHCB',
    variants: [1, 2].map(
      (version): Variant => ({
        name: `HV_FEATURES on a GHCB v${version} VM`,
        setup: { ghcbVersion: version },
        guest: function* (c) {
          return (yield* c.hvFeatures()).result;
        },
        expect: {
          prefix: version === 1 ? { kvm: reflected(GHCB_ERR_INVALID_EVENT) } : v1Only(),
          seed: version === 1 ? { kvm: reflected(GHCB_ERR_INVALID_EVENT) } : v1Only(),
          current: {
            kvm: handled(),
            check: (r) => assertGuestSaw(r.guest as GhcbResult, { ok: true, info2: GHCB_HV_FT_SUPPORTED }),
          },
        },
      }),
    ),
  },
  {
    cause: 'MSR-protocol termination request',
    variants: [
      {
        name: 'TERM_REQ, reason set 1, code 4 (GHCB_TERM_CPUID)',
        guest: (c) => c.terminateMsr(1, 4),
        expect: {
          prefix: { kvm: fails('EINVAL'), guest: 'none' },
          seed: { kvm: fails('EINVAL'), guest: 'none' },
          current: {
            kvm: userspace(KVM_EXIT_SYSTEM_EVENT),
            guest: 'none',
            check: (r) =>
              assert.deepEqual(exitsOf(r)[0], {
                exit: 'SystemEvent',
                reason: KVM_EXIT_SYSTEM_EVENT,
                type: KVM_SYSTEM_EVENT_SEV_TERM,
                words: [ghcbMsrTermReq(1, 4)],
              }),
          },
        },
      },
    ],
  },
];

function assertGp(result: unknown): void {
  assertGuestSaw(result as GhcbResult, { exception: 13, info2: 0x8000030dn });
}

/** After a host oops the VM is dead: the next KVM_RUN (and every VM ioctl) fails with EIO. */
function assertVmDead(_r: DriveReport<unknown>, m: Machine<unknown>): void {
  assert.equal(m.vm.vm.dead, true, 'the VM is marked dead');
  runFails(m.vcpu, 'EIO');
  assert.equal((m.vm.createVcpu(1) as Errno).errno, 'EIO');
}

for (const row of ROWS) {
  describe(`cause: ${row.cause}`, () => {
    for (const variant of row.variants) {
      for (const profile of PROFILES) {
        const cell = variant.expect[profile];
        const title = `[${profile}] ${variant.name}`;
        if ('na' in cell) {
          it(title, { skip: `n/a: ${cell.na}` }, () => {});
          continue;
        }
        it(title, cell.todo ? { todo: cell.todo } : {}, () => {
          const m = sevMachine({ profile, ...variant.setup, guest: variant.guest });
          const r = drive(m, variant.drive);
          assert.equal(r.truncated, false, 'the drive ended (guest finished or a stop)');
          assertOutcome(r, cell.kvm);
          if ((cell.guest ?? 'derive') === 'derive') deriveGuest(r, cell.kvm);
          cell.check?.(r, m as Machine<unknown>);
          finish(m as Machine<unknown>);
        });
      }
    }
  });
}

describe('the n/a cells above are n/a for a reason that still holds', () => {
  for (const profile of PROFILES) {
    it(`[${profile}] snp-scope: sevbox has no SNP VM type, so KVM_CREATE_VM(KVM_X86_SNP_VM) fails EINVAL`, () => {
      const { kvm } = openSevKvm(profile);
      assert.equal((kvm.createVm(KVM_X86_SNP_VM) as Errno).errno, 'EINVAL');
      assert.equal(kvm.checkExtension(KVM_CAP_VM_TYPES) & (1 << KVM_X86_SNP_VM), 0);
    });
  }
  for (const profile of ['prefix', 'seed'] as const) {
    it(`[${profile}] a GHCB v2 VM cannot be created: no VM types (KVM_X86_SEV_ES_VM EINVAL), no KVM_SEV_INIT2, ES_INIT is GHCB v1`, () => {
      const w = openSevKvm(profile);
      assert.equal(w.kvm.checkExtension(KVM_CAP_VM_TYPES), 0);
      assert.equal((w.kvm.createVm(KVM_X86_SEV_ES_VM) as Errno).errno, 'EINVAL');
      const vm = w.kvm.createVm() as ModelVmFd;
      // v5.17's sev_mem_enc_ioctl has no KVM_SEV_INIT2: an unknown command.
      assert.equal(sevInit2(vm, w.host, { ghcbVersion: 2 })?.errno, 'EINVAL');
      assert.equal(sevEsInit(vm), undefined);
      // The one way in gives GHCB version 1: the SEV_INFO the vCPU starts with says max 1.
      assert.equal((vm.createVcpu(0) as ModelVcpuFd).id, 0);
      assert.equal(w.guests.cpu(0)!.ghcbMsr, 0x0001_0001_3300_0001n);
      vm.close();
    });
  }
  it('[current] a GHCB v3 VM cannot be created (GHCB_VERSION_MAX = 2): KVM_SEV_INIT2 EINVAL', () => {
    const w = openSevKvm('current');
    const vm = w.kvm.createVm(KVM_X86_SEV_ES_VM) as ModelVmFd;
    assert.equal(sevInit2(vm, w.host, { ghcbVersion: 3 })?.errno, 'EINVAL');
    assert.equal(sevInit2(vm, w.host, { ghcbVersion: 2 }), undefined, 'version 2 is accepted');
    vm.close();
  });
});
