/**
 * MMIO and string I/O through the GHCB (shared/spec/vmgexit.md section 3): MMIO fragments of 8
 * bytes, where the answered data lands, the prefix/seed MMIO direction quirk, string I/O chunked
 * through the one-page PIO area, and the size-0 string I/O that crashes the v5.17 host.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Errno } from '../../src/uapi/errno.js';
import { KVM_EXIT_IO, KVM_EXIT_MMIO } from '../../src/uapi/exit-reasons.js';
import {
  assertGuestSaw,
  assertOutcome,
  drive,
  exitsOf,
  finish,
  handled,
  hostRead,
  ioInByte,
  leakGuard,
  type Machine,
  MMIO_GPA,
  mmioBytes,
  oops,
  PORT,
  PROFILES,
  RAM_HVA,
  type RunRecord,
  rawStringIo,
  runFails,
  SCRATCH_GPA,
  SHARED_GPA,
  sevMachine,
  userspace,
} from './kit.js';

leakGuard();

const bytes = (n: number, from = 1) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
const mmioExits = (r: { runs: RunRecord[] }) =>
  r.runs.filter((x): x is Extract<RunRecord, { exit: string }> => 'exit' in x && x.exit.startsWith('Mmio'));

describe('MMIO: N bytes cost ceil(N/8) KVM_EXIT_MMIO exits', () => {
  const sizes = [1, 7, 8, 9, 16, 20, 64];
  for (const profile of PROFILES) {
    for (const where of ['in the GHCB', 'outside the GHCB (bounce buffer)'] as const) {
      for (const n of sizes) {
        it(`[${profile}] read of ${n} bytes, scratch ${where}`, () => {
          const scratch = where === 'in the GHCB' ? undefined : { gpa: BigInt(SCRATCH_GPA) };
          const m = sevMachine({ profile, guest: (c) => c.mmioRead(MMIO_GPA + 0x10, n, scratch) });
          const r = drive(m);
          const frags = Math.ceil(n / 8);
          assertOutcome(r, userspace(...Array(frags).fill(KVM_EXIT_MMIO)));
          assert.deepEqual(
            mmioExits(r),
            Array.from({ length: frags }, (_, k) => ({
              exit: 'MmioRead',
              reason: KVM_EXIT_MMIO,
              addr: MMIO_GPA + 0x10 + 8 * k,
              len: Math.min(8, n - 8 * k),
            })),
          );
          assertGuestSaw(r.guest!.result, { ok: true, info2: 0n });
          assert.deepEqual(
            [...r.guest!.data],
            mmioBytes(MMIO_GPA + 0x10, n),
            'every fragment landed in order',
          );
          finish(m as Machine<unknown>);
        });
      }
    }
    it(`[${profile}] read of the whole shared buffer (2032 bytes): 254 exits`, () => {
      const m = sevMachine({ profile, guest: (c) => c.mmioRead(MMIO_GPA, 2032) });
      const r = drive(m, { maxRuns: 300 });
      assert.deepEqual(
        mmioExits(r),
        Array.from({ length: 254 }, (_, k) => ({
          exit: 'MmioRead',
          reason: KVM_EXIT_MMIO,
          addr: MMIO_GPA + 8 * k,
          len: 8,
        })),
        '254 reads of 8 bytes, in order',
      );
      assert.deepEqual([...r.guest!.data], mmioBytes(MMIO_GPA, 2032));
      finish(m as Machine<unknown>);
    });
    it(`[${profile}] bounce buffer: the data reaches guest memory only when the guest is entered again`, () => {
      let seenWhileOut: number[] | undefined;
      const m = sevMachine({
        profile,
        host: (host) => host.write(RAM_HVA + SCRATCH_GPA, new Uint8Array(16).fill(0xcc)),
        guest: (c) => c.mmioRead(MMIO_GPA, 16, { gpa: BigInt(SCRATCH_GPA) }),
      });
      const r = drive(m, {
        onExit: (exit, mm, run) => {
          if (exit.kind === 'MmioRead' && run === 1) seenWhileOut = [...hostRead(mm, SCRATCH_GPA, 16)];
          return undefined;
        },
      });
      assert.deepEqual(seenWhileOut, Array(16).fill(0xcc), 'still the old bytes at the last fragment exit');
      assert.deepEqual([...r.guest!.data], mmioBytes(MMIO_GPA, 16));
      assert.deepEqual([...hostRead(m as Machine<unknown>, SCRATCH_GPA, 16)], mmioBytes(MMIO_GPA, 16));
      finish(m as Machine<unknown>);
    });
  }
});

describe('MMIO direction quirk (vcpu->mmio_is_write never set on the SEV-ES path before the rework)', () => {
  for (const profile of PROFILES) {
    const quirk = profile !== 'current';
    it(`[${profile}] 16-byte write in the GHCB: ${quirk ? 'second exit is a read and the scratch bytes are overwritten by run->mmio.data' : 'two writes carrying the right bytes, scratch untouched'}`, () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          const result = yield* c.mmioWrite(MMIO_GPA, bytes(16));
          return { result, scratch: [...(yield* c.readRaw(0x800, 16))] };
        },
      });
      const r = drive(m, {
        // A VMM that scribbles over the data of a write exit: only the quirk copies it back.
        onExit: (exit) => {
          if (exit.kind === 'MmioWrite') exit.data.fill(0xee);
          return undefined;
        },
      });
      assertOutcome(r, userspace(KVM_EXIT_MMIO, KVM_EXIT_MMIO));
      const write1 = {
        exit: 'MmioWrite',
        reason: KVM_EXIT_MMIO,
        addr: MMIO_GPA,
        len: 8,
        data: [...bytes(8)],
      };
      if (quirk) {
        assert.deepEqual(mmioExits(r), [
          write1,
          { exit: 'MmioRead', reason: KVM_EXIT_MMIO, addr: MMIO_GPA + 8, len: 8 },
        ]);
        assert.deepEqual(r.guest!.scratch, [...Array(8).fill(0xee), ...mmioBytes(MMIO_GPA + 8, 8)]);
      } else {
        assert.deepEqual(mmioExits(r), [
          write1,
          { exit: 'MmioWrite', reason: KVM_EXIT_MMIO, addr: MMIO_GPA + 8, len: 8, data: [...bytes(8, 9)] },
        ]);
        assert.deepEqual(r.guest!.scratch, [...bytes(16)]);
      }
      assertGuestSaw(r.guest!.result, { ok: true });
      finish(m as Machine<unknown>);
    });
    it(`[${profile}] 4-byte write in the GHCB: ${quirk ? 'completion copies run->mmio.data back over the scratch' : 'scratch untouched'}`, () => {
      const m = sevMachine({
        profile,
        guest: function* (c) {
          yield* c.mmioWrite(MMIO_GPA, bytes(4));
          return [...(yield* c.readRaw(0x800, 4))];
        },
      });
      const r = drive(m, {
        onExit: (exit) => {
          if (exit.kind === 'MmioWrite') exit.data.fill(0xee);
          return undefined;
        },
      });
      assert.deepEqual(r.guest, quirk ? [0xee, 0xee, 0xee, 0xee] : [1, 2, 3, 4]);
      finish(m as Machine<unknown>);
    });
    it(`[${profile}] 16-byte write with a bounce buffer: never written back (sync = false), guest memory unchanged`, () => {
      const m = sevMachine({
        profile,
        guest: (c) => c.mmioWrite(MMIO_GPA, bytes(16), { gpa: BigInt(SCRATCH_GPA) }),
      });
      const r = drive(m, {
        onExit: (exit) => {
          if (exit.kind === 'MmioWrite') exit.data.fill(0xee);
          return undefined;
        },
      });
      assert.deepEqual(
        mmioExits(r).map((x) => x.exit),
        quirk ? ['MmioWrite', 'MmioRead'] : ['MmioWrite', 'MmioWrite'],
      );
      assert.deepEqual([...hostRead(m as Machine<unknown>, SCRATCH_GPA, 16)], [...bytes(16)]);
      finish(m as Machine<unknown>);
    });
  }
});

describe('string I/O: chunks of 4096/size elements through KVM_EXIT_IO', () => {
  const cases: [1 | 2 | 4, number, number[]][] = [
    [1, 5000, [4096, 904]],
    [2, 3000, [2048, 952]],
    [4, 1500, [1024, 476]],
  ];
  for (const profile of PROFILES) {
    for (const [size, count, chunks] of cases) {
      it(`[${profile}] OUTS of ${count} ${size}-byte elements: exits of ${chunks.join(' then ')}, data in order`, () => {
        const data = Uint8Array.from({ length: count * size }, (_, i) => (i * 7) & 0xff);
        const m = sevMachine({
          profile,
          guest: (c) => c.ioOutString(PORT, size, data, { gpa: BigInt(SCRATCH_GPA) }),
        });
        const r = drive(m);
        assertOutcome(r, userspace(...chunks.map(() => KVM_EXIT_IO)));
        const outs = exitsOf(r).filter((x) => 'exit' in x && x.exit === 'IoOut') as Extract<
          RunRecord,
          { exit: string }
        >[];
        assert.deepEqual(
          outs.map((x) => [x.port, x.size, x.count]),
          chunks.map((n) => [PORT, size, n]),
        );
        assert.deepEqual(
          outs.flatMap((x) => x.data!),
          [...data],
        );
        assertGuestSaw(r.guest, { ok: true, info2: 0n });
        finish(m as Machine<unknown>);
      });
      it(`[${profile}] INS of ${count} ${size}-byte elements: exits of ${chunks.join(' then ')}, data written back`, () => {
        const m = sevMachine({
          profile,
          guest: (c) => c.ioInString(PORT, size, count, { gpa: BigInt(SCRATCH_GPA) }),
        });
        const r = drive(m);
        assertOutcome(r, userspace(...chunks.map(() => KVM_EXIT_IO)));
        assert.deepEqual(
          exitsOf(r)
            .filter((x) => 'exit' in x && x.exit === 'IoIn')
            .map((x) => 'count' in x && x.count),
          chunks,
        );
        const want = Array.from({ length: count * size }, (_, i) => ioInByte(i));
        assert.deepEqual([...r.guest!.data], want);
        assert.deepEqual([...hostRead(m as Machine<unknown>, SCRATCH_GPA, count * size)], want);
        finish(m as Machine<unknown>);
      });
    }
    it(`[${profile}] OUTS of 2032 bytes in the GHCB shared buffer: one exit`, () => {
      const data = bytes(2032);
      const m = sevMachine({ profile, guest: (c) => c.ioOutString(PORT, 1, data) });
      const r = drive(m);
      assertOutcome(r, userspace(KVM_EXIT_IO));
      assert.deepEqual((exitsOf(r)[0] as { data?: readonly number[] }).data, [...data]);
      finish(m as Machine<unknown>);
    });
    it(`[${profile}] INS of 508 dwords in the GHCB shared buffer: one exit, data in the GHCB`, () => {
      const m = sevMachine({ profile, guest: (c) => c.ioInString(PORT, 4, 508) });
      const r = drive(m);
      assertOutcome(r, userspace(KVM_EXIT_IO));
      assert.deepEqual(
        [...r.guest!.data],
        Array.from({ length: 2032 }, (_, i) => ioInByte(i)),
      );
      finish(m as Machine<unknown>);
    });
  }
});

describe('string I/O with size field 0', () => {
  for (const profile of ['prefix', 'seed'] as const) {
    it(`[${profile}] OUTS size 0: division by zero in the host (an oops); the VM is dead, next KVM_RUN EIO`, () => {
      const m = sevMachine({ profile, guest: (c) => rawStringIo(c, 'out', 0, 4, SHARED_GPA) });
      const r = drive(m);
      assertOutcome(r, oops());
      assert.equal(r.runs.length, 1);
      assert.match(('oops' in r.runs[0]! && r.runs[0].oops) || '', /divide error in kvm_sev_es_outs/);
      assert.equal(r.guestReturned, false, 'the guest never sees a result');
      assert.equal('errno' in r.runs[0]! && r.runs[0].errno, 'EIO');
      const again = runFails(m.vcpu, 'EIO');
      assert.equal(again.oops, undefined, 'a dead VM fails at once; nothing crashes again');
      assert.equal((m.vm.createVcpu(1) as Errno).errno, 'EIO');
      finish(m as Machine<unknown>);
    });
  }
  it('[current] OUTS size 0: a quiet resume; the guest carries on and its next request works', () => {
    const m = sevMachine({
      profile: 'current',
      guest: function* (c) {
        const zero = yield* rawStringIo(c, 'out', 0, 4, SHARED_GPA);
        const next = yield* c.ioOut(PORT, 1, 0x41);
        return { zero, next };
      },
    });
    const r = drive(m);
    assertGuestSaw(r.guest!.zero, { ok: true, info2: 0n });
    assertGuestSaw(r.guest!.next, { ok: true });
    assert.deepEqual(
      r.outcomes.map((o) => o.outcome),
      [handled(), userspace(KVM_EXIT_IO)],
    );
    finish(m as Machine<unknown>);
  });
});
