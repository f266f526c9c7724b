/*	kmodbuild stub kernel: subr_xxx.c -- miscellaneous error stubs */

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/systm.h>

/* Unsupported device function (e.g. writing to read-only device). */
int
enodev(void)
{

	return ENODEV;
}

/* Unconfigured device function; driver not configured. */
int
enxio(void)
{

	return ENXIO;
}

/* Unsupported ioctl function. */
int
enoioctl(void)
{

	return ENOTTY;
}

/* Unsupported system function. */
int
enosys(void)
{

	return ENOSYS;
}

/* Unsupported operation. */
int
eopnotsupp(void)
{

	return EOPNOTSUPP;
}

/* Generic null operation, always returns success. */
int
nullop(void *v)
{

	return 0;
}

/* Generic null operation, void return value. */
void
voidop(void)
{
}
