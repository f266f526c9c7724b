/* tests/emulate/modsrc/edges.c - the kernel's C library at its edges, where the
 * emulator's hooks differed from NetBSD's (an audit comparing them):
 * strings over 4 KiB, a NULL snprintf buffer, kmem_strfree(NULL), a memchr bounded
 * far past its buffer, a copyin from a bad address, %n. */
#include <sys/param.h>
#include <sys/errno.h>
#include <sys/kmem.h>
#include <sys/module.h>
#include <sys/systm.h>

MODULE(MODULE_CLASS_MISC, edges, NULL);

static int
edges_modcmd(modcmd_t cmd, void *arg)
{
	char small[8], *big, *tail;
	const char *hit;
	int count = -1, r1, r2, r3;

	if (cmd != MODULE_CMD_INIT)
		return cmd == MODULE_CMD_FINI ? 0 : ENOTTY;
	big = kmem_alloc(5001, KM_SLEEP);
	memset(big, 'a', 5000);
	big[5000] = '\0';
	r1 = snprintf(NULL, 0, "%s", big);
	r2 = snprintf(NULL, 0, "%.4500s", big);
	r3 = snprintf(NULL, 8, "%s", "abc");
	printf("edges: lengths %d %d %d %zu\n", r1, r2, r3, strlen(big));
	kmem_free(big, 5001);

	tail = kmem_alloc(64, KM_SLEEP);
	memset(tail, 'x', 64);
	tail[40] = '\0';
	hit = memchr(tail + 32, '\0', 100000);	/* stops at tail + 40 */
	printf("edges: memchr %ld\n", (long)(hit - tail));
	kmem_free(tail, 64);

	kmem_strfree(NULL);
	printf("edges: copyin %d copyout %d\n", copyin(NULL, small, 4),
	    copyout(small, (void *)8, 4));
	printf("edges: ab%ncd", &count);
	printf(" %d\n", count);
	return 0;
}
