#include "kmod.h"
MODULE(MODULE_CLASS_MISC, nearby, NULL);
/* built for the next patch level of the kernel version (MODVERSION set by the test) */
PLAIN_MODCMD(nearby)
