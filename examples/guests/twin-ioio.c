// SPDX-License-Identifier: MIT
/*
 * twin-ioio: the machine-code twin of examples/ioio.yaml (examples/machine-code/ioio.yaml runs it),
 * on lib/ and twin.h. Every step is an instruction whose #VC the handler turns into SVM_EXIT_IOIO:
 *
 *   step 0  print "hi ": OUT of each byte to COM1 (three VMGEXITs).
 *   step 1  io-out 0x21 to COM1: OUT.
 *   step 2  outs "\nok\n" to COM1, scratch in the GHCB: REP OUTSB of 4 bytes, the handler's scratch
 *           area the shared buffer.
 *   step 3  io-in from port 0x80 (no device: 0xff): IN.
 *   step 4  ins of two words from port 0x80, scratch in the GHCB: REP INSW. The scripted step puts
 *           its scratch area 0x10 bytes into the shared buffer, the handler at its start; KVM
 *           treats both alike.
 *
 * Then HLT: the run ends (guest-done). results (GPA 0x40000): the IN's byte and the INSW's words.
 */
#include "twin.h"

static struct {
	u8 in; /* 0x00: 0xff */
	u8 pad;
	u16 ins[2]; /* 0x02: 0xffff, 0xffff */
} results __section(".results") __used;

int main(void)
{
	static const char ok[] = "\nok\n";
	char line[sizeof(ok)];

	twin_setup_ghcb(1);
	outb('h', COM1);
	outb('i', COM1);
	outb(' ', COM1);
	outb('!', COM1);
	memcpy(line, ok, sizeof(ok)); /* a buffer in RAM */
	outsb(COM1, line, sizeof(ok) - 1);
	results.in = inb(0x80);
	insw(0x80, results.ins, 2);
	twin_done();
}
