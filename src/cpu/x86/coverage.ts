/**
 * Static instruction coverage: decode machine code (a linear sweep with iced-x86) and count, per
 * mnemonic, the instructions the interpreter has a handler for and those it would raise #UD on.
 * What a firmware or a compiler's output needs, measured before it runs.
 */
import iced from 'iced-x86';
import { ALU_AMD } from './alu.js';
import { buildRecord } from './decode.js';
import { execUnimplemented } from './ops/unimplemented.js';

const { Decoder, DecoderOptions, Instruction } = iced;

/** Counts per mnemonic. */
export interface CoverageCounts {
  /** Instructions decoded. */
  total: number;
  /** Of those, the interpreter executes. */
  implemented: number;
  /** Bytes that decode to no instruction (data between functions, padding). */
  invalid: number;
  /** Unimplemented instructions by mnemonic. */
  readonly missing: Map<string, number>;
  /** Implemented instructions by mnemonic. */
  readonly covered: Map<string, number>;
}

export function emptyCoverage(): CoverageCounts {
  return { total: 0, implemented: 0, invalid: 0, missing: new Map(), covered: new Map() };
}

/** Add the instructions of `code` (decoded as `bitness`-bit code) to `into`. */
export function addCoverage(into: CoverageCounts, code: Uint8Array, bitness: 16 | 32 | 64): CoverageCounts {
  const decoder = new Decoder(bitness, code, DecoderOptions.None);
  const ins = new Instruction();
  try {
    decoder.ip = 0n;
    while (decoder.canDecode) {
      decoder.decodeOut(ins);
      if (ins.isInvalid) {
        into.invalid++;
        continue;
      }
      // Any vendor's ALU: only whether there is a handler counts.
      const rec = buildRecord(ins, bitness, ALU_AMD);
      into.total++;
      const map = rec.exec === execUnimplemented ? into.missing : into.covered;
      if (rec.exec !== execUnimplemented) into.implemented++;
      map.set(rec.name, (map.get(rec.name) ?? 0) + 1);
    }
  } finally {
    ins.free();
    decoder.free();
  }
  return into;
}

/** A report: the share implemented and the most frequent missing mnemonics. */
export function formatCoverage(c: CoverageCounts, top = 20): string[] {
  const pct = c.total ? ((100 * c.implemented) / c.total).toFixed(1) : '0.0';
  const lines = [
    `${c.total} instructions, ${c.implemented} implemented (${pct}%), ${c.total - c.implemented} would be #UD; ${c.invalid} undecodable bytes skipped`,
  ];
  const missing = [...c.missing].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (missing.length) lines.push(`missing mnemonics (${missing.length}), most frequent first:`);
  for (const [name, n] of missing.slice(0, top)) lines.push(`  ${name.padEnd(16)} ${n}`);
  if (missing.length > top) lines.push(`  … ${missing.length - top} more`);
  return lines;
}
