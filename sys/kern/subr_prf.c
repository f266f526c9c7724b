/*	kmodbuild stub kernel: subr_prf.c -- console output and panic */

/*
 * A small printf(9) engine writing into a message buffer (msgbuf).
 * Number conversion avoids 64-bit division so 32-bit targets need no
 * compiler runtime (no __udivdi3 in a kernel without libgcc).
 */

#include <sys/param.h>
#include <sys/systm.h>

#define	MSGBUFSIZE	8192

extern char msgbuf[];		/* console output, oldest bytes overwritten */
extern u_int msgbufidx;		/* next byte to write (mod MSGBUFSIZE) */
void	cnputc(int);
int	kvprintf(const char *, void (*)(int, void *), void *, va_list);

char	msgbuf[MSGBUFSIZE];
u_int	msgbufidx;

void
cnputc(int c)
{

	msgbuf[msgbufidx++ % MSGBUFSIZE] = (char)c;
}

static void
putcons(int c, void *arg)
{

	cnputc(c);
}

struct snprintf_arg {
	char	*sa_buf;
	size_t	sa_size;
	size_t	sa_len;
};

static void
putbuf(int c, void *arg)
{
	struct snprintf_arg *sa = arg;

	if (sa->sa_len + 1 < sa->sa_size)
		sa->sa_buf[sa->sa_len] = (char)c;
	sa->sa_len++;
}

/* Divide N by BASE (<= 16) with shifts and subtractions only. */
static uint64_t
divrem(uint64_t n, u_int base, u_int *rem)
{
	uint64_t q = 0, r = 0;
	int i;

	for (i = 63; i >= 0; i--) {
		r = (r << 1) | ((n >> i) & 1);
		if (r >= base) {
			r -= base;
			q |= (uint64_t)1 << i;
		}
	}
	*rem = (u_int)r;
	return q;
}

int
kvprintf(const char *fmt, void (*put)(int, void *), void *arg, va_list ap)
{
	static const char digits[] = "0123456789abcdef";
	char nbuf[24];
	const char *s;
	uint64_t u;
	int n = 0, lflag, width, zero, neg, i, len;
	u_int base, rem;

	for (; *fmt != '\0'; fmt++) {
		if (*fmt != '%') {
			put(*fmt, arg), n++;
			continue;
		}
		lflag = width = zero = neg = 0;
		if (*++fmt == '0')
			zero = 1, fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		for (;; fmt++) {
			if (*fmt == 'l' || *fmt == 'j' || *fmt == 'q')
				lflag++;
			else if (*fmt == 'z' || *fmt == 't')
				lflag = sizeof(size_t) == 8 ? 2 : 0;
			else if (*fmt != 'h')
				break;
		}
		base = 10;
		switch (*fmt) {
		case 'c':
			put(va_arg(ap, int), arg), n++;
			continue;
		case 's':
			s = va_arg(ap, const char *);
			if (s == NULL)
				s = "(null)";
			for (len = 0; s[len] != '\0'; len++)
				continue;
			for (i = len; i < width; i++)
				put(' ', arg), n++;
			while (*s != '\0')
				put(*s++, arg), n++;
			continue;
		case 'd':
		case 'i':
			if (lflag >= 2)
				u = (uint64_t)va_arg(ap, long long);
			else if (lflag == 1)
				u = (uint64_t)va_arg(ap, long);
			else
				u = (uint64_t)va_arg(ap, int);
			if ((int64_t)u < 0)
				neg = 1, u = -u;
			break;
		case 'p':
			u = (uintptr_t)va_arg(ap, void *);
			base = 16;
			put('0', arg), put('x', arg), n += 2;
			break;
		case 'o':
		case 'u':
		case 'x':
		case 'X':
			base = *fmt == 'o' ? 8 : *fmt == 'u' ? 10 : 16;
			if (lflag >= 2)
				u = va_arg(ap, unsigned long long);
			else if (lflag == 1)
				u = va_arg(ap, unsigned long);
			else
				u = va_arg(ap, unsigned int);
			break;
		case '\0':
			return n;
		default:
			put(*fmt, arg), n++;
			continue;
		}
		len = 0;
		do {
			u = divrem(u, base, &rem);
			nbuf[len++] = digits[rem];
		} while (u != 0);
		for (i = len + neg; i < width; i++)
			put(zero ? '0' : ' ', arg), n++;
		if (neg)
			put('-', arg), n++;
		while (len > 0)
			put(nbuf[--len], arg), n++;
	}
	return n;
}

void
vprintf(const char *fmt, va_list ap)
{

	(void)kvprintf(fmt, putcons, NULL, ap);
}

void
printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

void
printf_nolog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

void
uprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

void
log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

int
vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct snprintf_arg sa = { buf, size, 0 };

	(void)kvprintf(fmt, putbuf, &sa, ap);
	if (size > 0)
		buf[sa.sa_len < size ? sa.sa_len : size - 1] = '\0';
	return (int)sa.sa_len;
}

int
snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

/* autoconf(9) output: the stub kernel always boots verbosely. */
#define	APRINT_BODY(prefix)						\
	va_list ap;							\
									\
	if ((prefix)[0] != '\0')					\
		printf("%s", (prefix));					\
	va_start(ap, fmt);						\
	vprintf(fmt, ap);						\
	va_end(ap)

void aprint_normal(const char *fmt, ...) { APRINT_BODY(""); }
void aprint_error(const char *fmt, ...) { APRINT_BODY(""); }
void aprint_naive(const char *fmt, ...) { APRINT_BODY(""); }
void aprint_verbose(const char *fmt, ...) { APRINT_BODY(""); }
void aprint_debug(const char *fmt, ...) { APRINT_BODY(""); }

void
vpanic(const char *fmt, va_list ap)
{

	if (panicstr == NULL)
		panicstr = fmt;
	printf("panic: ");
	vprintf(fmt, ap);
	printf("\n");
	for (;;)
		continue;
}

void
panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vpanic(fmt, ap);
	va_end(ap);
}

void
kern_assert(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vpanic(fmt, ap);
	va_end(ap);
}

void
tablefull(const char *tab, const char *hint)
{

	if (hint != NULL)
		log(LOG_ERR, "%s: table is full - %s\n", tab, hint);
	else
		log(LOG_ERR, "%s: table is full\n", tab);
}

void
delay(unsigned int us)
{
	volatile unsigned int i;

	for (i = 0; i < us; i++)
		continue;
}
