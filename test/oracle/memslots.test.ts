/**
 * Differential test 1: KVM_SET_USER_MEMORY_REGION / REGION2, model vs the machine's kernel.
 *
 * fast-check generates sequences of memslot calls — create, delete, move, flag changes (dirty
 * logging, read-only, guest_memfd, unknown bits), misaligned and wrapping sizes and addresses,
 * overlaps, slot ids and address-space ids out of range, hvas at the end of the user address space,
 * both ioctl versions — and applies each call to a fresh model VM and to a real VM. Every call must
 * fail with the same errno (or succeed on both). A mismatch fails the test with the shrunk, minimal
 * sequence and both errnos. Seeded; SEVBOX_ORACLE_SEED / SEVBOX_ORACLE_RUNS override.
 *
 * Both sides are the fd interface of src/uapi/kvm-fd.ts: the model's `ModelVmFd` (from `openKvm`)
 * and the kernel's `HostVmFd` (its allocation-free `setUserMemoryRegionRaw`), errno for errno.
 *
 * Backend properties are detected, not assumed: the highest GPA a slot may reach (kvm_mmu_max_gfn:
 * MAXPHYADDR with TDP, 2^52 with shadow paging as on kvm_pvm) is probed and given to the model as
 * its `maxPhysBits`, and the number of memslot address spaces (KVM_CAP_MULTI_ADDRESS_SPACE: 2 with
 * CONFIG_KVM_SMM, else 0) chooses the model core's `smm` and KVM_CAP_GUEST_MEMFD its `guestMemfd`. hvas are never touched (KVM does not check that they are mapped), so no
 * memory backs these slots, and sizes stay small where a slot can succeed (KVM allocates rmaps per
 * page; the 2^31-page limit is tested with exactly 2^31 pages, which fails before any allocation).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { type HostVmFd, probeMaxGpaBits } from '../../src/hostkvm/index.js';
import { KVM_CORE_CURRENT, type KvmCoreProfile, type ModelVmFd, openKvm } from '../../src/kvm/index.js';
import { KVM_CAP_GUEST_MEMFD, KVM_CAP_MULTI_ADDRESS_SPACE } from '../../src/uapi/caps.js';
import { Errno, type ErrnoName, errnoName } from '../../src/uapi/errno.js';
import type { UserspaceMemoryRegion } from '../../src/uapi/memslot.js';
import { oracleHost } from './host.js';

const host = oracleHost();

const SEED = Number(process.env['SEVBOX_ORACLE_SEED'] ?? 0x5eb0c5);
const RUNS = Number(process.env['SEVBOX_ORACLE_RUNS'] ?? 10_000);

const P = 4096n;
const HVA = 0x7f00_0000_0000n;
/** TASK_SIZE_MAX on x86-64 with 4-level paging: 2^47 - 4096. */
const TASK_TOP = 0x7fff_ffff_f000n;
const U64_MAX = (1n << 64n) - 1n;

/** One memslot ioctl. */
export interface RegionCall {
  readonly v2: boolean;
  readonly region: UserspaceMemoryRegion;
}

/** The result of one call: 'ok' or the errno name. */
type Outcome = 'ok' | ErrnoName;

const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** A call as a person reads it (and as a C reproducer would write it). */
export function describeCall(c: RegionCall): string {
  const r = c.region;
  const gm = c.v2 ? ` gmem_offset=${hex(r.guestMemfdOffset ?? 0n)} gmem_fd=${r.guestMemfd ?? 0}` : '';
  return (
    `${c.v2 ? 'KVM_SET_USER_MEMORY_REGION2' : 'KVM_SET_USER_MEMORY_REGION'} ` +
    `slot=${r.slot >>> 16}:${r.slot & 0xffff} flags=${hex(r.flags)} gpa=${hex(r.guestPhysAddr)} ` +
    `size=${hex(r.memorySize)} hva=${hex(r.userspaceAddr)}${gm}`
  );
}

// ---- generators: small pools so that calls hit each other's slots, plus the edges ----

const slotIdArb = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom(0, 1, 2, 3) },
  { weight: 2, arbitrary: fc.constantFrom(32762, 32763, 32764, 32765, 32766, 32767, 0xffff) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);
