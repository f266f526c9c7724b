/* tests/emulate/modsrc/divide32.c - INIT divides ints: ARM has no divide instruction
 * (armv7-a), the compiler calls the kernel's __aeabi_idiv, __aeabi_uidivmod... */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, divide32, NULL);

static volatile int divide32_c = -1007, divide32_d = 10;
static volatile unsigned int divide32_x = 4000000000U, divide32_y = 7;

static int
divide32_modcmd(modcmd_t cmd, void *arg)
{

	if (cmd == MODULE_CMD_INIT)
		printf("divide32: %d %d %u %u\n", divide32_c / divide32_d,
		    divide32_c % divide32_d, divide32_x / divide32_y, divide32_x % divide32_y);
	return 0;
}
