/* tests/emulate/modsrc/formats.c - printf conversions through each calling convention. */
#include <sys/param.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, formats, NULL);

static int
formats_modcmd(modcmd_t cmd, void *arg)
{
	static const char word[] = "emu";
	long big = -1234567890L;
	long long huge = -1234567890123LL;
	size_t size = 4096;

	if (cmd != MODULE_CMD_INIT)
		return 0;
	printf("d=%d u=%u x=%x X=%X o=%o c=%c s=%s\n", -42, 42u, 0xbeefu, 0xbeefu, 8, 'k',
	    word);
	printf("w=[%5d] [%-5d] [%05d] [%.3d] [%8s] [%-8s] [%.2s]\n", 42, 42, 42, 7, word,
	    word, word);
	printf("ld=%ld lu=%lu lld=%lld llx=%llx zu=%zu\n", big, (unsigned long)big, huge,
	    (unsigned long long)huge, size);
	printf("p=%p null=%s pct=%% many=%d %d %d %d %d %d %d %d %d\n", (void *)0x1234,
	    (const char *)NULL, 1, 2, 3, 4, 5, 6, 7, 8, 9);
	printf("mixed=%d %lld %d %s %lld %c\n", 1, 0x100000002LL, 3, "four", -5LL, 'z');
	return 0;
}
