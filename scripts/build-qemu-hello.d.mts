/** Types of scripts/build-qemu-hello.mjs, for the tests. */
export declare const QEMU_HELLO_SOURCE: string;
export declare const QEMU_HELLO_OUT: string;
export declare const QEMU_HELLO_SIZE: number;
/** The tools missing from PATH (empty: the firmware can be built). */
export declare function missingTools(): string[];
/** Build the image into `out`: its path, or undefined with the reason when a tool is missing. */
export declare function buildQemuHello(
  out?: string,
): { image: string; reason: undefined } | { image: undefined; reason: string };
