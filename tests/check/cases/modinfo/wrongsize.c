#include <sys/param.h>
#include <sys/errno.h>
#include <sys/module.h>
#include <sys/systm.h>

static const int wrongsize_entry __attribute__((__section__("link_set_modules"), __used__)) = 1;

int
wrongsize_hello(void)
{
	printf("hello\n");
	return wrongsize_entry;
}
