import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TraceEvent } from './events.js';
import { traceEventFromJson, traceEventToJson } from './format.js';

describe('trace events as JSON lines', () => {
  it('round-trips every bigint field through "0x…" strings', () => {
    const events: TraceEvent[] = [
      {
        name: 'kvm_vmgexit_enter',
        vcpu: 1,
        exitCode: 0x8000_0001n,
        info1: 0xfed0_0000n,
        info2: 8n,
        ghcbGpa: 0x2000,
      },
      { name: 'kvm_vmgexit_msr_protocol_enter', vcpu: 0, ghcbGpa: 0xffff_ffff_ffff_f004n },
      { name: 'sevbox_scratch', vcpu: 0, gpa: 0xffff_ffff_ffff_f000n, len: 16, outcome: 'invalid' },
      { name: 'kvm_userspace_exit', vcpu: 0, reason: 6, errno: 14 },
      // A canonical high RIP needs all 64 bits.
      { name: 'sevbox_debug_vc', vcpu: 0, errorCode: 0x72, rip: 0xffff_ffff_8100_20fbn },
    ];
    for (const e of events) assert.deepEqual(traceEventFromJson(traceEventToJson(e)), e);
  });

  it('says why a line is not an event', () => {
    assert.match(String(traceEventFromJson('{')), /^not JSON/);
    assert.match(String(traceEventFromJson('[1]')), /not a JSON object/);
    assert.match(String(traceEventFromJson('{"name":"kvm_nope","vcpu":0}')), /unknown event "kvm_nope"/);
    assert.match(
      String(traceEventFromJson('{"name":"sevbox_scratch","vcpu":0,"gpa":12,"len":1,"outcome":"ghcb"}')),
      /sevbox_scratch.gpa: expected a "0x…" number/,
    );
  });
});
