/* 64-bit division and big struct copies: calls the compiler makes into the kernel
 * (__udivdi3 on i386, __aeabi_uldivmod and __aeabi_memcpy on earmv7hf). */
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, arith, NULL);

struct arith_big {
	char	ab_bytes[512];
};

volatile uint64_t arith_n = 123456789012345ULL, arith_d = 77;
volatile int64_t arith_sn = -123456789012345LL;
struct arith_big arith_src = { { 'k', 'm', 'o', 'd' } };
struct arith_big arith_dst;

static int
arith_modcmd(modcmd_t cmd, void *arg)
{
	struct arith_big tmp;

	switch (cmd) {
	case MODULE_CMD_INIT:
		tmp = arith_src;
		arith_dst = tmp;
		printf("arith: %llu %llu %lld %lld %c%c%c%c\n",
		    (unsigned long long)(arith_n / arith_d),
		    (unsigned long long)(arith_n % arith_d),
		    (long long)(arith_sn / (int64_t)arith_d),
		    (long long)(arith_sn % (int64_t)arith_d),
		    arith_dst.ab_bytes[0], arith_dst.ab_bytes[1],
		    arith_dst.ab_bytes[2], arith_dst.ab_bytes[3]);
		return 0;
	case MODULE_CMD_FINI:
		return 0;
	default:
		return ENOTTY;
	}
}
