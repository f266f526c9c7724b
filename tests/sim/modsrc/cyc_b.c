#include "kmod.h"
MODULE(MODULE_CLASS_MISC, cyc_b, "cyc_a");
PLAIN_MODCMD(cyc_b)
