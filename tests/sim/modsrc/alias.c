#include "kmod.h"
MODULE(MODULE_CLASS_MISC, aliased, NULL);
PLAIN_MODCMD(aliased)
