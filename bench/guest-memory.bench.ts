/**
 * kvm_read_guest / kvm_write_guest throughput (memslot → hva → host address space → chunk store)
 * for 4 KiB and 64 KiB copies, against the same copy between two plain buffers. Ratio = how much of
 * a bare copy's speed survives the model's bookkeeping.
 */
import { HostAddressSpace } from '../src/host/address-space.js';
import { openKvm } from '../src/kvm/index.js';
import { isErrno } from '../src/uapi/errno.js';
import { type BenchRow, type Prepared, pageOffsetViews, pickMedianVariant } from './harness.js';

/**
 * Bytes of guest memory the copies cycle through (page aligned offsets, one copy size apart). Small
 * enough to stay in the CPU caches, so the rows compare bookkeeping rather than DRAM bandwidth, and the
 * baseline cycles through a buffer of the same size with the same offsets.
 */
const REGION = 1 << 20;
const GPA = 0x1_0000_0000;
const HVA = 0x7f00_0000_0000;

/** Page offsets tried for the guest-side buffer. */
const ALIGNMENTS = 8;

type Direction = 'read' | 'write';

function setup(dir: Direction, size: number): Prepared {
  const host = new HostAddressSpace();
  const vmFd = openKvm({ host }).createVm();
  if (isErrno(vmFd)) throw new Error(String(vmFd));
  host.mapAnonymous(HVA, REGION);
  vmFd.setUserMemoryRegion({
    slot: 0,
    flags: 0,
    guestPhysAddr: BigInt(GPA),
    memorySize: BigInt(REGION),
    userspaceAddr: BigInt(HVA),
  });
  // KVM-internal: kvm_read_guest / kvm_write_guest are what this row measures.
  const vm = vmFd.vm;
  // Pre-touch: every chunk of the region allocated and non-zero, as a running guest's RAM would be.
  const fault = vm.writeGuest(GPA, new Uint8Array(REGION).fill(0xa5));
  if (fault) throw new Error(`pre-touch failed: ${fault.cause} at ${fault.gpa}`);

  const plain = new Uint8Array(REGION).fill(0xa5);
  // Guest-side buffers at several page offsets: see pickMedianVariant (each closure picks its own).
  const bufs = pageOffsetViews(size, ALIGNMENTS, 0x5a);
  let buf = bufs[0]!;
  let bufBase = buf;
  const steps = REGION / size;
  let at = 0;
  let atBase = 0;
  const prepared: Prepared =
    dir === 'read'
      ? {
          run(n) {
            let acc = 0;
            for (let k = 0; k < n; k++) {
              const f = vm.readGuest(GPA + at * size, buf);
              at = at + 1 === steps ? 0 : at + 1;
              acc += f === undefined ? buf[k & 63]! : -1;
            }
            return acc;
          },
          baseline(n) {
            let acc = 0;
            for (let k = 0; k < n; k++) {
              const off = atBase * size;
              bufBase.set(plain.subarray(off, off + size));
              atBase = atBase + 1 === steps ? 0 : atBase + 1;
              acc += bufBase[k & 63]!;
            }
            return acc;
          },
        }
      : {
          run(n) {
            let acc = 0;
            for (let k = 0; k < n; k++) {
              buf[k & 63] = k;
              const f = vm.writeGuest(GPA + at * size, buf);
              at = at + 1 === steps ? 0 : at + 1;
              acc += f === undefined ? 1 : -1;
            }
            return acc;
          },
          baseline(n) {
            let acc = 0;
            for (let k = 0; k < n; k++) {
              bufBase[k & 63] = k;
              plain.set(bufBase, atBase * size);
              atBase = atBase + 1 === steps ? 0 : atBase + 1;
              acc += 1;
            }
            return acc;
          },
        };
  // ~16 MiB per probe: a few hundred microseconds to a millisecond.
  const probe = Math.max(steps, (16 * REGION) / size);
  pickMedianVariant(prepared.run, ALIGNMENTS, (i) => (buf = bufs[i]!), probe);
  pickMedianVariant(prepared.baseline!, ALIGNMENTS, (i) => (bufBase = bufs[i]!), probe);
  return prepared;
}

/** readGuest / writeGuest in MB/s (10^6 bytes), baseline a plain Uint8Array.prototype.set copy. */
export const rows: readonly BenchRow[] = (['read', 'write'] as const).flatMap((dir) =>
  [4096, 65536].map((size) => ({
    name: `${dir}Guest ${size / 1024} KiB`,
    unit: 'MB/s',
    perOp: size / 1e6,
    target: { ratio: 0.5 },
    setup: () => setup(dir, size),
  })),
);
