/* tests/emulate/modsrc/divide.c - INIT divides 64-bit numbers: on 32-bit ports the
 * compiler calls the kernel's helpers (__divdi3 and friends; ARM: __aeabi_ldivmod). */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, divide, NULL);

static volatile int64_t divide_a = -1000000000007LL, divide_b = 97;
static volatile uint64_t divide_u = 0xfedcba9876543210ULL, divide_v = 1000;

static int
divide_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		printf("divide: %lld %lld %llu %llu\n",
		    (long long)(divide_a / divide_b), (long long)(divide_a % divide_b),
		    (unsigned long long)(divide_u / divide_v),
		    (unsigned long long)(divide_u % divide_v));
	return 0;
}
