/**
 * `sevbox inspect SCENARIO --gpa G`: run a scenario and show guest memory at G once it ended, in
 * both views an SEV-ES guest's memory has: the host's (what KVM, its bounce copies, the GHCB map
 * and the VMM read: ciphertext where the guest wrote privately) and the guest's private view,
 * decrypted with the key the model knows. That second view is a debug view no real host has; it is
 * labelled as such wherever it is printed.
 */
import { runScenario } from '../scenario/run.js';
import type { ProfileName, Scenario } from '../scenario/schema.js';

/** Guest memory at one address, as the host and (SEV-ES) as the guest reads it privately. */
export interface PageViews {
  readonly gpa: number;
  readonly profile: ProfileName;
  /** What the host reads. */
  readonly host: Uint8Array;
  /** The debug view: what a private (C-bit) read by the guest returns; undefined for an unprotected VM. */
  readonly private: Uint8Array | undefined;
  /** Why there is no view at all (the address is not RAM, the machine could not be built). */
  readonly error?: string;
}

/** Run `s` and read `len` bytes at `gpa` in both views at its end. */
export function inspectScenarioMemory(
  s: Scenario,
  gpa: number,
  len: number,
  profile: ProfileName = s.profile,
): PageViews {
  let views: PageViews | undefined;
  const report = runScenario(s, {
    profile,
    atEnd: (vmm) => {
      const host = new Uint8Array(len);
      const e = vmm.readGpa(gpa, host);
      if (e) {
        views = { gpa, profile, host, private: undefined, error: `${e.errno}: ${e.message}` };
        return;
      }
      // No private view of an unprotected VM (nor where the debug view cannot be had).
      const priv = new Uint8Array(len);
      const readable = vmm.config.sev && !vmm.readGpaPrivate(gpa, priv);
      views = { gpa, profile, host, private: readable ? priv : undefined };
    },
  });
  return (
    views ?? {
      gpa,
      profile,
      host: new Uint8Array(),
      private: undefined,
      error: `the machine did not run: ${report.checks.find((c) => !c.ok)?.message ?? 'unknown'}`,
    }
  );
}

/** A hex dump, 16 bytes a line, addresses from `gpa`. */
function hexDump(gpa: number, bytes: Uint8Array): string[] {
  const lines: string[] = [];
  for (let at = 0; at < bytes.length; at += 16) {
    const row = [...bytes.subarray(at, at + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    lines.push(`  ${(gpa + at).toString(16).padStart(9, '0')}  ${row}`);
  }
  return lines;
}

/** The two views as text. */
export function formatPageViews(v: PageViews): string[] {
  const at = `0x${v.gpa.toString(16)}`;
  if (v.error) return [`${at} [${v.profile}]: ${v.error}`];
  const out = [`host view of ${at} [${v.profile}] (what KVM and the VMM read):`, ...hexDump(v.gpa, v.host)];
  if (!v.private) return [...out, 'no private view: the VM is not an SEV-ES guest'];
  const same = v.private.every((b, i) => b === v.host[i]);
  return [
    ...out,
    `guest's private view of ${at} (DEBUG: decrypted with the model's key, which no real host has):`,
    ...hexDump(v.gpa, v.private),
    same
      ? 'the views agree: these bytes hold no ciphertext of the guest key'
      : 'the views differ: the guest wrote these bytes privately, the host sees ciphertext (or the guest reads host-written plaintext as noise)',
  ];
}
