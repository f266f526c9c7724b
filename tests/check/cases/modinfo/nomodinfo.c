#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

int
nomodinfo_hello(void)
{
	printf("hello\n");
	return 0;
}