const asIdArb = fc.oneof(
  { weight: 20, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.constantFrom(1, 2, 0xffff) },
);
const flagsArb = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom(0, 1, 2, 3) },
  { weight: 3, arbitrary: fc.constantFrom(4, 5, 6, 7, 8, 0x10, 0x8000_0000) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);
const gpaArb = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0, max: 15 }).map((k) => BigInt(k) * P) },
  { weight: 2, arbitrary: fc.constantFrom(1n, 0x800n, 0x1001n, P - 1n) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      (1n << 48n) - P,
      1n << 48n,
      (1n << 52n) - 2n * P,
      (1n << 52n) - P,
      1n << 52n,
      1n << 63n,
      U64_MAX - P + 1n,
      U64_MAX - 2n * P + 1n,
    ),
  },
);
const sizeArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant(0n) },
  { weight: 20, arbitrary: fc.integer({ min: 1, max: 8 }).map((k) => BigInt(k) * P) },
  { weight: 2, arbitrary: fc.constantFrom(1n, 0x800n, P + 1n, P - 1n) },
  {
    // 2^31 pages (one too many), sizes that wrap, 1 GiB (valid, cheap metadata).
    weight: 2,
    arbitrary: fc.constantFrom(1n << 43n, (1n << 43n) + P, U64_MAX - P + 1n, 1n << 63n, 1n << 30n),
  },
);
const hvaArb = fc.oneof(
  { weight: 20, arbitrary: fc.integer({ min: 0, max: 3 }).map((k) => HVA + BigInt(k) * 0x10_0000n) },
  { weight: 2, arbitrary: fc.constantFrom(HVA + 1n, HVA + 0x800n, 0n) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      TASK_TOP - 2n * P,
      TASK_TOP - P,
      TASK_TOP,
      TASK_TOP + P,
      1n << 47n,
      0xffff_8000_0000_0000n,
      U64_MAX - P + 1n,
    ),
  },
);
const gmemArb = fc.record({
  offset: fc.oneof(
    { weight: 8, arbitrary: fc.constant(0n) },
    { weight: 1, arbitrary: fc.constantFrom(P, 1n) },
  ),
  // 0 is stdin (not a guest_memfd); 4095 is not open.
  fd: fc.constantFrom(0, 0, 0, 4095),
});

const callArb: fc.Arbitrary<RegionCall> = fc
  .record({
    v2: fc.boolean(),
    id: slotIdArb,
    asId: asIdArb,
    flags: flagsArb,
    gpa: gpaArb,
    size: sizeArb,
    hva: hvaArb,
    gmem: gmemArb,
  })
  .map(({ v2, id, asId, flags, gpa, size, hva, gmem }) => ({
    v2,
    region: {
      slot: ((asId << 16) | id) >>> 0,
      flags,
      guestPhysAddr: gpa,
      memorySize: size,
      userspaceAddr: hva,
      ...(v2 && { guestMemfdOffset: gmem.offset, guestMemfd: gmem.fd }),
    },
  }));

/** Sequences of 1-12 calls. */
const sequenceArb = fc.array(callArb, { minLength: 1, maxLength: 12 });

// ---- the two sides ----

function modelOutcome(vm: ModelVmFd, c: RegionCall): Outcome {
  const r = c.v2 ? vm.setUserMemoryRegion2(c.region) : vm.setUserMemoryRegion(c.region);
  return r instanceof Errno ? r.errno : 'ok';
}

function hostOutcome(vm: HostVmFd, c: RegionCall): Outcome {
  const r = vm.setUserMemoryRegionRaw(c.region, !c.v2);
  return r === 0 ? 'ok' : errnoName(-r);
}

/** The `slot` field (as_id << 16 | id) of every slot a call sequence left, from the outcomes both sides agreed on. */
class SlotBook {
  readonly live = new Set<number>();

  /** A call that succeeded: a size of 0 deleted the slot, anything else created, moved or re-flagged it. */
  applied(c: RegionCall): void {
    const key = c.region.slot >>> 0;
    if (c.region.memorySize === 0n) this.live.delete(key);
    else this.live.add(key);
  }
}

/** The delete call for a slot field. */
const deleteCall = (slot: number): RegionCall => ({
  v2: false,
  region: { slot, flags: 0, guestPhysAddr: 0n, memorySize: 0n, userspaceAddr: 0n },
});

