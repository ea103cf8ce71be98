/**
 * The permission maps as hardware reads them (msrpm.ts) and the Vmcb queries a CPU asks before an
 * IN/OUT or RDMSR/WRMSR: the MSRPM bit layout of svm_msrpm_bit_nr (arch/x86/kvm/svm/svm.h), the
 * IOPM's byte-per-port check of nested_svm_intercept_ioio (arch/x86/kvm/svm/nested.c), and the
 * IOIO_PROT / MSR_PROT intercept bits that switch the maps on.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INTERCEPT_IOIO_PROT, INTERCEPT_MSR_PROT } from './intercepts.js';
import { IOPM_SIZE, iopmTest, MSRPM_SIZE, msrpmSet, msrpmTest, svmMsrpmBitNr } from './msrpm.js';
import { Vmcb } from './vmcb.js';

describe('MSR permission map layout (svm_msrpm_bit_nr)', () => {
  it('puts two bits per MSR in three 2 KiB ranges at 0, 0xc0000000 and 0xc0010000', () => {
    assert.equal(MSRPM_SIZE, 0x2000);
    assert.equal(svmMsrpmBitNr(0), 0);
    assert.equal(svmMsrpmBitNr(0x1fff), 0x1fff * 2);
    assert.equal(svmMsrpmBitNr(0xc000_0000), 2048 * 8);
    assert.equal(svmMsrpmBitNr(0xc000_0080), 2048 * 8 + 0x80 * 2);
    assert.equal(svmMsrpmBitNr(0xc001_0130), 2 * 2048 * 8 + 0x130 * 2);
    assert.equal(svmMsrpmBitNr(0xc001_1fff), 3 * 2048 * 8 - 2);
  });

  it('has no bit for an MSR outside the ranges, which is always intercepted', () => {
    const msrpm = new Uint8Array(MSRPM_SIZE);
    for (const msr of [
      0x2000, 0x4000_0000, 0xbfff_ffff, 0xc000_2000, 0xc001_2000, 0xc002_0000, 0xffff_ffff,
    ]) {
      assert.equal(svmMsrpmBitNr(msr), -1, msr.toString(16));
      assert.equal(msrpmTest(msrpm, msr, false), true, msr.toString(16));
      assert.equal(msrpmTest(msrpm, msr, true), true, msr.toString(16));
      msrpmSet(msrpm, msr, false, false);
    }
    assert.ok(
      msrpm.every((b) => b === 0),
      'msrpmSet changes nothing for an MSR without a bit',
    );
  });

  it('keeps the read and the write intercept apart', () => {
    const msrpm = new Uint8Array(MSRPM_SIZE).fill(0xff);
    msrpmSet(msrpm, 0xc000_0081, false, false);
    assert.equal(msrpmTest(msrpm, 0xc000_0081, false), false);
    assert.equal(msrpmTest(msrpm, 0xc000_0081, true), true);
    assert.equal(msrpmTest(msrpm, 0xc000_0080, false), true, 'the neighbour keeps its bits');
    assert.equal(msrpmTest(msrpm, 0xc000_0082, false), true, 'the neighbour keeps its bits');
    msrpmSet(msrpm, 0xc000_0081, true, false);
    assert.equal(msrpmTest(msrpm, 0xc000_0081, true), false);
    msrpmSet(msrpm, 0xc000_0081, false, true);
    assert.equal(msrpmTest(msrpm, 0xc000_0081, false), true);
  });
});

describe('I/O permission map (one bit per port, every byte of an access checked)', () => {
  it('intercepts an access when any of its bytes is marked', () => {
    const iopm = new Uint8Array(IOPM_SIZE);
    iopm[0x3f9 >>> 3]! |= 1 << (0x3f9 & 7);
    assert.equal(iopmTest(iopm, 0x3f8, 1), false);
    assert.equal(iopmTest(iopm, 0x3f8, 2), true);
    assert.equal(iopmTest(iopm, 0x3f9, 1), true);
    assert.equal(iopmTest(iopm, 0x3f6, 4), true);
    assert.equal(iopmTest(iopm, 0x3fa, 4), false);
  });

  it('reads past port 0xffff for an access that runs over it (bits 0x10000-0x10002 of the 12 KiB map)', () => {
    const iopm = new Uint8Array(IOPM_SIZE);
    assert.equal(IOPM_SIZE, 0x3000);
    iopm[0x10002 >>> 3]! |= 1 << (0x10002 & 7);
    assert.equal(iopmTest(iopm, 0xffff, 1), false);
    assert.equal(iopmTest(iopm, 0xffff, 2), false);
    assert.equal(iopmTest(iopm, 0xffff, 4), true);
  });
});

describe('Vmcb.msrIntercepted / ioIntercepted: the maps count only under MSR_PROT / IOIO_PROT', () => {
  it('a fresh VMCB intercepts nothing', () => {
    const vmcb = new Vmcb();
    assert.equal(vmcb.msrIntercepted(0xc000_0080, false), false);
    assert.equal(vmcb.msrIntercepted(0x4000_0000, true), false, 'not even an MSR outside the map');
    assert.equal(vmcb.ioIntercepted(0x80, 1), false);
  });

  it('MSR_PROT consults the MSRPM', () => {
    const vmcb = new Vmcb();
    vmcb.setIntercept(INTERCEPT_MSR_PROT, true);
    assert.equal(vmcb.msrIntercepted(0xc000_0080, false), false, 'a clear bit passes through');
    assert.equal(vmcb.msrIntercepted(0x4000_0000, false), true, 'outside the map: always intercepted');
    msrpmSet(vmcb.msrpm, 0xc000_0080, true, true);
    assert.equal(vmcb.msrIntercepted(0xc000_0080, true), true);
    assert.equal(vmcb.msrIntercepted(0xc000_0080, false), false);
    vmcb.setIntercept(INTERCEPT_MSR_PROT, false);
    assert.equal(vmcb.msrIntercepted(0xc000_0080, true), false, 'without MSR_PROT the map is not read');
  });

  it('IOIO_PROT consults the IOPM', () => {
    const vmcb = new Vmcb();
    vmcb.iopm.fill(0xff);
    assert.equal(vmcb.ioIntercepted(0x80, 1), false, 'without IOIO_PROT the map is not read');
    vmcb.setIntercept(INTERCEPT_IOIO_PROT, true);
    assert.equal(vmcb.ioIntercepted(0x80, 1), true);
    vmcb.iopm.fill(0);
    assert.equal(vmcb.ioIntercepted(0x80, 1), false);
  });
});
