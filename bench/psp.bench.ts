/**
 * The memory-encryption engine (src/psp/xts-engine.ts): 4 KiB pages encrypted and decrypted per
 * second under a guest key with their physical address as the tweak, against copying the same page
 * between two buffers in the same run. The ratio is what encryption costs where the model moves a
 * page between its plaintext and ciphertext views (LAUNCH_UPDATE_DATA, DBG, and the CPU's shadow
 * pages to come); per-byte work never happens.
 */
import { XtsEngine } from '../src/psp/xts-engine.js';
import type { BenchRow, Prepared } from './harness.js';

const PAGE = 4096;
/** Pages the rows cycle through (a different physical address each time, as in a guest's RAM). */
const PAGES = 64;
const VEK = Uint8Array.from({ length: 16 }, (_, i) => 0x5a ^ i);

function setup(direction: 'encrypt' | 'decrypt'): Prepared {
  const engine = new XtsEngine();
  const mem = new Uint8Array(PAGES * PAGE).fill(0xa5);
  const other = new Uint8Array(PAGES * PAGE);
  const pages = Array.from({ length: PAGES }, (_, i) => mem.subarray(i * PAGE, (i + 1) * PAGE));
  const copies = Array.from({ length: PAGES }, (_, i) => other.subarray(i * PAGE, (i + 1) * PAGE));
  return {
    run(n) {
      for (let k = 0; k < n; k++) {
        const i = k % PAGES;
        engine[direction](VEK, { spa: 0x10_0000 + i * PAGE, bytes: pages[i]! });
      }
      return mem[0]!;
    },
    baseline(n) {
      for (let k = 0; k < n; k++) {
        const i = k % PAGES;
        copies[i]!.set(pages[i]!);
      }
      return other[0]!;
    },
  };
}

export const rows: readonly BenchRow[] = [
  {
    name: 'memory encryption: encrypt a 4 KiB page (baseline: copy it)',
    unit: 'pages/s',
    setup: () => setup('encrypt'),
  },
  {
    name: 'memory encryption: decrypt a 4 KiB page (baseline: copy it)',
    unit: 'pages/s',
    setup: () => setup('decrypt'),
  },
];
