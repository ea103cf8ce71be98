/**
 * The exception handlers the SSE and XSAVE suites' long-mode guests install, and the assertion
 * that reads their report: #UD (6) and #NM (7) write their vector to port 0x80, #GP (13) its
 * vector and then (port 0x81) its error code, each then HLTs.
 */
import assert from 'node:assert/strict';
import type { ModelVcpuFd } from '../../src/kvm/index.js';
import { expectExit } from '../../src/kvm/test-util.js';
import { gate64 } from './guest-bytes.js';

/** The handlers at 0x1800, 0x1810 and 0x1820 and their gates in the IDT at `idt`, as (gpa, bytes) writes. */
export function faultReporters(idt: number): [number, number[]][] {
  return [
    [idt + 6 * 16, gate64(0x1800)],
    [idt + 7 * 16, gate64(0x1810)],
    [idt + 13 * 16, gate64(0x1820)],
    [0x1800, [0xb0, 6, 0xe6, 0x80, 0xf4]], // mov al, 6; out 0x80, al; hlt
    [0x1810, [0xb0, 7, 0xe6, 0x80, 0xf4]],
    [0x1820, [0xb0, 13, 0xe6, 0x80, 0x58, 0xe6, 0x81, 0xf4]], // …; pop rax; out 0x81, al; hlt
  ];
}

/** A vector delivered to the guest's handler (and the #GP error code). */
export function expectException(vcpuFd: ModelVcpuFd, vector: number, errorCode?: number): void {
  assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [vector], `vector ${vector}`);
  if (errorCode !== undefined) assert.deepEqual([...expectExit(vcpuFd, 'IoOut').data], [errorCode]);
  expectExit(vcpuFd, 'Hlt');
}
