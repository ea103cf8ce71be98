/**
 * The reference boot for issue 15's proof: the same OVMF.fd under QEMU's TCG on the same `pc`
 * machine (i440FX, 128 MiB, COM1, debugcon at 0x402, the image split into pflash code and a copy
 * of its variable store as src/vmm/ovmf-machine.ts splits it) — without SEV, which TCG cannot do.
 *
 * QEMU runs until its serial console shows `until` (default: the UEFI shell's prompt) or for
 * `timeoutMs`, is then killed, and the serial and debug console text are returned. The serial
 * console goes to a file that is polled, so a caller that blocks the event loop meanwhile (a
 * synchronous sevbox boot) cannot make a prompt that was printed look like a timeout.
 *
 * Determinism: the RTC starts at a fixed date on the VM clock. `-icount` is left off: with
 * shift=0 TCG ran about seven times slower here and the console text is the same without it (the
 * firmware prints nothing that depends on timing but the startup.nsh countdown, whose text is fixed).
 */
import { spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ovmfVarsSize } from '../../src/vmm/ovmf-machine.js';

/** The binary: SEVBOX_QEMU, else qemu-system-x86_64 on PATH. */
export const QEMU_BINARY = process.env['SEVBOX_QEMU'] || 'qemu-system-x86_64';

/** The UEFI shell's prompt: QEMU's boot is over (nothing bootable, the built-in shell waits). */
export const SHELL_PROMPT = /Shell> /;

/** The full path of QEMU_BINARY if it is an executable (on PATH unless it has a slash), else undefined. */
export function findQemu(binary = QEMU_BINARY): string | undefined {
  const candidates = binary.includes('/')
    ? [binary]
    : (process.env['PATH'] ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, binary));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {}
  }
  return undefined;
}

export interface QemuReferenceOptions {
  /** The firmware image (OVMF.fd: variable store and code; or a code-only image). */
  readonly firmware: Uint8Array;
  /** The QEMU binary (default: findQemu()). */
  readonly qemu?: string;
  /** Stop once the serial console matches this (default: the shell prompt). */
  readonly until?: RegExp;
  /** Kill QEMU after this long regardless (default 90 s). */
  readonly timeoutMs?: number;
  readonly ramMib?: number;
  /** -cpu (default qemu64: TCG implements all of it; EPYC works too, with warnings for what TCG lacks). */
  readonly cpu?: string;
}

export interface QemuReferenceResult {
  /** The command line, with the temporary files it names. */
  readonly argv: readonly string[];
  /** Whether the serial console matched `until` before the timeout. */
  readonly reached: boolean;
  /**
   * Wall time from spawn to the serial console's last write when `until` was seen (its file's
   * mtime: right even if the caller blocked the event loop meanwhile), or to the timeout.
   */
  readonly ms: number;
  /** The serial console's raw bytes as text (escape sequences included). */
  readonly serial: string;
  readonly debugcon: string;
  readonly stderr: string;
  /** How QEMU ended if it ended on its own before it was killed (an error, a -no-reboot reset). */
  readonly exited?: { readonly code: number | null; readonly signal: NodeJS.Signals | null };
}

