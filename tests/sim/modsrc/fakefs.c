#include "kmod.h"
MODULE(MODULE_CLASS_MISC, fakefs, NULL);
PLAIN_MODCMD(fakefs)
