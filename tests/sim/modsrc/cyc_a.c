#include "kmod.h"
MODULE(MODULE_CLASS_MISC, cyc_a, "cyc_b");
PLAIN_MODCMD(cyc_a)
