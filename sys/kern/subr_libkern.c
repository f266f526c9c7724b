/*	kmodbuild stub kernel: subr_libkern.c -- string and memory routines */

/*
 * NetBSD builds these from sys/lib/libkern.  The compiler may also emit
 * calls to memcpy/memset/memmove/memcmp for structure copies even with
 * -ffreestanding, so every module can rely on them being in the kernel.
 */

#include <sys/param.h>
#include <sys/systm.h>

void *
memcpy(void *dst, const void *src, size_t len)
{
	char *d = dst;
	const char *s = src;

	while (len-- > 0)
		*d++ = *s++;
	return dst;
}

void *
memmove(void *dst, const void *src, size_t len)
{
	char *d = dst;
	const char *s = src;

	if (d < s || d >= s + len)
		return memcpy(dst, src, len);
	while (len-- > 0)
		d[len] = s[len];
	return dst;
}

void *
memset(void *dst, int c, size_t len)
{
	unsigned char *d = dst;

	while (len-- > 0)
		*d++ = (unsigned char)c;
	return dst;
}

int
memcmp(const void *a, const void *b, size_t len)
{
	const unsigned char *p = a, *q = b;

	for (; len > 0; len--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

void *
memchr(const void *s, int c, size_t len)
{
	const unsigned char *p = s;

	for (; len > 0; len--, p++)
		if (*p == (unsigned char)c)
			return __UNCONST(p);
	return NULL;
}

size_t
strlen(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0')
		n++;
	return n;
}

size_t
strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n] != '\0')
		n++;
	return n;
}

int
strcmp(const char *a, const char *b)
{

	for (; *a == *b; a++, b++)
		if (*a == '\0')
			return 0;
	return *(const unsigned char *)a - *(const unsigned char *)b;
}

int
strncmp(const char *a, const char *b, size_t n)
{

	for (; n > 0; n--, a++, b++) {
		if (*a != *b)
			return *(const unsigned char *)a -
			    *(const unsigned char *)b;
		if (*a == '\0')
			break;
	}
	return 0;
}

int
strcasecmp(const char *a, const char *b)
{
	int ca, cb;

	do {
		ca = (unsigned char)*a++;
		cb = (unsigned char)*b++;
		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
	} while (ca == cb && ca != '\0');
	return ca - cb;
}

char *
strcpy(char *dst, const char *src)
{
	char *d = dst;

	while ((*d++ = *src++) != '\0')
		continue;
	return dst;
}

char *
strncpy(char *dst, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i < n && src[i] != '\0'; i++)
		dst[i] = src[i];
	for (; i < n; i++)
		dst[i] = '\0';
	return dst;
}

char *
strcat(char *dst, const char *src)
{

	strcpy(dst + strlen(dst), src);
	return dst;
}

size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

size_t
strlcat(char *dst, const char *src, size_t size)
{
	size_t dlen = strnlen(dst, size);

	if (dlen == size)
		return size + strlen(src);
	return dlen + strlcpy(dst + dlen, src, size - dlen);
}

char *
strchr(const char *s, int c)
{

	for (;; s++) {
		if (*s == (char)c)
			return __UNCONST(s);
		if (*s == '\0')
			return NULL;
	}
}

char *
strrchr(const char *s, int c)
{
	const char *last = NULL;

	for (;; s++) {
		if (*s == (char)c)
			last = s;
		if (*s == '\0')
			return __UNCONST(last);
	}
}

int
ffs(int mask)
{
	int bit;

	if (mask == 0)
		return 0;
	for (bit = 1; (mask & 1) == 0; bit++)
		mask = (int)((unsigned int)mask >> 1);
	return bit;
}