/** One step where the two disagree. */
export interface Mismatch {
  readonly step: number;
  readonly call: RegionCall;
  readonly model: Outcome;
  readonly kernel: Outcome;
}

/**
 * A known disagreement of the model with the kernel, reported by its own todo test until the model
 * is fixed. Only a step where BOTH sides fail can be known: neither changed its slots, so the
 * sequence goes on comparing after it. Anything else stops the comparison and fails.
 */
export interface KnownMismatch {
  readonly id: string;
  readonly title: string;
  /**
   * Whether this step is an instance: 'continue' when both sides failed (nothing changed, the
   * comparison goes on), 'stop' when one side changed its slots (the rest of the sequence is not
   * compared; the real VM is replaced), false when it is not this mismatch.
   */
  readonly matches: (call: RegionCall, model: Outcome, kernel: Outcome) => 'continue' | 'stop' | false;
}

/** The model refuses KVM_MEM_GUEST_MEMFD (it has no guest_memfd); this kernel accepts the flag. */
const M1_GUEST_MEMFD: KnownMismatch = {
  id: 'M1',
  title:
    'KVM_MEM_GUEST_MEMFD: the model rejects the flag at check_memory_region_flags (EINVAL), the kernel ' +
    '(KVM_CAP_GUEST_MEMFD = 1) accepts it for KVM_X86_DEFAULT_VM and fails later: EEXIST on overlap, ' +
    'EBADF for a closed fd, EINVAL for a non-guest_memfd fd; a delete (size 0) with the flag succeeds',
  matches: (c, m, k) => {
    if (!c.v2 || (c.region.flags & 4) === 0 || m !== 'EINVAL') return false;
    if (k !== 'ok') return 'continue';
    return c.region.memorySize === 0n ? 'stop' : false;
  },
};

/** Known mismatches, by id; empty: the model agrees everywhere the generator reaches (M1 was fixed). */
export const KNOWN_MISMATCHES: readonly KnownMismatch[] = [];

/** Format a mismatch with the whole (shrunk) sequence that led to it. */
export function describeMismatch(seq: readonly RegionCall[], m: Mismatch): string {
  const lines = seq.slice(0, m.step + 1).map((c, i) => {
    const mark = i === m.step ? `   <-- model ${m.model}, kernel ${m.kernel}` : '';
    return `  ${i + 1}. ${describeCall(c)}${mark}`;
  });
  return `memslot mismatch at call ${m.step + 1}:\n${lines.join('\n')}`;
}

