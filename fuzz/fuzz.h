#ifndef ZK_FUZZ_H
#define ZK_FUZZ_H

/*
 * Shared by the libFuzzer targets: the entry points libFuzzer calls, CHECK for an invariant the target asserts
 * (a broken one traps, and libFuzzer reports the input that broke it), and the initialisation most targets need.
 */
#include <stddef.h>
#include <stdint.h>

#include "lib/mem.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                                   \
	do {                                                                                                       \
		if (!(x))                                                                                          \
			__builtin_trap();                                                                          \
	} while (0)

/* Defines LLVMFuzzerInitialize for a target that needs only libsodium and the wiping allocator. */
#define ZK_FUZZ_INIT_MEM()                                                                                         \
	int LLVMFuzzerInitialize(int *argc, char ***argv)                                                          \
	{                                                                                                          \
		(void)argc;                                                                                        \
		(void)argv;                                                                                        \
		return zk_mem_init() == 0 ? 0 : -1;                                                                \
	}

#endif
