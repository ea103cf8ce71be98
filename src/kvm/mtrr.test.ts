/**
 * The MTRR MSRs as KVM_GET_MSRS/KVM_SET_MSRS (and a guest's RDMSR/WRMSR) reach them
 * (arch/x86/kvm/mtrr.c): MTRRcap is 0x508 and read-only; kvm_mtrr_valid's checks on the rest.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MSR_MTRRcap, MSR_MTRRdefType, MSR_MTRRphysBase0, MTRRCAP_VALUE } from './mtrr.js';
import { newVm, ok } from './test-util.js';

function vcpu() {
  const { vmFd } = newVm({ maxPhysBits: 48 });
  return ok(vmFd.createVcpu(0));
}
const set = (v: ReturnType<typeof vcpu>, index: number, data: bigint): number =>
  ok(v.setMsrs([{ index, data }]));
const get = (v: ReturnType<typeof vcpu>, index: number): bigint => ok(v.getMsrs([index]))[0]!.data;

describe('MTRRs (kvm_mtrr_get_msr, kvm_mtrr_set_msr)', () => {
  it('MTRRcap: fixed ranges, write-combining, 8 variable ranges; a write is refused', () => {
    const v = vcpu();
    assert.equal(get(v, MSR_MTRRcap), 0x508n);
    assert.equal(MTRRCAP_VALUE, 0x508n);
    assert.equal(set(v, MSR_MTRRcap, 0n), 0, 'KVM_SET_MSRS stops at the refused entry');
  });

  it('MTRRdefType: type and the FE/E bits only, a valid type', () => {
    const v = vcpu();
    assert.equal(get(v, MSR_MTRRdefType), 0n, 'zero at creation');
    assert.equal(set(v, MSR_MTRRdefType, 0xc06n), 1);
    assert.equal(get(v, MSR_MTRRdefType), 0xc06n);
    assert.equal(set(v, MSR_MTRRdefType, 0x1006n), 0, 'a reserved bit');
    assert.equal(set(v, MSR_MTRRdefType, 0x2n), 0, 'type 2 is reserved');
    assert.equal(get(v, MSR_MTRRdefType), 0xc06n, 'unchanged');
  });

  it('fixed ranges: every byte a valid type', () => {
    const v = vcpu();
    assert.equal(set(v, 0x250, 0x0606_0606_0606_0606n), 1);
    assert.equal(set(v, 0x26f, 0x0605_0404_0101_0000n), 1);
    assert.equal(set(v, 0x258, 0x0606_0606_0606_0603n), 0);
    assert.equal(get(v, 0x250), 0x0606_0606_0606_0606n);
  });

  it('variable ranges: base type and no bits 8-11 or above MAXPHYADDR; mask bits 0-10 reserved', () => {
    const v = vcpu();
    assert.equal(set(v, MSR_MTRRphysBase0, 0x8000_0000n | 6n), 1);
    assert.equal(set(v, MSR_MTRRphysBase0 + 1, 0xffff_8000_0800n), 1);
    assert.equal(set(v, MSR_MTRRphysBase0, 0x8000_0100n), 0, 'bit 8 of a base');
    assert.equal(set(v, MSR_MTRRphysBase0 + 1, 0x1_0000_0000_0800n), 0, 'above MAXPHYADDR 48');
    assert.equal(set(v, MSR_MTRRphysBase0 + 1, 0xffff_8000_0001n), 0, 'bit 0 of a mask');
    assert.equal(set(v, MSR_MTRRphysBase0 + 15, 0xfff_0000_0800n), 1, 'the eighth mask');
    assert.equal(set(v, MSR_MTRRphysBase0 + 16, 0n), 0, 'no ninth range');
  });
});
