/*	kmodbuild stub kernel: subr_copy.c -- uiomove(9) and copyin/copyout */

/*
 * The stub kernel has a single address space, so user and kernel
 * addresses are the same and every copy is a plain memcpy.
 */

#include <sys/param.h>
#include <sys/errno.h>
#include <sys/systm.h>
#include <sys/uio.h>

int
uiomove(void *buf, size_t n, struct uio *uio)
{
	char *cp = buf;
	struct iovec *iov;
	size_t cnt;

	while (n > 0 && uio->uio_resid > 0) {
		if (uio->uio_iovcnt <= 0)
			return EINVAL;
		iov = uio->uio_iov;
		cnt = iov->iov_len;
		if (cnt == 0) {
			uio->uio_iov++;
			uio->uio_iovcnt--;
			continue;
		}
		if (cnt > n)
			cnt = n;
		if (uio->uio_rw == UIO_READ)
			memcpy(iov->iov_base, cp, cnt);
		else
			memcpy(cp, iov->iov_base, cnt);
		iov->iov_base = (char *)iov->iov_base + cnt;
		iov->iov_len -= cnt;
		uio->uio_resid -= cnt;
		uio->uio_offset += cnt;
		cp += cnt;
		n -= cnt;
	}
	return 0;
}

/* Give next character to user as result of read. */
int
uiomove_frombuf(void *buf, size_t buflen, struct uio *uio)
{
	size_t offset;

	if (uio->uio_offset < 0 || (uint64_t)uio->uio_offset >= buflen)
		return 0;
	offset = (size_t)uio->uio_offset;
	return uiomove((char *)buf + offset, buflen - offset, uio);
}

int
kcopy(const void *src, void *dst, size_t len)
{

	memcpy(dst, src, len);
	return 0;
}

int
copyin(const void *uaddr, void *kaddr, size_t len)
{

	return kcopy(uaddr, kaddr, len);
}

int
copyout(const void *kaddr, void *uaddr, size_t len)
{

	return kcopy(kaddr, uaddr, len);
}

int
copystr(const void *kfaddr, void *kdaddr, size_t len, size_t *done)
{
	const char *from = kfaddr;
	char *to = kdaddr;
	size_t i;

	for (i = 0; i < len; i++) {
		if ((to[i] = from[i]) == '\0') {
			if (done != NULL)
				*done = i + 1;
			return 0;
		}
	}
	if (done != NULL)
		*done = i;
	return ENAMETOOLONG;
}

int
copyinstr(const void *uaddr, void *kaddr, size_t len, size_t *done)
{

	return copystr(uaddr, kaddr, len, done);
}

int
copyoutstr(const void *kaddr, void *uaddr, size_t len, size_t *done)
{

	return copystr(kaddr, uaddr, len, done);
}