/** QEMU's arguments for the reference machine. */
export function qemuReferenceArgs(f: {
  readonly code: string;
  readonly vars: string | undefined;
  readonly serial: string;
  readonly debugcon: string;
  readonly ramMib?: number;
  readonly cpu?: string;
}): string[] {
  return [
    ...['-machine', 'pc,accel=tcg', '-m', String(f.ramMib ?? 128), '-cpu', f.cpu ?? 'qemu64'],
    ...['-nographic', '-nodefaults', '-monitor', 'none', '-no-reboot'],
    ...['-rtc', 'base=2026-01-01T00:00:00,clock=vm'],
    ...['-serial', `file:${f.serial}`],
    ...['-debugcon', `file:${f.debugcon}`, '-global', 'isa-debugcon.iobase=0x402'],
    ...['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${f.code}`],
    ...(f.vars ? ['-drive', `if=pflash,format=raw,unit=1,file=${f.vars}`] : []),
  ];
}

const readText = (path: string): string => (existsSync(path) ? readFileSync(path, 'latin1') : '');

/** Boot `opts.firmware` under QEMU TCG; rejects only if QEMU cannot be started. */
export async function bootQemuReference(opts: QemuReferenceOptions): Promise<QemuReferenceResult> {
  const qemu = opts.qemu ?? findQemu();
  if (!qemu) throw new Error(`${QEMU_BINARY} is not on PATH`);
  const until = opts.until ?? SHELL_PROMPT;
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const dir = mkdtempSync(join(tmpdir(), 'sevbox-qemu-'));
  try {
    const flash = opts.firmware;
    const varsSize = ovmfVarsSize(flash);
    const files = {
      code: join(dir, 'OVMF_CODE.fd'),
      vars: varsSize ? join(dir, 'OVMF_VARS.fd') : undefined,
      serial: join(dir, 'serial.txt'),
      debugcon: join(dir, 'debugcon.txt'),
    };
    writeFileSync(files.code, flash.subarray(varsSize));
    if (files.vars) writeFileSync(files.vars, flash.subarray(0, varsSize));
    const args = qemuReferenceArgs({ ...files, ramMib: opts.ramMib, cpu: opts.cpu });
    const t0 = performance.now();
    const spawnedAt = Date.now();
    const child = spawn(qemu, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    let exited: QemuReferenceResult['exited'];
    const ended = new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        exited = { code, signal };
        resolve();
      });
    });
    const outcome = await new Promise<{ reached: boolean; ms: number }>((resolve, reject) => {
      const finish = (reached: boolean): void => {
        clearInterval(poll);
        const written = reached ? statSync(files.serial).mtimeMs - spawnedAt : undefined;
        resolve({ reached, ms: written ?? performance.now() - t0 });
      };
      const poll = setInterval(() => {
        if (until.test(readText(files.serial))) finish(true);
        else if (exited || performance.now() - t0 > timeoutMs) finish(until.test(readText(files.serial)));
      }, 100);
      ended.catch((e: unknown) => {
        clearInterval(poll);
        reject(e);
      });
    });
    const exitedOnItsOwn = exited;
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await ended;
      clearTimeout(killer);
    }
    return {
      argv: [qemu, ...args],
      ...outcome,
      serial: readText(files.serial),
      debugcon: readText(files.debugcon),
      stderr,
      ...(exitedOnItsOwn ? { exited: exitedOnItsOwn } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A console's text without terminal control: a cursor move (CSI … H / f) becomes a line break (the
 * UEFI console rewrites a row by moving to it, as the startup.nsh countdown does), every other
 * escape sequence (SGR colours, erase, ESC[=3h mode set) is dropped.
 */
export function stripTerminal(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC is what this removes
      .replace(/\x1b\[[0-9;?=]*([@-~])/g, (_s, final: string) => (final === 'H' || final === 'f' ? '\n' : ''))
      // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC is what this removes
      .replace(/\x1b[()][0-9A-Za-z]|\x1b[@-Z\\-_]/g, '')
  );
}

/** A console's non-blank lines, control sequences stripped and trailing blanks trimmed. */
export function consoleLines(text: string): string[] {
  return stripTerminal(text)
    .split(/\r\n|\r|\n/)
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
}

/** A console line one side may print and the other not, and why. */
export interface LineRule {
  readonly pattern: RegExp;
  readonly reason: string;
}

export interface ConsoleComparison {
  /** sevbox's lines found in QEMU's, in order. */
  readonly matched: number;
  /** sevbox's lines that are not in QEMU's output but are allowed, with the rule's reason. */
  readonly sevboxOnly: readonly { readonly line: string; readonly reason: string }[];
  /** QEMU's lines, up to sevbox's last matched one, that sevbox did not print but is allowed not to. */
  readonly qemuOnly: readonly { readonly line: string; readonly reason: string }[];
  /** sevbox's lines not in QEMU's output (in order) and not allowed: each a divergence. */
  readonly missingInQemu: readonly string[];
  /** QEMU's lines, up to sevbox's last matched one, that sevbox skipped and is not allowed to. */
  readonly missingInSevbox: readonly string[];
}

/**
 * Walk sevbox's lines against QEMU's: each must be the next of QEMU's lines still to come (a
 * subsequence, in order), or be allowed as sevbox-only; QEMU's lines that sevbox passes over must be
 * allowed as QEMU-only. QEMU's lines after sevbox's last one are not compared: sevbox stopped there.
 * With `partialLast` sevbox's last line may be the start of QEMU's (it stopped mid-line).
 */
export function compareConsoles(
  sevbox: readonly string[],
  qemu: readonly string[],
  allow: { readonly sevboxOnly: readonly LineRule[]; readonly qemuOnly: readonly LineRule[] },
  partialLast = false,
): ConsoleComparison {
  const rule = (rules: readonly LineRule[], line: string) => rules.find((r) => r.pattern.test(line));
  const out = {
    matched: 0,
    sevboxOnly: [] as { line: string; reason: string }[],
    qemuOnly: [] as { line: string; reason: string }[],
    missingInQemu: [] as string[],
    missingInSevbox: [] as string[],
  };
  let cursor = 0;
  sevbox.forEach((line, i) => {
    const last = partialLast && i === sevbox.length - 1;
    let j = cursor;
    while (j < qemu.length && !(qemu[j] === line || (last && qemu[j]!.startsWith(line)))) j++;
    if (j < qemu.length) {
      for (const skipped of qemu.slice(cursor, j)) {
        const r = rule(allow.qemuOnly, skipped);
        if (r) out.qemuOnly.push({ line: skipped, reason: r.reason });
        else out.missingInSevbox.push(skipped);
      }
      cursor = j + 1;
      out.matched++;
      return;
    }
    const r = rule(allow.sevboxOnly, line);
    if (r) out.sevboxOnly.push({ line, reason: r.reason });
    else out.missingInQemu.push(line);
  });
  return out;
}