describe('oracle: memslot ioctls, model vs kernel', { skip: host.skip }, () => {
  const kvm = host.kvm!;
  const maxPhysBits = probeMaxGpaBits(kvm) ?? 48;
  /** KVM_CAP_MULTI_ADDRESS_SPACE: 2 address spaces with CONFIG_KVM_SMM, 0 (one) without. */
  const hostAddressSpaces = kvm.checkExtension(KVM_CAP_MULTI_ADDRESS_SPACE);
  /**
   * KVM_CAP_GUEST_MEMFD: 1 where the kernel was built with guest_memfd and lets a default VM bind it
   * (6.18 with CONFIG_KVM_GUEST_MEMFD), 0 where it was not (the flag is then refused as unknown).
   */
  const hostGuestMemfd = kvm.checkExtension(KVM_CAP_GUEST_MEMFD) > 0;
  /** The model's core: today's kernel, with SMM and guest_memfd as this host's kernel was built. */
  const core: KvmCoreProfile = {
    ...KVM_CORE_CURRENT,
    smm: hostAddressSpaces > 1,
    guestMemfd: hostGuestMemfd,
  };
  /** The model's /dev/kvm (each sequence gets a fresh VM of it). */
  const model = openKvm({ core, maxPhysBits });
  const modelVm = (): ModelVmFd => {
    const vm = model.createVm();
    if (vm instanceof Errno) assert.fail(`model KVM_CREATE_VM: ${vm}`);
    return vm;
  };
  let real: HostVmFd | undefined;
  /** Known-mismatch instances met by the random run, "M1: model X, kernel Y" -> count. */
  const knownHits = new Map<string, number>();

  /** A real VM with no slots: the one in use if it was left clean, else a fresh one. */
  function cleanHostVm(): HostVmFd {
    if (!real) {
      const vm = kvm.createVm();
      if (vm instanceof Errno) assert.fail(`KVM_CREATE_VM: ${vm}`);
      real = vm;
    }
    return real;
  }

  /**
   * Apply `seq` to a fresh model VM and the clean real VM; the first disagreement, if any. Slots
   * left behind (the book of the calls both sides accepted) are deleted on the kernel's side, which
   * must agree it holds them, so the real VM is reused; the model's VM is closed.
   */
  function compare(
    seq: readonly RegionCall[],
    known: readonly KnownMismatch[] = KNOWN_MISMATCHES,
  ): Mismatch | undefined {
    const mvm = modelVm();
    const vm = cleanHostVm();
    const book = new SlotBook();
    let mismatch: Mismatch | undefined;
    let diverged = false;
    for (let step = 0; step < seq.length; step++) {
      const call = seq[step]!;
      const m = modelOutcome(mvm, call);
      const k = hostOutcome(vm, call);
      if (m === 'ok' && k === 'ok') book.applied(call);
      if (m !== k) {
        const kn = known.find((x) => x.matches(call, m, k));
        const verdict = kn?.matches(call, m, k);
        if (kn && verdict) {
          const key = `${kn.id}: model ${m}, kernel ${k}`;
          knownHits.set(key, (knownHits.get(key) ?? 0) + 1);
          if (verdict === 'continue') continue;
          diverged = true;
          break;
        }
        mismatch = { step, call, model: m, kernel: k };
        break;
      }
    }
    // Clean up: delete what both sides hold; the kernel must agree it held the same.
    let clean = mismatch === undefined && !diverged;
    for (const slot of book.live) if (hostOutcome(vm, deleteCall(slot)) !== 'ok') clean = false;
    mvm.close();
    if (!clean) {
      vm.close();
      real = undefined;
    }
    return mismatch;
  }

  test(`the model's max GPA is the backend's (probed: 2^${maxPhysBits})`, () => {
    // A property of the backend, not of the model: kvm_mmu_max_gfn() is MAXPHYADDR with TDP and
    // 52 bits with shadow paging (kvm_pvm). The model takes it as an option.
    assert.ok(maxPhysBits >= 36 && maxPhysBits <= 52, `max GPA bits ${maxPhysBits}`);
  });

  test(`the model's memslot address spaces are the kernel's (KVM_CAP_MULTI_ADDRESS_SPACE ${hostAddressSpaces})`, (t) => {
    // A property of the kernel's build (CONFIG_KVM_SMM), not of the model: the core profile says.
    t.diagnostic(
      `host kernel: ${hostAddressSpaces > 1 ? `${hostAddressSpaces} address spaces (SMM)` : 'one address space (no SMM)'}`,
    );
    const vm = modelVm();
    try {
      assert.equal(model.checkExtension(KVM_CAP_MULTI_ADDRESS_SPACE), hostAddressSpaces);
      assert.equal(vm.checkExtension(KVM_CAP_MULTI_ADDRESS_SPACE), hostAddressSpaces);
    } finally {
      vm.close();
    }
  });

  test('spec cases (kvm-uapi.md section 4 "Consequences") agree', () => {
    const r = (slot: number, gpa: bigint, size: bigint, hva = HVA, flags = 0): UserspaceMemoryRegion => ({
      slot,
      flags,
      guestPhysAddr: gpa,
      memorySize: size,
      userspaceAddr: hva,
    });
    const v1 = (region: UserspaceMemoryRegion): RegionCall => ({ v2: false, region });
    const cases: RegionCall[][] = [
      // overlap + bad hva -> EINVAL; move onto another slot with changed hva -> EINVAL
      [v1(r(0, 0n, 4n * P)), v1(r(1, 0n, P, HVA + 1n)), v1(r(1, 8n * P, P)), v1(r(1, 0n, P, HVA + P))],
      // READONLY slot moves keeping READONLY; toggling READONLY -> EINVAL; LOG_DIRTY toggles
      [v1(r(0, 0n, P, HVA, 2)), v1(r(0, P, P, HVA, 2)), v1(r(0, P, P, HVA, 0)), v1(r(0, P, P, HVA, 3))],
      [v1(r(0, 0n, P)), v1(r(0, 0n, P, HVA, 1)), v1(r(0, 0n, P, HVA, 1)), v1(r(0, 0n, P, HVA, 0))],
      // deleting twice; delete with flags=8 or gpa=1
      [v1(r(0, 0n, P)), v1(r(0, 0n, 0n, HVA, 8)), v1(r(0, 1n, 0n)), v1(r(0, 0n, 0n)), v1(r(0, 0n, 0n))],
      // slot limit and address spaces
      [v1(r(32763, 0n, P)), v1(r(32764, P, P)), v1(r(0x1_0000, 2n * P, P)), v1(r(32767, 3n * P, P))],
      // 2^31 pages
      [v1(r(0, 0n, 1n << 43n)), v1(r(0, 0n, (1n << 43n) - P, 1n << 40n, 8))],
    ];
    for (const seq of cases) {
      const m = compare(seq);
      assert.equal(m, undefined, m && describeMismatch(seq, m));
    }
  });

  test(`${RUNS} random call sequences return the same errno on both (seed ${hex(SEED)})`, (t) => {
    let sequences = 0;
    let calls = 0;
    const outcomes = new Map<string, number>();
    knownHits.clear(); // its diagnostic reports this run's hits only, not the spec cases'
    fc.assert(
      fc.property(sequenceArb, (seq) => {
        sequences++;
        calls += seq.length;
        const m = compare(seq);
        if (m) throw new assert.AssertionError({ message: describeMismatch(seq, m) });
      }),
      { seed: SEED, numRuns: RUNS, includeErrorInReport: true },
    );
    // The sequences exercised every outcome class (not just EINVAL on malformed input).
    fc.sample(sequenceArb, { seed: SEED, numRuns: 500 }).forEach((seq) => {
      const vm = modelVm();
      for (const c of seq) {
        const o = modelOutcome(vm, c);
        outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
      }
      vm.close();
    });
    for (const o of ['ok', 'EINVAL', 'EEXIST'] as const) {
      assert.ok((outcomes.get(o) ?? 0) > 0, `no call ended ${o}: ${JSON.stringify([...outcomes])}`);
    }
    t.diagnostic(`${sequences} sequences, ${calls} calls compared; 0 unexplained mismatches`);
    for (const [k, n] of knownHits) t.diagnostic(`known mismatch ${k}: ${n} call(s), see the todo test`);
  });

  // ---- known mismatches: the minimal sequences, compared strictly (todo until the model is fixed) ----

  const v2 = (slot: number, flags: number, gpa: bigint, fd: number): RegionCall => ({
    v2: true,
    region: {
      slot,
      flags,
      guestPhysAddr: gpa,
      memorySize: P,
      userspaceAddr: HVA,
      guestMemfdOffset: 0n,
      guestMemfd: fd,
    },
  });
  const v1create = (slot: number, gpa: bigint): RegionCall => ({
    v2: false,
    region: { slot, flags: 0, guestPhysAddr: gpa, memorySize: P, userspaceAddr: HVA },
  });
  const m1Cases: readonly (readonly RegionCall[])[] = [
    // overlap with another slot: kernel EEXIST (step 15 before the guest_memfd bind), model EINVAL
    [v1create(1, 0n), v2(0, 4, 0n, 0)],
    // a closed fd: kernel EBADF (kvm_gmem_bind), model EINVAL
    [v2(0, 4, 0n, 4095)],
    // a delete carrying the flag: kernel ok (deleted), model EINVAL (slot kept)
    [v1create(2, 0n), { v2: true, region: { ...v2(2, 4, 0n, 0).region, memorySize: 0n } }],
    // agrees already: fd 0 is not a guest_memfd (EINVAL on both), LOG_DIRTY_PAGES with GUEST_MEMFD
    [v2(0, 4, 0n, 0), v2(0, 5, 0n, 0)],
  ];
  test(`${M1_GUEST_MEMFD.id} (fixed): ${M1_GUEST_MEMFD.title}`, () => {
    const found = m1Cases
      .map((seq) => [seq, compare(seq, [])] as const)
      .filter(([, m]) => m !== undefined)
      .map(([seq, m]) => describeMismatch(seq, m!));
    assert.deepEqual(found, []);
  });

  after(() => {
    real?.close();
    model.close();
  });
});
