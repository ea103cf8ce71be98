/**
 * The `sevbox` command as a user runs it: a child process per command, checking output and exit
 * status (0 ok, 1 an expectation failed, 2 bad input).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'sevbox.js');
const DIR = mkdtempSync(join(tmpdir(), 'sevbox-cli-'));

function sevbox(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function file(name: string, text: string | Uint8Array): string {
  const path = join(DIR, name);
  writeFileSync(path, text);
  return path;
}

describe('sevbox run', () => {
  it('runs a scenario, prints one line per VMGEXIT, exits 0 when every expectation holds', () => {
    const r = sevbox('run', 'examples/demo/4-bounce-buffer-enomem.yaml');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /#0 step 0 SVM_VMGEXIT_MMIO_READ: KVM_RUN failed \(ENOMEM\)/);
    assert.match(r.stdout, /^PASS$/m);
  });
  it('--profile prefix overrides the scenario: ENOMEM becomes a reflected error, the expectation fails, exit 1', () => {
    const r = sevbox('run', 'examples/demo/4-bounce-buffer-enomem.yaml', '--profile', 'prefix');
    assert.equal(r.status, 1);
    assert.match(r.stdout, /reflected \(INVALID_SCRATCH_AREA\)/);
    assert.match(r.stdout, /^FAIL$/m);
  });
  it('--json prints one object per scenario', () => {
    const r = sevbox('run', '--json', 'examples/cpuid.yaml', 'examples/demo/3-invalid-scratch.yaml');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ok: boolean; file: string });
    assert.equal(lines.length, 2);
    assert.deepEqual(
      lines.map((l) => [l.file, l.ok]),
      [
        ['examples/cpuid.yaml', true],
        ['examples/demo/3-invalid-scratch.yaml', true],
      ],
    );
  });
  it('a malformed scenario is a clear error naming file and path, exit 2', () => {
    const bad = file(
      'bad.yaml',
      'name: broken\nguest:\n  steps:\n    - mmio-read: { gpa: 0xfed00000, len: four }\n',
    );
    const r = sevbox('run', bad);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad\.yaml/);
    assert.match(r.stderr, /guest\.steps\[0\]\.mmio-read\.len/);
    assert.equal(r.stdout, '');
  });
  it('a scenario whose expectation fails exits 1 and says what differed', () => {
    const failing = file(
      'failing.yaml',
      'name: wrong expectation\nprofile: seed\nguest:\n  steps:\n    - cpuid: { fn: 0 }\n      expect: { eax: 99 }\n',
    );
    const r = sevbox('run', failing);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /✗ step 0 \(cpuid\): expected eax 0x63, got 0xd/);
    assert.match(r.stdout, /^FAIL$/m);
  });
  it('a missing file is bad input, exit 2', () => {
    const r = sevbox('run', join(DIR, 'nope.yaml'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /nope\.yaml/);
  });
  it('an unknown profile is rejected by the argument parser, exit 2', () => {
    const r = sevbox('run', 'examples/cpuid.yaml', '--profile', 'ancient');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /ancient/);
  });
});

describe('sevbox trace', () => {
  it('prints ftrace-like lines by default', () => {
    const r = sevbox('trace', 'examples/demo/2-scratch-outside-ghcb.yaml');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /kvm_vmgexit_enter: vcpu 0, exit_reason 80000001 ext_info1 fed00000 ext_info2 4/);
    assert.match(r.stdout, /sevbox_scratch: vcpu 0, gpa 4000, len 4, bounce/);
  });
  it('a GHCB left private: after what KVM read (ciphertext), the debug view of what the guest meant', () => {
    const r = sevbox('trace', 'examples/machine-code/ghcb-left-private.yaml');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) => l.includes('sevbox_debug_private_ghcb'));
    assert.ok(at > 0 && lines[at - 1]!.includes('kvm_vmgexit_enter'), r.stdout);
    assert.match(
      lines[at]!,
      /DEBUG \(the model's key\): the guest wrote its GHCB at 3000 privately, meaning exit_reason 7b ext_info1 800010 ext_info2 0/,
    );
    assert.doesNotMatch(lines[at - 1]!, /exit_reason 7b /, 'KVM read ciphertext');
    // A scripted guest's shared GHCB: no debug line.
    assert.doesNotMatch(
      sevbox('trace', 'examples/demo/2-scratch-outside-ghcb.yaml').stdout,
      /sevbox_debug_private_ghcb/,
    );
  });
  it('--format jsonl prints one JSON object per event', () => {
    const r = sevbox('trace', 'examples/demo/2-scratch-outside-ghcb.yaml', '--format', 'jsonl');
    assert.equal(r.status, 0, r.stderr);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; exitCode?: string });
    const enter = events.find((e) => e.name === 'kvm_vmgexit_enter');
    assert.equal(enter?.exitCode, '0x80000001');
  });
});

describe('sevbox validate', () => {
  it('accepts good files with one ok line each, exit 0', () => {
    const r = sevbox('validate', 'examples/cpuid.yaml', 'examples/mmio.yaml');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^ok examples\/cpuid\.yaml: \S/);
    assert.match(lines[1]!, /^ok examples\/mmio\.yaml: \S/);
  });
  it('rejects an unknown step verb, exit 2', () => {
    const bad = file('verb.yaml', 'name: x\nguest:\n  steps:\n    - frobnicate: {}\n');
    const r = sevbox('validate', bad);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /guest\.steps\[0\]/);
  });
});

describe('sevbox inspect', () => {
  it("decodes a GHCB page and gives each profile's verdict", () => {
    const page = new Uint8Array(4096);
    const dv = new DataView(page.buffer);
    const set = (off: number, v: bigint): void => {
      dv.setBigUint64(off, v, true);
      page[0x3f0 + (off >> 6)]! |= 1 << ((off >> 3) & 7);
    };
    set(0x390, 0x80000001n);
    set(0x398, 0xfed00000n);
    set(0x3a0, 4n);
    set(0x3a8, 0x2000_0000n); // no memslot
    const r = sevbox('inspect', file('ghcb.bin', page));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /SVM_VMGEXIT_MMIO_READ/);
    assert.match(r.stdout, /prefix \(GHCB v1\)\s+reflected: GHCB_ERR_INVALID_SCRATCH_AREA/);
    assert.match(r.stdout, /seed \(GHCB v1\)\s+KVM_RUN fails: EFAULT/);
    assert.match(r.stdout, /current \(GHCB v2\)\s+reflected: GHCB_ERR_INVALID_SCRATCH_AREA/);
  });
  it('a scenario with --gpa: the host view and the labelled debug view of the guest’s private bytes', () => {
    const scenario = 'examples/machine-code/ghcb-left-private.yaml';
    const r = sevbox('inspect', scenario, '--gpa', '0x2008', '--len', '4');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /host view of 0x2008 \[current\]/);
    assert.match(r.stdout, /private view of 0x2008 \(DEBUG: decrypted with the model's key/);
    assert.match(r.stdout, /000002008 {2}7b 00 00 00\n/, 'the guest stored SVM_EXIT_IOIO privately');
    assert.match(r.stdout, /the views differ/);
    const json = JSON.parse(sevbox('inspect', scenario, '--gpa', '0x3398', '--len', '8', '--json').stdout);
    assert.equal(json.host, '0200000000000000', 'KVM wrote its answer in plaintext');
    assert.notEqual(json.private, json.host);
    assert.equal(sevbox('inspect', scenario).status, 2, 'a scenario needs --gpa');
  });

  it('a file that is not 4096 bytes is bad input, exit 2', () => {
    const r = sevbox('inspect', file('short.bin', new Uint8Array(100)));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /4096/);
  });
});

describe('sevbox demo and --help', () => {
  it('demo tells the story under prefix and seed', () => {
    const r = sevbox('demo');
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /bounce buffer allocation fails\s+reflected INVALID_SCRATCH_AREA\s+KVM_RUN failed: ENOMEM/,
    );
    assert.match(r.stdout, /Kernel bytes leaked: 0/);
  });
  it('hostkvm describes a missing device honestly, exit 0', () => {
    const r = sevbox('hostkvm', '--device', join(DIR, 'no-kvm'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /oracle:\s+unavailable/);
  });
  for (const cmd of ['run', 'trace', 'validate', 'inspect', 'hostkvm', 'demo']) {
    it(`${cmd} --help shows an example, exit 0`, () => {
      const r = sevbox(cmd, '--help');
      assert.equal(r.status, 0);
      assert.match(r.stdout, /Example:\n {2}\$ sevbox /);
    });
  }
  it('an unknown command exits 2', () => {
    assert.equal(sevbox('frobnicate').status, 2);
  });
});

describe('sevbox x86-coverage', () => {
  it('counts implemented and missing instructions by mnemonic; --json for machines', () => {
    // mov eax, 1 ; add rax, rbx ; fbld [rax] ; fbld [rcx] ; ret (BCD loads stay #UD)
    const code = file(
      'cov.bin',
      Uint8Array.from([0xb8, 1, 0, 0, 0, 0x48, 0x01, 0xd8, 0xdf, 0x20, 0xdf, 0x21, 0xc3]),
    );
    const text = sevbox('x86-coverage', '--bits', '64', code);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^5 instructions, 3 implemented \(60\.0%\), 2 would be #UD/);
    assert.match(text.stdout, /Fbld +2/);
    const json = sevbox('x86-coverage', '--bits', '64', '--json', code);
    const r = JSON.parse(json.stdout) as {
      total: number;
      implemented: number;
      missing: Record<string, number>;
    };
    assert.deepEqual([r.total, r.implemented, r.missing], [5, 3, { Fbld: 2 }]);
  });

  it('takes the executable segment out of an ELF image: the same counts as the flat image of it', () => {
    const build = join(import.meta.dirname, '../../examples/guests/build');
    const elf = sevbox('x86-coverage', '--bits', '16', join(build, 'real-mode.elf'));
    const bin = sevbox('x86-coverage', '--bits', '16', join(build, 'real-mode.bin'));
    assert.equal(elf.status, 0, elf.stderr);
    assert.match(elf.stdout, /^\d+ instructions, \d+ implemented/);
    assert.equal(elf.stdout, bin.stdout);
  });

  it('an unreadable file is exit 2 naming it', () => {
    const r = sevbox('x86-coverage', join(DIR, 'missing.bin'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /missing\.bin/);
  });
});

describe('sevbox boot', () => {
  it('boot ovmf --until sec --json: the shipped firmware reaches SEC, the JSON names the milestone and the VMGEXITs; exit 0', () => {
    const r = sevbox('boot', 'ovmf', '--until', 'sec', '--max-runs', '600', '--json');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      stop: { kind: string; milestone?: string };
      milestones: { milestone: string }[];
      vmgexitsByType: Record<string, number>;
    };
    assert.deepEqual(j.stop, { kind: 'milestone', milestone: 'sec' });
    assert.equal(j.milestones[0]?.milestone, 'sec');
    assert.ok((j.vmgexitsByType['GHCB_MSR_CPUID_REQ'] ?? 0) > 0);
  });
  it('a budget too small for the milestone: the summary says so, exit 1', () => {
    const r = sevbox('boot', 'ovmf', '--until', 'pei', '--max-runs', '20');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^ {2}pei {2}not reached$/m);
    assert.match(r.stdout, /^stop: \{"kind":"limit"/m);
  });
  it('bad input is exit 2 with a message: something else to boot, a missing firmware file, a non-OVMF image', () => {
    assert.equal(sevbox('boot', 'seabios').status, 2);
    const missing = sevbox('boot', 'ovmf', '--firmware', join(DIR, 'nope.fd'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /cannot read firmware/);
    const junk = sevbox('boot', 'ovmf', '--firmware', file('junk.fd', new Uint8Array(0x10000)));
    assert.equal(junk.status, 2);
    assert.match(junk.stderr, /EINVAL: not an OVMF image/);
  });
});
